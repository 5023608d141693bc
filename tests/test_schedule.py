"""The polling schedule: near the expected finish first, then follow progress, else back off."""

from __future__ import annotations

from imagine.engine.schedule import PollPolicy, expected_seconds, first_delay, next_delay

POLICY = PollPolicy()


def test_first_poll_without_history_is_early() -> None:
    assert first_delay(None) == POLICY.first_without_history


def test_first_poll_with_history_is_near_the_expected_finish() -> None:
    expected = expected_seconds([19.0, 20.0, 22.0])
    assert expected == 20.0
    assert first_delay(expected) == 16.0


def test_progress_predicts_the_finish() -> None:
    # 15 s in, 60 % done: 10 s more, plus the margin.
    assert next_delay(15.0, 60, None, 1) == 10.0 + POLICY.margin


def test_low_progress_closes_in_before_aiming() -> None:
    # 10 s in, 40 % done: 15 s more predicted, but whole-number progress this early is coarse.
    assert next_delay(10.0, 40, None, 1) == 15.0 * POLICY.approach


def test_without_progress_waits_for_the_expected_finish_then_backs_off() -> None:
    assert next_delay(10.0, None, 20.0, 1) == 10.0 + POLICY.margin
    late = [next_delay(25.0, None, 20.0, n) for n in (2, 3, 4)]
    assert late == sorted(late) and late[0] < late[-1]


def test_delays_are_bounded() -> None:
    assert next_delay(1.0, 5, None, 1) <= POLICY.maximum
    assert next_delay(100.0, 99.9, None, 1) >= POLICY.minimum
    assert next_delay(500.0, None, None, 40) == POLICY.maximum
