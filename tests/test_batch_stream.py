"""A long batch streams: its first jobs are sent while its later lines are still to be read,
--timeout stops the reading as well as the sending, and what must hold for the whole file
(--strict, the cost to confirm, edit consent) is still settled before anything is sent.

Order is proven by the ledger (job_events ids grow as rows are written), never by a stopwatch.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from imagine.cli.tracking import Entry, RunState
from tests.helpers import Cli, read_jobs, sim_stats

LINES = 20_000
FIRST_CHUNK = 16  # imagine.cli.batch.FIRST_CHUNK: the jobs recorded before the engine starts


def _big(folder: Path, lines: int = LINES, last: str | None = None) -> Path:
    path = folder / "big.txt"
    text = "".join(f"scene {n}: a lantern over water\n" for n in range(lines))
    path.write_text(text + (last or ""))
    return path


def _events(home: Path) -> list[tuple[int, int, str]]:
    """(event id, job seq, event) in the order the ledger wrote them."""
    conn = sqlite3.connect(home / "ledger.sqlite3")
    try:
        return list(
            conn.execute(
                "SELECT e.id, j.seq, e.event FROM job_events e JOIN jobs j ON j.id = e.job_id "
                "ORDER BY e.id"
            )
        )
    finally:
        conn.close()


def _batch(cli: Cli, sim: Any, *args: str) -> Any:
    return cli.run(
        "batch", *args, "--base-url", sim.url, "-d", "1", env={"XAI_API_KEY": sim.api_key}
    )  # fmt: skip


def test_a_huge_batch_sends_its_first_jobs_before_its_later_lines_are_recorded_and_timeout_stops_reading(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    big = _big(project)
    result = _batch(
        cli, sim, str(big), "--no-wait", "--rps", "1000", "-c", "40", "--timeout", "5", "-y"
    )
    events = _events(imagine_home)
    created = {seq: event_id for event_id, seq, kind in events if kind == "created"}
    submitted = [event_id for event_id, _, kind in events if kind == "submitted"]
    # The line after the first chunk was recorded only once jobs of the file had been sent.
    later = created[FIRST_CHUNK + 1]
    assert submitted and min(submitted) < later
    assert sum(1 for event_id in submitted if event_id < later) >= FIRST_CHUNK // 2
    # The time ran out long before 20,000 lines were recorded: the rest were never read,
    # and the command says so (exit 6, timed out; the same command sends the rest).
    jobs = read_jobs(imagine_home)
    assert 0 < len(jobs) < LINES
    # (6: timed out; 4 when the deadline also cut a request in flight, its job left unknown)
    assert result.exit_code in (4, 6), result.stderr
    assert "--timeout ran out before" in result.stderr and "run the same command again" in (
        result.stderr
    )
    # Nothing sent that is not recorded, and nothing twice.
    stats = sim_stats(sim)
    sent = sum(1 for job in jobs if job["request_id"])
    unknown = sum(1 for job in jobs if job["status"] == "unknown")
    assert sent <= stats["submissions"] <= sent + unknown
    assert stats["duplicate_bodies"] == 0


def test_strict_still_refuses_the_whole_file_before_anything_is_sent(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    path = project / "big.jsonl"
    lines = [f'{{"prompt": "scene {n}"}}' for n in range(2_000)]
    path.write_text("\n".join([*lines, '{"prompt": "the last", "duration": 99}']) + "\n")
    result = _batch(cli, sim, str(path), "--strict", "-y", "--rps", "1000", "--no-wait")
    assert result.exit_code == 2, result.stderr
    assert "nothing submitted (--strict)" in result.stderr and "big.jsonl:2001:" in result.stderr
    assert sim_stats(sim)["submissions"] == 0 and read_jobs(imagine_home) == []


def test_a_costly_file_still_needs_yes_in_a_script_before_anything_is_sent(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    """The whole file's estimate is summed before the first job goes (the cheap checking
    pass): a script above confirm_above_usd without --yes is refused, nothing recorded."""
    assert cli.run("config", "set", "confirm_above_usd", "1").exit_code == 0
    big = _big(project, 500)  # 500 × $0.05 = $25
    refused = _batch(cli, sim, str(big), "--rps", "1000")
    assert refused.exit_code == 5, refused.stderr
    assert "--yes" in refused.stderr
    assert sim_stats(sim)["submissions"] == 0 and read_jobs(imagine_home) == []


def test_bad_lines_are_said_as_they_are_met_and_the_good_ones_go_ahead(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    path = project / "mixed.jsonl"
    good = [f'{{"prompt": "scene {n}"}}' for n in range(40)]
    path.write_text("\n".join([*good[:20], '{"prompt": 5}', *good[20:], '{"duration": 99}']) + "\n")
    result = _batch(cli, sim, str(path), "-y", "--rps", "1000", "-c", "40", "--no-wait")
    assert result.exit_code == 2  # bad lines: usage, after the good ones were sent
    assert "mixed.jsonl:21:" in result.stderr and "mixed.jsonl:42:" in result.stderr
    assert len(read_jobs(imagine_home)) == 40
    assert sim_stats(sim)["submissions"] == 40


def test_the_display_total_grows_as_chunks_join_and_keeps_what_it_has() -> None:
    def entry(n: int) -> Entry:
        return Entry(job_id=f"job{n}", number=n, subject=f"scene {n}", estimate_usd=0.05)

    state = RunState([entry(1), entry(2)])
    from imagine.engine.events import Update

    state.apply(Update(job_id="job1", kind="complete", status="complete", label="#1"), 1.0)
    state.add([entry(2), entry(3), entry(4)])
    overall = state.overall(2.0)
    assert (overall.done, overall.total) == (1, 4)
    assert state.tracks["job1"].final == "complete"
    assert state.summary(3.0).counts == {"complete": 1, "unfinished": 3}
