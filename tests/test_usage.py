"""`imagine usage`: figures recomputed here with SQL of our own agree with it to the cent."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from imagine import clock, ids
from imagine.ledger.store import Ledger
from tests.helpers import Cli, job_values, write_config

ZONE = "Asia/Tokyo"  # not the machine's: days must follow the budget's calendar
TICKS = 10_000_000_000


def _setup(home: Path, extra: str = "") -> None:
    write_config(home, f'[budget]\ntimezone = "{ZONE}"\ndaily_usd = 5\n{extra}')


def _iso_local(day: date, hour: int = 0) -> str:
    moment = datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(ZONE))
    return clock.iso(moment.timestamp())


def _today() -> date:
    return datetime.now(ZoneInfo(ZONE)).date()


def _job(ledger: Ledger, spent_at: str | None, status: str, **values: Any) -> None:
    """A job as the engine leaves it, with spent_at set as a submission sets it."""
    job = ledger.insert(job_values(id=ids.new_id(), fingerprint=ids.new_id(), **values))
    ledger.conn.execute(
        "UPDATE jobs SET status = ?, spent_at = ? WHERE id = ?", (status, spent_at, job.id)
    )


def _ledger_with_history(home: Path) -> None:
    today = _today()
    with Ledger.open() as ledger:
        # Charged today, at two models and resolutions, in two projects, one from a template.
        _job(ledger, _iso_local(today, 1), status="complete", cost_ticks=3 * TICKS // 10)
        _job(
            ledger, _iso_local(today, 2), status="complete", cost_ticks=1_234_567_891,
            model="grok-imagine-video-1.5", resolution="720p", project_dir="/tmp/q",
            template_name="teaser", template_version=3,
        )  # fmt: skip
        # Yesterday, at 23:00 Tokyo time (14:00 UTC: "today" in UTC for part of the world).
        _job(ledger, _iso_local(today - timedelta(days=1), 23), status="complete",
             cost_ticks=5 * TICKS // 100, resolution="480p")  # fmt: skip
        # Sent and not charged: reserved, shown apart.
        _job(ledger, _iso_local(today, 3), status="running", reserved_usd=0.2,
             cost_estimate_usd=0.2)  # fmt: skip
        _job(ledger, _iso_local(today, 3), status="blocked", reserved_usd=0.1,
             block_source="provider", block_reason="moderation")  # fmt: skip
        # Queued (an estimate only), 40 days ago (outside the default window), and --sim (free).
        _job(ledger, None, status="queued", cost_estimate_usd=0.4)
        _job(ledger, _iso_local(today - timedelta(days=40), 12), status="complete",
             cost_ticks=7 * TICKS)  # fmt: skip
        _job(ledger, _iso_local(today, 4), status="complete", cost_ticks=TICKS,
             base_url="sim:in-process")  # fmt: skip


def _sql(home: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(home / "ledger.sqlite3")
    try:
        return list(conn.execute(sql, args))
    finally:
        conn.close()


def _cents(usd: float) -> int:
    return round(usd * 100)


def test_usage_json_agrees_with_the_ledger_to_the_cent(
    cli: Cli, project: Path, imagine_home: Path
) -> None:
    _setup(imagine_home)
    _ledger_with_history(imagine_home)
    result = cli.run("usage", "--json")
    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout)
    assert set(found) == {
        "timezone", "since", "until", "by", "charged_usd", "charged_ticks", "jobs_charged",
        "reserved_usd", "queued_estimate_usd", "today", "month", "budgets", "groups",
    }  # fmt: skip
    assert found["timezone"] == ZONE and found["by"] == "day"
    today = _today()
    start = _iso_local(today - timedelta(days=29))
    end = _iso_local(today + timedelta(days=1))
    ((charged, count),) = _sql(
        imagine_home,
        "SELECT SUM(cost_ticks), COUNT(cost_ticks) FROM jobs WHERE spent_at >= ? AND spent_at < ?"
        " AND base_url != 'sim:in-process'",
        start,
        end,
    )
    assert found["charged_ticks"] == charged and found["jobs_charged"] == count == 3
    assert _cents(found["charged_usd"]) == _cents(charged / TICKS)
    # Reservations and queued estimates are apart, never in the total.
    assert _cents(found["reserved_usd"]) == 30
    assert _cents(found["queued_estimate_usd"]) == 40
    assert found["since"] == (today - timedelta(days=29)).isoformat()
    assert len(found["groups"]) == 30
    by_day = {group["key"]: group for group in found["groups"]}
    for day in (today, today - timedelta(days=1)):
        ((ticks,),) = _sql(
            imagine_home,
            "SELECT COALESCE(SUM(cost_ticks), 0) FROM jobs WHERE spent_at >= ? AND spent_at < ?"
            " AND base_url != 'sim:in-process'",
            _iso_local(day),
            _iso_local(day + timedelta(days=1)),
        )
        assert by_day[day.isoformat()]["charged_ticks"] == ticks
    assert _cents(found["today"]["charged_usd"]) == _cents(0.3 + 0.1234567891)
    # The daily budget: $5 less what was charged and reserved today.
    (daily,) = found["budgets"]
    assert daily["rule"] == "daily_usd" and _cents(daily["left_usd"]) == _cents(
        5 - 0.3 - 0.1234567891 - 0.3
    )


@pytest.mark.parametrize(
    ("by", "key"),
    [
        ("model", "model || ' ' || COALESCE(resolution, '-')"),
        ("project", "project_dir"),
        ("template", "COALESCE(template_name || ' v' || template_version, '-')"),
    ],
)
def test_breakdowns_agree_with_the_ledger(
    cli: Cli, project: Path, imagine_home: Path, by: str, key: str
) -> None:
    _setup(imagine_home)
    _ledger_with_history(imagine_home)
    result = cli.run("usage", "--json", "--by", by, "--since", "60d")
    assert result.exit_code == 0, result.stderr
    groups = {g["key"]: g["charged_ticks"] for g in json.loads(result.stdout)["groups"]}
    expected = dict(
        _sql(
            imagine_home,
            f"SELECT {key}, COALESCE(SUM(cost_ticks), 0) FROM jobs WHERE spent_at IS NOT NULL"
            " AND base_url != 'sim:in-process' GROUP BY 1",
        )
    )
    assert groups == expected
    if by == "template":
        assert set(groups) == {"-", "teaser v3"}  # versions apart, for an A/B


def test_since_a_date_and_bad_since(cli: Cli, project: Path, imagine_home: Path) -> None:
    _setup(imagine_home)
    _ledger_with_history(imagine_home)
    old = _today() - timedelta(days=45)
    result = cli.run("usage", "--json", "--since", old.isoformat())
    found = json.loads(result.stdout)
    assert found["charged_ticks"] == 3 * TICKS // 10 + 1_234_567_891 + 5 * TICKS // 100 + 7 * TICKS
    for bad in ("abc", "0d", "2026-13-01"):
        refused = cli.run("usage", "--since", bad)
        assert refused.exit_code == 2 and "--since" in refused.stderr
    assert cli.run("usage", "--by", "colour").exit_code == 2


def test_the_terminal_view_has_a_bar_chart_and_the_allowance(
    cli: Cli, project: Path, imagine_home: Path
) -> None:
    _setup(imagine_home)
    _ledger_with_history(imagine_home)
    result = cli.run("usage")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    today = next(line for line in lines if line.startswith(_today().isoformat()))
    assert "█" * 40 in today and "$0.42" in today and "+$0.30 reserved" in today
    assert "budget daily_usd (user): $5.00, $4.28 left today" in result.stdout
    models = cli.run("usage", "--by", "model")
    assert "grok-imagine-video-1.5 720p" in models.stdout


def test_usage_of_real_renders_and_a_refusal(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    """End to end: what the simulator charged is what usage reports; blocked jobs cost nothing."""
    _setup(imagine_home, "")
    (imagine_home / "config.toml").write_text('[budget]\ndaily_usd = 0.25\ntimezone = "UTC"\n')
    env = {"XAI_API_KEY": sim.api_key}
    for prompt in ("a heron", "a crane", "a stork"):
        cli.run("gen", prompt, "-d", "2", "--base-url", sim.url, env=env)
    found = json.loads(cli.run("usage", "--json").stdout)
    assert found["charged_ticks"] == 2 * TICKS // 10 and found["jobs_charged"] == 2
    assert found["reserved_usd"] == 0
    (daily,) = found["budgets"]
    assert _cents(daily["left_usd"]) == 5
    stamp = datetime.now(UTC).date().isoformat()
    assert {g["key"]: g["jobs"] for g in found["groups"]}[stamp] == 2
