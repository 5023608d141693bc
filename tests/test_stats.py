"""`imagine stats`: every figure of --json recomputed here, with our own Python over the ledger's
rows, for a ledger made by real runs through the simulator plus rows for the edge cases."""

from __future__ import annotations

import json
import math
import multiprocessing
import random
import sqlite3
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from imagine import clock
from imagine.ledger import db, summary
from imagine.ledger.migrations import MIGRATIONS, migrate
from imagine.ledger.store import Ledger
from imagine.lifecycle import BlockReason, BlockSource, EventKind, Status
from tests.helpers import Cli, failed_renders, job_values, sim_stats

TICKS_PER_USD = 10_000_000_000
RUNNING = ("queued", "submitting", "running", "downloading")


def _at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _nearest_rank(values: list[float], percent: int) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(percent / 100 * len(ordered)) - 1]


def _spread(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "p50": None, "p90": None, "p95": None, "max": None, "mean": None}
    return {
        "count": len(values),
        "p50": _nearest_rank(values, 50),
        "p90": _nearest_rank(values, 90),
        "p95": _nearest_rank(values, 95),
        "max": max(values),
        "mean": sum(values) / len(values),
    }


def _outcome(row: sqlite3.Row) -> str:
    if row["status"] == "blocked":
        return "blocked_local" if row["block_source"] == "local" else "blocked_provider"
    return "live" if row["status"] in RUNNING else str(row["status"])


def _group(rows: list[sqlite3.Row], key: str | None) -> dict[str, Any]:
    """One group of `stats --json`, computed from the rows alone."""
    outcomes = Counter(_outcome(row) for row in rows)
    finished = len(rows) - outcomes["live"]
    done = [r for r in rows if r["status"] == "complete"]

    def span(start: str, end: str) -> list[float]:
        return [_at(r[end]) - _at(r[start]) for r in done if r[start] and r[end]]

    settled = [r for r in rows if r["submitted_at"] and r["status"] not in RUNNING]
    lagged = [r for r in rows if r["completed_at"] and r["last_pending_at"]]
    paid = [r for r in rows if r["status"] == "complete" and r["cost_ticks"] is not None]
    paid_usd = sum(r["cost_ticks"] for r in paid) / TICKS_PER_USD
    seconds = sum(r["video_duration"] or 0 for r in paid)
    names = ("complete", "failed", "expired", "blocked_provider", "blocked_local", "canceled")
    return {
        "key": key,
        "jobs": len(rows),
        "outcomes": {name: outcomes[name] for name in (*names, "unknown", "live")},
        "rates": {
            name: outcomes[name] / finished if finished else None for name in (*names, "unknown")
        },
        "latency_s": {
            "queued": _spread(span("created_at", "submitted_at")),
            "rendering": _spread(span("submitted_at", "completed_at")),
            "downloading": _spread(span("completed_at", "downloaded_at")),
            "total": _spread(span("created_at", "downloaded_at")),
        },
        "cost": {
            "charged_usd": sum(r["cost_ticks"] or 0 for r in rows) / TICKS_PER_USD,
            "renders": len(paid),
            "per_render_usd": paid_usd / len(paid) if paid else None,
            "per_output_second_usd": paid_usd / seconds if seconds else None,
        },
        "polls": _spread([float(r["poll_count"]) for r in settled]),
        "detection_lag_s": _spread(
            [(_at(r["completed_at"]) - _at(r["last_pending_at"])) / 2 for r in lagged]
        ),
    }


def _close(found: Any, expected: Any, where: str = "") -> None:
    """Equal, numbers to the rounding --json applies (3 decimals; 4 for money and rates)."""
    if isinstance(expected, dict):
        assert set(found) == set(expected), where
        for name in expected:
            _close(found[name], expected[name], f"{where}.{name}")
    elif isinstance(expected, float) and found is not None:
        assert found == pytest.approx(expected, abs=0.0011), where
    else:
        assert found == expected, where


def _rows(home: Path, since: str | None = None) -> list[sqlite3.Row]:
    conn = sqlite3.connect(home / "ledger.sqlite3")
    conn.row_factory = sqlite3.Row
    try:
        rows = list(conn.execute("SELECT * FROM jobs ORDER BY seq"))
    finally:
        conn.close()
    return [row for row in rows if since is None or row["created_at"] >= since]


