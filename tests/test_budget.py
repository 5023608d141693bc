"""Budgets that cannot be overrun: daily and monthly caps held in the ledger across processes,
--max-cost for one command, bad caps refused before anything is sent."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from imagine.ledger import leases
from imagine.ledger.reserve import admit, spend_ticks
from imagine.ledger.store import Ledger
from imagine.lifecycle import EventKind, Status
from imagine.money import caps
from imagine.money.caps import Budget, Cap, Period
from tests.helpers import Cli, job_values, read_jobs, sim_stats, write_config, write_prompts

# The check: 10 two-second prompts at $0.05/s (the simulator's default price for
# grok-imagine-video at 480p) are $0.10 each; a daily cap of $0.30 lets exactly 3 through.
PROMPTS = [f"shot {n}: a paper boat on a canal" for n in range(1, 11)]


def _batch(cli: Cli, sim: Any, *args: str) -> Any:
    return cli.run(
        "batch",
        *args,
        "--base-url",
        sim.url,
        "--rps",
        "50",
        "-d",
        "2",
        env={"XAI_API_KEY": sim.api_key},
    )


def test_a_batch_crossing_the_daily_cap_renders_what_fits_and_refuses_the_rest(
    cli: Cli, sim: Any, project: Path, imagine_home: Path, each_ledger: str
) -> None:
    write_config(imagine_home, "[budget]\ndaily_usd = 0.30\n")
    result = _batch(cli, sim, str(write_prompts(project, PROMPTS)))
    assert result.exit_code == 5, result.stderr
    rows = read_jobs(imagine_home)
    statuses = [row["status"] for row in rows]
    assert statuses.count("complete") == 3 and statuses.count("blocked") == 7
    assert sim_stats(sim)["submissions"] == 3
    blocked = [row for row in rows if row["status"] == "blocked"]
    assert {(r["block_source"], r["block_reason"], r["block_rule"]) for r in blocked} == {
        ("local", "budget", "daily_usd")
    }
    assert all(row["request_id"] is None and row["reserved_usd"] is None for row in blocked)
    # The refusal says which cap, what is spent, what is left, and how to raise it.
    assert "daily budget $0.30 (daily_usd)" in result.stderr
    assert "$0.30 spent today" in result.stderr and "$0.00 left" in result.stderr
    assert "imagine config set budget.daily_usd N" in result.stderr
    # Every charge settled its reservation.
    done = [row for row in rows if row["status"] == "complete"]
    assert all(row["cost_ticks"] == 1_000_000_000 and row["reserved_usd"] is None for row in done)
    with Ledger.open() as ledger:
        events = [e.event for e in ledger.events(blocked[0]["id"])]
    assert events == [EventKind.CREATED, EventKind.BLOCKED_LOCALLY]


def test_the_next_run_the_same_day_sends_nothing(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    write_config(imagine_home, "[budget]\ndaily_usd = 0.30\n")
    assert _batch(cli, sim, str(write_prompts(project, PROMPTS[:3]))).exit_code == 0
    again = cli.run(
        "gen", "one more", "-d", "1", "--base-url", sim.url, env={"XAI_API_KEY": sim.api_key}
    )
    assert again.exit_code == 5
    assert sim_stats(sim)["submissions"] == 3


def test_a_project_cap_counts_only_the_project_s_jobs(
    cli: Cli, sim: Any, project: Path, imagine_home: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "imagine.toml").write_text("[budget]\ndaily_usd = 0.10\n")
    # $0.20 spent elsewhere does not count against the other project's own $0.10 …
    assert _batch(cli, sim, str(write_prompts(project, PROMPTS[:2]))).exit_code == 0
    first = cli.run(
        "gen", "x", "-d", "2", "--project", str(other), "--base-url", sim.url,
        env={"XAI_API_KEY": sim.api_key},
    )  # fmt: skip
    assert first.exit_code == 0, first.stderr
    # … and its second job would cross it.
    second = cli.run(
        "gen", "y", "-d", "2", "--project", str(other), "--base-url", sim.url,
        env={"XAI_API_KEY": sim.api_key},
    )  # fmt: skip
    assert second.exit_code == 5
    assert "this project's daily budget" in second.stderr
    assert "imagine config set --project budget.daily_usd N" in second.stderr
    assert read_jobs(imagine_home)[-1]["block_rule"] == "project daily_usd"
    assert sim_stats(sim)["submissions"] == 3


def test_a_monthly_cap(cli: Cli, sim: Any, project: Path, imagine_home: Path) -> None:
    write_config(imagine_home, "[budget]\nmonthly_usd = 0.2\ndaily_usd = 100\n")
    result = _batch(cli, sim, str(write_prompts(project, PROMPTS[:4])))
    assert result.exit_code == 5
    rows = read_jobs(imagine_home)
    assert [row["status"] for row in rows].count("complete") == 2
    assert {row["block_rule"] for row in rows if row["status"] == "blocked"} == {"monthly_usd"}
    assert "this month" in result.stderr


def _process(sim: Any, folder: Path, batch_file: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "imagine", "batch", str(batch_file), "--base-url", sim.url,
         "--rps", "50", "-d", "2", "-q"],
        cwd=folder,
        env={**os.environ, "XAI_API_KEY": sim.api_key},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.mark.slow
def test_four_processes_on_one_ledger_never_cross_the_cap_together(
    sim_factory: Any, project: Path, imagine_home: Path, each_ledger: str
) -> None:
    """Run on SQLite (one machine) and on PostgreSQL (the processes could be machines)."""
    sim = sim_factory(speed=20.0)
    write_config(imagine_home, "[budget]\ndaily_usd = 0.30\n")
    processes = []
    for n in range(4):
        folder = project / f"p{n}"
        folder.mkdir()
        prompts = [f"process {n} take {k}: gulls over a harbour" for k in range(10)]
        processes.append(_process(sim, folder, write_prompts(folder, prompts)))
    codes = [process.wait(timeout=120) for process in processes]
    assert all(code in (0, 5) for code in codes) and 5 in codes, codes
    stats = sim_stats(sim)
    assert stats["submissions"] == 3  # $0.30 at $0.10 a job, whoever sent them
    rows = read_jobs(imagine_home)
    assert sum(row["cost_ticks"] or 0 for row in rows) <= 3_000_000_000
    assert sum(row["status"] == "blocked" for row in rows) == 37


@pytest.mark.parametrize("bad", ["-5", "abc", "nan", "inf"])
def test_a_bad_max_cost_is_one_line_and_nothing_is_sent(
    cli: Cli, sim: Any, project: Path, imagine_home: Path, bad: str
) -> None:
    result = cli.gen(sim, "a fox", "-d", "1", "--max-cost", bad)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "--max-cost" in result.stderr
    assert sim_stats(sim)["submissions"] == 0 and read_jobs(imagine_home) == []


@pytest.mark.parametrize("bad", ["-5", '"abc"', "nan", "inf"])
@pytest.mark.parametrize("key", ["daily_usd", "monthly_usd"])
def test_a_bad_cap_in_the_config_is_one_line_and_nothing_is_sent(
    cli: Cli, sim: Any, project: Path, imagine_home: Path, bad: str, key: str
) -> None:
    write_config(imagine_home, f"[budget]\n{key} = {bad}\n")
    result = cli.gen(sim, "a fox", "-d", "1")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert f"budget.{key}" in result.stderr
    assert sim_stats(sim)["submissions"] == 0 and read_jobs(imagine_home) == []


def test_a_bad_cap_in_the_project_file_too(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    (project / "imagine.toml").write_text("[budget]\nmonthly_usd = -5\n")
    result = cli.gen(sim, "a fox", "-d", "1")
    assert result.exit_code == 2 and "imagine.toml" in result.stderr
    assert sim_stats(sim)["submissions"] == 0


def test_max_cost_caps_one_command_over_the_setting(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    write_config(imagine_home, "max_cost_usd = 0.01\n")
    refused = cli.gen(sim, "a fox", "-d", "2")
    assert refused.exit_code == 5 and "max_cost_usd" in refused.stderr
    allowed = cli.gen(sim, "a fox", "-d", "2", "--max-cost", "0.5")
    assert allowed.exit_code == 0, allowed.stderr
    lower = cli.gen(sim, "a hare", "-d", "2", "--max-cost", "0.05")
    assert lower.exit_code == 5
    assert sim_stats(sim)["submissions"] == 1


def test_config_set_writes_the_budget_table(cli: Cli, project: Path, imagine_home: Path) -> None:
    assert cli.run("config", "set", "budget.daily_usd", "2.5").exit_code == 0
    assert "[budget]" in (imagine_home / "config.toml").read_text()
    assert cli.run("config", "get", "budget.daily_usd").stdout.strip() == "2.5"
    bad = cli.run("config", "set", "budget.daily_usd", "inf")
    assert bad.exit_code == 2
    assert cli.run("config", "set", "budget.timezone", "Mars/Olympus").exit_code == 2


# -- the ledger's check-and-reserve, alone ----------------------------------------------------


def _queued(ledger: Ledger, estimate: float, **values: Any) -> str:
    job = ledger.insert(job_values(cost_estimate_usd=estimate, **values))
    return job.id


def test_a_reservation_is_held_while_sent_and_settled_when_the_charge_arrives(
    tmp_path: Path,
) -> None:
    with Ledger.open(tmp_path / "l.sqlite3") as ledger:
        daily = Budget((Cap(Period.DAY, 0.25),))
        first = _queued(ledger, 0.10)
        assert leases.try_start(ledger, first, "m", rps=100, cap=9, budget=daily).wait == 0
        assert ledger.require(first).reserved_usd == pytest.approx(0.10)
        # Reserved, not yet charged: a second $0.10 fits, a third would not.
        ledger.conn.execute("DELETE FROM pacing")
        second = _queued(ledger, 0.10, fingerprint="2" * 64)
        assert leases.try_start(ledger, second, "m", rps=100, cap=9, budget=daily).wait == 0
        ledger.conn.execute("DELETE FROM pacing")
        third = _queued(ledger, 0.10, fingerprint="3" * 64)
        start = leases.try_start(ledger, third, "m", rps=100, cap=9, budget=daily)
        assert start.refused is not None and ledger.require(third).status is Status.BLOCKED
        assert start.refused.reserved_usd == pytest.approx(0.20)
        # The charge of the first arrives lower than its estimate: the reservation is settled
        # to it, and the money freed lets the next job through.
        job = ledger.require(first)
        values = {"status": Status.RUNNING.value, "request_id": "r1"}
        job = ledger.move(job, EventKind.SUBMITTED, **values) or job
        charged = {"status": Status.DOWNLOADING.value, "cost_ticks": 200_000_000}
        ledger.move(job, EventKind.RENDERED, **charged, **caps.settled(charged))
        assert ledger.require(first).reserved_usd is None
        with ledger.transaction() as conn:
            window = daily.window(Period.DAY, __import__("time").time())
            assert spend_ticks(conn, *window) == (200_000_000, 1_000_000_000)
        ledger.conn.execute("DELETE FROM pacing")
        fourth = _queued(ledger, 0.03, fingerprint="4" * 64)
        assert leases.try_start(ledger, fourth, "m", rps=100, cap=9, budget=daily).wait == 0


@pytest.mark.parametrize(
    ("status", "kept"),
    [
        (Status.FAILED, False),
        (Status.EXPIRED, False),
        (Status.QUEUED, False),
        (Status.BLOCKED, True),
        (Status.UNKNOWN, True),
        (Status.CANCELED, True),
        (Status.COMPLETE, True),
    ],
)
def test_the_rule_for_jobs_whose_charge_never_arrives(status: Status, kept: bool) -> None:
    assert (caps.settled({"status": status.value}) == {}) is kept


def test_jobs_of_the_in_process_simulator_count_toward_nothing(tmp_path: Path) -> None:
    from imagine.ledger.reserve import FREE_BASE_URL
    from imagine.session import SIM_BASE_URL

    assert FREE_BASE_URL == SIM_BASE_URL
    with Ledger.open(tmp_path / "l.sqlite3") as ledger, ledger.transaction() as conn:
        job = _queued(ledger, 5.0, base_url=SIM_BASE_URL)
        refused, held = admit(conn, job, Budget((Cap(Period.DAY, 0.0),)), 0.0)
        assert refused is None and held["reserved_usd"] == 5.0


def test_days_and_months_follow_the_budget_s_time_zone() -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    tokyo = Budget(timezone="Asia/Tokyo")
    # 2026-11-30 20:00 UTC is already December 1st in Tokyo.
    moment = datetime(2026, 11, 30, 20, 0, tzinfo=ZoneInfo("UTC")).timestamp()
    start, end = tokyo.window(Period.DAY, moment)
    assert datetime.fromtimestamp(start, ZoneInfo("Asia/Tokyo")).isoformat() == (
        "2026-12-01T00:00:00+09:00"
    )
    assert end - start == 86400
    start, end = tokyo.window(Period.MONTH, moment)
    assert datetime.fromtimestamp(end, ZoneInfo("Asia/Tokyo")).isoformat() == (
        "2027-01-01T00:00:00+09:00"
    )
    # A day with a daylight-saving change is 23 hours long where it happens.
    paris = Budget(timezone="Europe/Paris")
    spring = datetime(2026, 3, 29, 12, 0, tzinfo=ZoneInfo("Europe/Paris")).timestamp()
    start, end = paris.window(Period.DAY, spring)
    assert end - start == 23 * 3600


def test_a_ledger_from_before_budgets_counts_its_sent_jobs(tmp_path: Path) -> None:
    from imagine.ledger.db import connect
    from imagine.ledger.migrations import MIGRATIONS, migrate

    path = tmp_path / "old.sqlite3"
    conn = connect(path)
    migrate(conn, [m for m in MIGRATIONS if m[0] != "009_budget"])
    conn.execute(
        "INSERT INTO jobs (id, status, mode, model, route, fingerprint, base_url, project_dir,"
        " output_path, created_at, updated_at, submitted_at, cost_ticks) VALUES ('old1',"
        " 'complete', 'text', 'm', '/r', 'fp', 'u', '/p', '/p/a.mp4', 't0', 't0', 't1', 5)"
    )
    conn.close()
    with Ledger.open(path):
        pass
    check = sqlite3.connect(path)
    assert check.execute("SELECT spent_at FROM jobs").fetchone() == ("t1",)


def test_a_script_above_confirm_above_usd_must_say_yes(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    write_config(imagine_home, "confirm_above_usd = 0.15\n")
    refused = cli.gen(sim, "a fox", "-d", "4")
    assert refused.exit_code == 5
    assert "confirm_above_usd" in refused.stderr and "--yes" in refused.stderr
    assert read_jobs(imagine_home) == [] and sim_stats(sim)["submissions"] == 0
    assert cli.gen(sim, "a fox", "-d", "4", "--yes").exit_code == 0
    assert cli.gen(sim, "a hare", "-d", "2").exit_code == 0  # $0.10: not worth asking


def test_a_command_bigger_than_what_is_left_is_warned_up_front(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    write_config(imagine_home, "[budget]\ndaily_usd = 0.15\n")
    result = _batch(cli, sim, str(write_prompts(project, PROMPTS[:3])))
    assert result.exit_code == 5
    assert "estimate $0.30 is more than the $0.15 left of daily_usd" in result.stderr
    assert sim_stats(sim)["submissions"] == 1


def test_an_unknown_job_keeps_its_reservation_and_a_failed_one_releases_it(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    write_config(imagine_home, "[budget]\ndaily_usd = 0.15\n")
    sim.configure(fail_rate=1.0)
    assert cli.gen(sim, "a fox that fails", "-d", "2").exit_code == 1
    assert read_jobs(imagine_home)[0]["reserved_usd"] is None  # released: nothing was made
    sim.configure(fail_rate=0.0, drop_rate=1.0)
    lost = cli.gen(sim, "a fox whose answer is lost", "-d", "2")
    assert lost.exit_code == 4
    assert read_jobs(imagine_home)[1]["status"] == "unknown"
    assert read_jobs(imagine_home)[1]["reserved_usd"] == pytest.approx(0.10)
    sim.configure(drop_rate=0.0)
    # It may have been accepted (and billed): its $0.10 still counts, so $0.10 more would not fit.
    refused = cli.gen(sim, "a third fox", "-d", "2")
    assert refused.exit_code == 5 and "$0.10 reserved" in refused.stderr
    assert sim_stats(sim)["submissions"] == 2


@pytest.mark.parametrize("command", ["gen", "batch"])
def test_a_bad_max_cost_on_any_render_command(
    cli: Cli, sim: Any, project: Path, imagine_home: Path, command: str
) -> None:
    target = "a fox" if command == "gen" else str(write_prompts(project, PROMPTS[:2]))
    result = cli.run(
        command, target, "--max-cost", "nan", "--base-url", sim.url,
        env={"XAI_API_KEY": sim.api_key},
    )  # fmt: skip
    assert result.exit_code == 2 and "--max-cost" in result.stderr
    assert sim_stats(sim)["submissions"] == 0 and read_jobs(imagine_home) == []


def test_a_job_refused_by_the_budget_is_sent_by_retry_once_the_cap_is_raised(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    write_config(imagine_home, "[budget]\ndaily_usd = 0.05\n")
    assert cli.gen(sim, "a fox", "-d", "2").exit_code == 5
    env = {"XAI_API_KEY": sim.api_key}
    capped = cli.run("retry", "@1", "--max-cost", "0.01", env=env)
    assert capped.exit_code == 5 and "max_cost_usd" in capped.stderr
    assert cli.run("config", "set", "budget.daily_usd", "1").exit_code == 0
    retried = cli.run("retry", "@1", env=env)
    assert retried.exit_code == 0, retried.stderr
    assert [row["status"] for row in read_jobs(imagine_home)] == ["blocked", "complete"]
    assert sim_stats(sim)["submissions"] == 1
