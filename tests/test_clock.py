"""Ledger times are strings that sort as times: fixed width, UTC, milliseconds, a Z."""

from __future__ import annotations

from imagine import clock


def test_iso_is_fixed_width_utc_with_milliseconds() -> None:
    assert clock.iso(0.0) == "1970-01-01T00:00:00.000Z"
    assert clock.iso(1795579111.9996) == "2026-11-25T03:58:31.999Z"  # truncated, never rounded up
    assert clock.iso(1795579111.0) == "2026-11-25T03:58:31.000Z"


def test_iso_round_trips_through_parse_and_sorts_as_time() -> None:
    times = [1795579111.25, 1795579111.5, 1795579112.0, 1895579112.125]
    stamps = [clock.iso(t) for t in times]
    assert sorted(stamps) == stamps
    assert {len(stamp) for stamp in stamps} == {24}
    assert [clock.parse(stamp) for stamp in stamps] == times