def _events(home: Path) -> list[sqlite3.Row]:
    conn = sqlite3.connect(home / "ledger.sqlite3")
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute("SELECT * FROM job_events"))
    finally:
        conn.close()


def _edge_cases(home: Path) -> None:
    """Jobs no simulator run makes: refused locally, unknown, still queued after a 429, a
    template's render whose first poll found it done, a render imported from disk (no
    submission, so no queued or rendering time) and one from long ago."""
    with Ledger.open(home / "ledger.sqlite3") as ledger:
        ledger.insert(
            job_values(
                status=Status.BLOCKED,
                block_source=BlockSource.LOCAL,
                block_reason=BlockReason.BUDGET,
                fingerprint="b" * 64,
            )
        )
        lost = ledger.insert(job_values(fingerprint="c" * 64))
        ledger.update(lost.id, EventKind.SUBMITTING, status=Status.SUBMITTING)
        ledger.update(lost.id, EventKind.ANSWER_LOST, status=Status.UNKNOWN)
        limited = ledger.insert(job_values(fingerprint="d" * 64, model="grok-imagine-video-1.5"))
        ledger.update(limited.id, EventKind.SUBMITTING, status=Status.SUBMITTING)
        ledger.update(limited.id, EventKind.RATE_LIMITED, status=Status.QUEUED)
        ledger.insert(
            job_values(
                status=Status.COMPLETE,
                fingerprint="e" * 64,
                template_name="teaser",
                template_version=2,
                resolution="720p",
                poll_count=1,
                created_at="2026-12-01T10:00:00.000Z",
                submitted_at="2026-12-01T10:00:02.500Z",
                completed_at="2026-12-01T10:01:40.250Z",
                downloaded_at="2026-12-01T10:01:43.000Z",
                cost_ticks=4_000_000_000,
                video_duration=8.0,
            )
        )
        ledger.insert(  # a render found on disk: never submitted from this ledger
            job_values(
                status=Status.COMPLETE,
                fingerprint="a" * 64,
                completed_at="2026-12-01T11:00:00.000Z",
                downloaded_at="2026-12-01T11:00:01.000Z",
                created_at="2026-12-01T10:59:00.000Z",
            )
        )
        ledger.insert(
            job_values(
                status=Status.COMPLETE,
                fingerprint="f" * 64,
                created_at="2020-01-01T00:00:00.000Z",
                submitted_at="2020-01-01T00:00:01.000Z",
                completed_at="2020-01-01T00:10:00.000Z",
                downloaded_at="2020-01-01T00:10:05.000Z",
                poll_count=9,
                cost_ticks=1_000_000_000,
                video_duration=2.0,
            )
        )


@pytest.fixture
def ledger_home(cli: Cli, sim: Any, project: Path, imagine_home: Path) -> Path:
    """Real runs: three renders of two shapes, the first asked for twice (reused), one failed,
    one withheld by moderation; then the edge cases."""
    assert cli.gen(sim, "a red fox in snow", "-d", "1").exit_code == 0
    assert cli.gen(sim, "a red fox in snow", "-d", "1").exit_code == 0  # reused
    assert cli.gen(sim, "a grey heron", "-d", "2", "-r", "720p").exit_code == 0
    assert cli.gen(sim, "a slow tide", "-d", "1").exit_code == 0
    failed_renders(cli, sim, "a burning barn")
    assert cli.gen(sim, "moderate-me please", "-d", "1").exit_code == 1
    assert sim_stats(sim)["submissions"] == 5
    _edge_cases(imagine_home)
    return imagine_home


def test_stats_json_agrees_with_the_ledger(cli: Cli, ledger_home: Path) -> None:
    result = cli.run("stats", "--json")
    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout)
    rows = _rows(ledger_home)
    _close(found["overall"], _group(rows, None), "overall")
    assert found["groups"] == []
    outcomes = found["overall"]["outcomes"]
    assert outcomes["complete"] == 6 and outcomes["failed"] == 1
    assert outcomes["blocked_provider"] == 1 and outcomes["blocked_local"] == 1
    assert outcomes["unknown"] == 1 and outcomes["live"] == 1

    events = _events(ledger_home)
    reused = [e for e in events if e["event"] == "reused"]
    fox = next(r for r in rows if r["prompt"] == "a red fox in snow")
    assert [e["job_id"] for e in reused] == [fox["id"]]
    assert found["duplicates"] == {
        "reused": 1,
        "attached": 0,
        "saved_usd": round(fox["cost_ticks"] / TICKS_PER_USD, 4),  # what a second render costs
    }
    assert found["retries"] == {"rate_limited": 1, "resubmitted": 0}
    assert found["unknown"] == {"jobs": 1, "answers_lost": 1}

    hours = Counter(row["created_at"][:13] for row in rows)
    assert found["jobs_per_hour"] == [
        {"hour": hour + ":00Z", "jobs": n} for hour, n in sorted(hours.items())
    ]
    totals = [
        _at(r["downloaded_at"]) - _at(r["created_at"])
        for r in rows
        if r["status"] == "complete" and r["downloaded_at"]
    ]
    histogram = found["latency_histogram"]
    assert sum(bucket["jobs"] for bucket in histogram) == len(totals) == 6
    for bucket in histogram:
        high = bucket["to_s"] if bucket["to_s"] is not None else math.inf
        assert bucket["jobs"] == sum(bucket["from_s"] <= t < high for t in totals)


BY = {"model": "model", "resolution": "resolution", "mode": "mode", "template": "template"}


def _key(row: Any, column: str) -> Any:
    """A row's group: a template is its name and version (v2 and v3 apart)."""
    if column != "template":
        return row[column]
    name = row["template_name"]
    return None if name is None else f"{name} v{row['template_version']}"


def test_stats_by_each_column_agree_with_the_ledger(cli: Cli, ledger_home: Path) -> None:
    rows = _rows(ledger_home)
    for by, column in BY.items():
        found = json.loads(cli.run("stats", "--json", "--by", by).stdout)
        keys = {_key(row, column) for row in rows}
        expected = {key: _group([r for r in rows if _key(r, column) == key], key) for key in keys}
        assert found["by"] == by
        assert sorted(g["key"] or "" for g in found["groups"]) == sorted(k or "" for k in keys)
        for group in found["groups"]:
            _close(group, expected[group["key"]], f"{by}={group['key']}")
        assert sum(group["jobs"] for group in found["groups"]) == found["overall"]["jobs"]
    templates = json.loads(cli.run("stats", "--json", "--by", "template").stdout)["groups"]
    assert {g["key"]: g["jobs"] for g in templates}["teaser v2"] == 1


def test_since_leaves_older_jobs_out(cli: Cli, ledger_home: Path) -> None:
    found = json.loads(cli.run("stats", "--json", "--since", "2021-01-01").stdout)
    rows = _rows(ledger_home, since="2021-01-01")
    assert len(rows) == len(_rows(ledger_home)) - 1
    _close(found["overall"], _group(rows, None), "overall")
    assert found["overall"]["polls"]["max"] < 9  # the 2020 job's nine polls are not counted


def test_the_terminal_report_shows_the_charts_and_the_savings(cli: Cli, ledger_home: Path) -> None:
    result = cli.run("stats", "--by", "resolution")
    assert result.exit_code == 0
    text = result.stdout
    assert "duplicates prevented: 1 reused, 0 attached" in text
    assert "total latency (complete jobs)" in text and "█" in text
    assert "jobs per hour" in text
    assert "720p" in text and "480p" in text


def test_an_empty_ledger_says_so(cli: Cli) -> None:
    result = cli.run("stats")
    assert result.exit_code == 0
    assert result.stderr.strip() == "no jobs yet"
    empty = json.loads(cli.run("stats", "--json").stdout)
    assert empty["overall"]["jobs"] == 0 and empty["overall"]["latency_s"]["total"]["count"] == 0


@pytest.mark.parametrize(
    ("args", "words"),
    [(("--since", "last tuesday"), "--since"), (("--by", "colour"), "--by")],
)
def test_bad_options_are_one_line_and_exit_2(cli: Cli, args: tuple[str, ...], words: str) -> None:
    result = cli.run("stats", *args)
    assert result.exit_code == 2
    assert words in result.stderr


# -- the stats summary (migration 017) -----------------------------------------------------------


def _summary(conn: sqlite3.Connection) -> list[Any]:
    """The summary's tables, leaving out rows whose counts all came back to zero (a rebuild
    makes none)."""
    counts = [row[5:] for row in conn.execute("SELECT * FROM stats_summary ORDER BY 1, 2, 3, 4, 5")]
    keys = conn.execute("SELECT * FROM stats_summary ORDER BY 1, 2, 3, 4, 5").fetchall()
    return [
        [tuple(key) for key, n in zip(keys, counts, strict=True) if any(n)],
        conn.execute("SELECT * FROM stats_hours WHERE jobs <> 0 ORDER BY hour").fetchall(),
        conn.execute("SELECT * FROM stats_values ORDER BY job_id, spread").fetchall(),
    ]


def _kept_and_rebuilt(home: Path) -> tuple[list[Any], list[Any]]:
    """The summary as the ledger kept it, and as made afresh from the jobs (rolled back)."""
    conn = sqlite3.connect(home / "ledger.sqlite3", isolation_level=None)
    try:
        kept = _summary(conn)
        conn.execute("BEGIN")
        summary.rebuild(conn)
        rebuilt = _summary(conn)
        conn.execute("ROLLBACK")
    finally:
        conn.close()
    return kept, rebuilt


def _agrees(cli: Cli, home: Path) -> dict[str, Any]:
    """`stats --json` (overall and by model) recomputed from the rows; the summary kept as jobs
    were written equals the one made afresh. The report, for more checks."""
    found = json.loads(cli.run("stats", "--json").stdout)
    kept, rebuilt = _kept_and_rebuilt(home)
    assert kept == rebuilt
    rows = _rows(home)
    _close(found["overall"], _group(rows, None), "overall")
    by_model = json.loads(cli.run("stats", "--json", "--by", "model").stdout)
    for group in by_model["groups"]:
        mine = [r for r in rows if r["model"] == group["key"]]
        _close(group, _group(mine, group["key"]), f"model={group['key']}")
    return dict(found)


def test_stats_follow_jobs_changed_after_they_finished(
    cli: Cli, sim: Any, ledger_home: Path
) -> None:
    """Retried, removed, purged, charged late, expired while downloading, canceled: each write
    moves the job's share of the summary, and the report stays what the rows say."""
    rows = _rows(ledger_home)
    before = _agrees(cli, ledger_home)["overall"]["outcomes"]
    failed = next(r for r in rows if r["status"] == "failed")
    env = {"XAI_API_KEY": sim.api_key}
    assert cli.run("retry", failed["id"], env=env).exit_code == 0
    fox = next(r for r in rows if r["prompt"] == "a red fox in snow")
    heron = next(r for r in rows if r["prompt"] == "a grey heron")
    assert cli.run("rm", fox["id"]).exit_code == 0
    assert cli.run("purge", heron["id"], "--yes").exit_code == 0
    with Ledger.open(ledger_home / "ledger.sqlite3") as ledger:
        tide = next(r for r in rows if r["prompt"] == "a slow tide")
        ledger.update(tide["id"], EventKind.UPDATE, cost_ticks=tide["cost_ticks"] + 10**9)
        live = next(r for r in rows if r["status"] == "queued")
        ledger.update(live["id"], EventKind.CANCELED, status=Status.CANCELED)
        job = ledger.insert(job_values(fingerprint="9" * 64, resolution="1080p"))
        ledger.update(job.id, EventKind.SUBMITTING, status=Status.SUBMITTING)
        ledger.update(job.id, EventKind.SUBMITTED, status=Status.RUNNING, submitted_at=clock.iso())
        ledger.update(job.id, EventKind.UPDATE, poll_count=2, last_pending_at=clock.iso())
        ledger.update(
            job.id, EventKind.RENDERED, status=Status.DOWNLOADING, completed_at=clock.iso()
        )
        ledger.update(job.id, EventKind.EXPIRED, status=Status.EXPIRED)
    after = _agrees(cli, ledger_home)["overall"]["outcomes"]
    # The retry's render is in, the two removed renders are out; one more expired, the queued
    # job canceled.
    assert after["complete"] == before["complete"] + 1 - 2
    assert (after["failed"], after["expired"]) == (before["failed"], before["expired"] + 1)
    assert (after["live"], after["canceled"]) == (0, before["canceled"] + 1)


def test_an_existing_ledger_gets_its_summary_when_opened(cli: Cli, imagine_home: Path) -> None:
    """A ledger written before migration 017: its first open fills the summary from its jobs."""
    imagine_home.mkdir(parents=True, exist_ok=True)
    conn = db.connect(imagine_home / "ledger.sqlite3")
    migrate(conn, [step for step in MIGRATIONS if step[0] != "017_stats_summary"])
    jobs = [
        job_values(
            status=Status.COMPLETE,
            fingerprint=f"{n:064x}",
            model=("grok-imagine-video", "grok-imagine-video-1.5")[n % 2],
            created_at=f"2026-11-{10 + n % 5:02d}T0{n % 10}:00:00.000Z",
            submitted_at=f"2026-11-{10 + n % 5:02d}T0{n % 10}:00:0{n % 7}.250Z",
            completed_at=f"2026-11-{10 + n % 5:02d}T0{n % 10}:0{n % 4 + 1}:30.000Z",
            last_pending_at=f"2026-11-{10 + n % 5:02d}T0{n % 10}:0{n % 4 + 1}:2{n % 9}.000Z",
            downloaded_at=f"2026-11-{10 + n % 5:02d}T0{n % 10}:0{n % 4 + 1}:3{n % 8}.500Z",
            poll_count=n % 6,
            cost_ticks=n * 10**8,
            video_duration=float(n % 3 + 1),
        )
        for n in range(1, 40)
    ]
    jobs.append(job_values(status=Status.BLOCKED, block_source=BlockSource.LOCAL))
    jobs.append(job_values(status=Status.FAILED, fingerprint="d" * 64))
    for job in jobs:
        values = {"created_at": clock.iso(), "updated_at": clock.iso(), **job}
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        conn.execute(f"INSERT INTO jobs ({names}) VALUES ({marks})", tuple(values.values()))
    conn.close()
    found = _agrees(cli, imagine_home)
    assert found["overall"]["jobs"] == 41 and found["overall"]["outcomes"]["complete"] == 39


def test_since_in_the_middle_of_a_day_counts_only_that_day_s_later_jobs(
    cli: Cli, imagine_home: Path
) -> None:
    """Whole days come from the summary; the jobs of the window's first day are read one by
    one, so a job created that morning before --since is left out."""
    with Ledger.open() as ledger:
        for n, created in enumerate(
            (
                "2026-11-30T23:59:59.999Z",
                "2026-12-01T09:00:00.000Z",
                "2026-12-01T10:29:59.999Z",
                "2026-12-01T10:30:00.000Z",
                "2026-12-01T17:45:00.000Z",
                "2026-12-02T08:00:00.000Z",
            )
        ):
            ledger.insert(
                job_values(
                    status=Status.COMPLETE,
                    fingerprint=f"{n:064x}",
                    created_at=created,
                    submitted_at=created,
                    completed_at=created[:-6] + "9.000Z",  # a few seconds later
                    downloaded_at=created[:-6] + "9.500Z",
                    poll_count=n,
                )
            )
    found = json.loads(cli.run("stats", "--json", "--since", "2026-12-01T10:30:00Z").stdout)
    rows = _rows(imagine_home, since="2026-12-01T10:30:00.000Z")
    assert len(rows) == 3
    _close(found["overall"], _group(rows, None), "overall")
    assert [h["hour"] for h in found["jobs_per_hour"]] == [
        "2026-12-01T10:00Z",
        "2026-12-01T17:00Z",
        "2026-12-02T08:00Z",
    ]


def _writer(ledger_path: str, seed: int, jobs: int) -> None:
    """One process's jobs, driven through the ledger's writes to several ends (run by
    test_several_processes_keep_the_summary_right, each in its own process)."""
    rng = random.Random(seed)
    with Ledger.open(Path(ledger_path)) as ledger:
        for n in range(jobs):
            job = ledger.insert(
                job_values(
                    fingerprint=f"{seed:032x}{n:032x}",
                    model=rng.choice(("grok-imagine-video", "grok-imagine-video-1.5")),
                    resolution=rng.choice(("480p", "720p")),
                )
            )
            ledger.update(job.id, EventKind.SUBMITTING, status=Status.SUBMITTING)
            ledger.update(
                job.id, EventKind.SUBMITTED, status=Status.RUNNING, submitted_at=clock.iso()
            )
            ledger.update(job.id, EventKind.UPDATE, poll_count=1, last_pending_at=clock.iso())
            end = rng.choice(("complete", "failed", "removed"))
            if end == "failed":
                ledger.update(job.id, EventKind.FAILED, status=Status.FAILED)
                continue
            ledger.update(
                job.id, EventKind.RENDERED, status=Status.DOWNLOADING, completed_at=clock.iso()
            )
            ledger.update(
                job.id,
                EventKind.COMPLETE,
                status=Status.COMPLETE,
                downloaded_at=clock.iso(),
                cost_ticks=rng.randint(1, 9) * 10**9,
                video_duration=float(rng.randint(1, 8)),
            )
            if end == "removed":
                with ledger.transaction() as conn:
                    ledger.delete(conn, job.id)


def test_several_processes_keep_the_summary_right(cli: Cli, imagine_home: Path) -> None:
    path = imagine_home / "ledger.sqlite3"
    Ledger.open(path).close()
    spawn = multiprocessing.get_context("spawn")
    writers = [spawn.Process(target=_writer, args=(str(path), seed, 15)) for seed in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
        assert writer.exitcode == 0
    found = _agrees(cli, imagine_home)
    assert found["overall"]["jobs"] == len(_rows(imagine_home)) > 0


def test_a_time_that_is_no_time_leaves_its_figure_out() -> None:
    """A row edited by hand (or by another tool) with a bad timestamp still counts, without the
    durations that need it, and its later writes do not fail."""
    row = dict.fromkeys(summary.FIELDS)
    row.update(
        created_at="2026-12-01T10:00:00.000Z",
        status="complete",
        model="grok-imagine-video",
        mode="text",
        submitted_at="yesterday-ish",
        completed_at="2026-12-01T10:01:00.000Z",
        downloaded_at="2026-12-01T10:01:02.000Z",
    )
    found = summary.tally({**row, "id": "j1"})
    assert found.values[:4] == (None, None, 2000, 62_000)
    assert found.outcome is summary.Outcome.COMPLETE


def test_a_row_changed_behind_the_ledger_s_back_is_mended_at_its_next_write(
    cli: Cli, imagine_home: Path
) -> None:
    """SQL of someone else's moved a job to another day: the job's next write through the ledger
    that changes what it counts for finds its old share missing, and makes the summary afresh."""
    with Ledger.open() as ledger:
        jobs = [ledger.insert(job_values(fingerprint=f"{n:064x}")) for n in range(3)]
        ledger.conn.execute(
            "UPDATE jobs SET created_at = '2020-01-01T00:00:00.000Z' WHERE id = ?", (jobs[0].id,)
        )
        ledger.update(jobs[0].id, EventKind.CANCELED, status=Status.CANCELED)
    found = _agrees(cli, imagine_home)
    assert found["jobs_per_hour"][0] == {"hour": "2020-01-01T00:00Z", "jobs": 1}


def test_a_finished_job_set_back_by_hand_finishes_again_without_a_clash(
    cli: Cli, imagine_home: Path
) -> None:
    """A finished job put back to downloading by SQL of someone else's (as a crash test does):
    its latencies are still in the summary, and finishing it again replaces them."""
    times = {
        "created_at": "2026-12-01T10:00:00.000Z",
        "submitted_at": "2026-12-01T10:00:05.000Z",
        "completed_at": "2026-12-01T10:01:00.000Z",
        "downloaded_at": "2026-12-01T10:01:02.000Z",
    }
    with Ledger.open() as ledger:
        job = ledger.insert(job_values(status=Status.COMPLETE, **times))
        ledger.conn.execute(
            "UPDATE jobs SET status = 'downloading', downloaded_at = NULL WHERE id = ?", (job.id,)
        )
        ledger.update(
            job.id, EventKind.COMPLETE, status=Status.COMPLETE, downloaded_at=times["downloaded_at"]
        )
    _agrees(cli, imagine_home)
