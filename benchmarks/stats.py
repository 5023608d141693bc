"""Stats at scale: `imagine stats` on a 100,000-job ledger.

What it builds: a ledger of --jobs jobs (default 100,000) recorded with the project's own code
(``Ledger.insert``) over 30 days: two models, three resolutions, three modes, four templates
(and none); 85 % complete, the rest failed, expired, blocked by the provider or locally,
canceled, unknown or still running; each with a request and a provider answer of the sizes the
simulator's have, its timestamps, polls and charge. Each job also gets the events the engine
records for it (submitting, submitted, rendered, complete, …), written in bulk, and one job in
ten a ``reused`` or ``attached`` event, one in fifty a ``rate_limited`` one: about 500,000 events.

The final statuses are set in bulk with SQL of the script's own (not through the ledger), so the
stats summary (migration 017) is then made afresh with ``summary.rebuild``: timed, it is what
migration 017's backfill costs on an existing ledger of that size.

What it measures: ``stats.report`` in-process (the whole computation, the ledger opened
beforehand), median wall and CPU time of --rounds calls (the verdict is on CPU time: the machine
is shared, and its load stretches wall time), for: all jobs; all jobs by model; by template; the last
7 days; each beside the same call of the stats module of --before (a git revision: by default the
last one before the summary, which read every job's row), run in the same process on the same
ledger, and whether the two reports' figures agree. Then `imagine stats --json` and
`imagine stats --by model` as a user runs them, in a fresh process (wall time, median of --rounds,
Python's start-up included; beside it `imagine --version`, the floor of any command).

The price of the summary: --writes jobs (default 2,000) driven through the ledger's writes as a
run makes them (insert; submitting; submitted; three polls; rendered; complete), on a fresh
ledger, with the summary kept and with its upkeep switched off (``summary.fields_of``,
``tally_of`` and ``apply`` replaced by no-ops in this process); CPU per job, best of --rounds.

Target (issue 15): the stats of a 100,000-job ledger in under 300 ms.

Run: python benchmarks/stats.py [--jobs 100000] [--rounds 7] [--before REV] [--writes 2000]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
import types
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _harness import Row, Workspace, imagine_command, machine, print_table, verdict, workspace

from imagine import clock, ids
from imagine.ledger import summary
from imagine.ledger.store import Ledger
from imagine.lifecycle import BlockSource, EventKind, Status
from imagine.observability import metrics

REPO = Path(__file__).resolve().parent.parent
# The last revision whose `imagine stats` read every job (one pass over the jobs_stats index).
BEFORE = "867b8d7"

TARGET_MS = 300.0
CHUNK = 5_000
DAY = 86_400
START = 1_795_000_000  # 2026-11-18
MODELS = ("grok-imagine-video", "grok-imagine-video-1.5")
RESOLUTIONS = ("480p", "720p", "1080p")
MODES = ("text", "text", "text", "image", "edit")
TEMPLATES = (None, None, "product-shot", "portrait", "teaser", "loop")
ENDS = (
    (Status.FAILED, None),
    (Status.EXPIRED, None),
    (Status.BLOCKED, BlockSource.PROVIDER),
    (Status.BLOCKED, BlockSource.LOCAL),
    (Status.CANCELED, None),
    (Status.UNKNOWN, None),
    (Status.RUNNING, None),
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs in the ledger")
    parser.add_argument("--rounds", type=int, default=7, help="timed calls of each form")
    parser.add_argument("--before", default=BEFORE, help="git revision to compare with")
    parser.add_argument("--writes", type=int, default=2_000, help="jobs for the write cost")
    return parser.parse_args()


def _iso(unix: float) -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(unix)) + f".{int(unix * 1000) % 1000:03d}Z"
    )


def job_values(
    n: int, jobs: int, rng: random.Random
) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    """One job's row and the events the engine would have recorded for it."""
    created = START + 30 * DAY * n / jobs
    seconds = rng.choice((2, 4, 6, 8, 10))
    model, resolution = rng.choice(MODELS), rng.choice(RESOLUTIONS)
    status, source = (Status.COMPLETE, None) if n % 100 < 85 else ENDS[n % len(ENDS)]
    job_id = ids.new_id(created)
    values: dict[str, Any] = {
        "id": job_id,
        "status": status,
        "mode": rng.choice(MODES),
        "model": model,
        "route": "/v1/videos/generations",
        "prompt": f"shot {n}: a fox in the snow, cinematic, golden hour, slow dolly in",
        "prompt_sent": f"shot {n}: a fox in the snow, cinematic, golden hour, slow dolly in",
        "duration": seconds,
        "aspect_ratio": "16:9",
        "resolution": resolution,
        "params_json": json.dumps({"duration": seconds, "resolution": resolution}),
        "fingerprint": f"{n:064x}",
        "base_url": "https://api.x.ai",
        "project_dir": "/work/project",
        "output_path": f"/work/project/renders/shot-{n}.mp4",
        "request_json": json.dumps({"model": model, "prompt": f"shot {n} " + "x" * 120}),
        "cost_estimate_usd": 0.05 * seconds,
        "price_per_second_usd": 0.05,
        "template_name": rng.choice(TEMPLATES),
        "created_at": _iso(created),
        "block_source": source,
    }
    events: list[tuple[Any, ...]] = []
    if status is Status.BLOCKED and source is BlockSource.LOCAL:
        return values, events
    submitted = created + rng.uniform(0.2, 30)
    values.update(
        request_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        submitted_at=_iso(submitted),
        poll_count=rng.randint(1, 6),
        submit_response_json=json.dumps({"request_id": "r" * 36}),
    )
    events += [
        (job_id, _iso(submitted - 0.1), "submitting"),
        (job_id, _iso(submitted), "submitted"),
    ]
    if status in (Status.UNKNOWN, Status.RUNNING):
        return values, events
    done = submitted + rng.uniform(20, 200) * (1 + RESOLUTIONS.index(resolution))
    values.update(
        completed_at=_iso(done),
        last_pending_at=_iso(done - rng.uniform(0.1, 3)),
        response_json=json.dumps({"status": "done", "video": {"url": "https://v/" + "u" * 80}}),
    )
    if status is Status.COMPLETE:
        values.update(
            downloaded_at=_iso(done + rng.uniform(0.3, 4)),
            cost_ticks=seconds * 500_000_000,
            video_duration=float(seconds),
            file_sha256="0" * 64,
            file_bytes=900_000,
        )
        events += [(job_id, _iso(done), "rendered"), (job_id, _iso(done + 2), "complete")]
        if n % 10 == 3:
            events.append((job_id, _iso(done + 600), rng.choice(("reused", "attached"))))
    else:
        events.append((job_id, _iso(done), str(status)))
    if n % 50 == 7:
        events.append((job_id, _iso(submitted - 1), "rate_limited"))
    return values, events


def build(space: Workspace, jobs: int) -> float:
    started = time.perf_counter()
    rng = random.Random(15)
    with Ledger.open(space.ledger) as ledger:
        for start in range(0, jobs, CHUNK):
            with ledger.transaction() as conn:
                events: list[tuple[Any, ...]] = []
                moves: list[tuple[str, str]] = []
                for n in range(start, min(jobs, start + CHUNK)):
                    values, more = job_values(n, jobs, rng)
                    # Recorded queued, as a run records it; its final status set in bulk below.
                    ledger.insert({**values, "status": Status.QUEUED})
                    moves.append((values["status"], values["id"]))
                    events += more
                conn.executemany("UPDATE jobs SET status = ? WHERE id = ?", moves)
                conn.executemany(
                    "INSERT INTO job_events (job_id, at, event, detail_json)"
                    " VALUES (?, ?, ?, CASE WHEN ?3 IN ('reused', 'attached')"
                    " THEN '{\"saved_usd\": 0.4}' END)",
                    events,
                )
    return time.perf_counter() - started


def backfill(space: Workspace) -> tuple[float, float]:
    """The summary made afresh from the jobs, as migration 017 makes it: wall and CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    with Ledger.open(space.ledger) as ledger, ledger.transaction() as conn:
        summary.rebuild(conn)
    return time.perf_counter() - wall, time.process_time() - cpu


def medians_ms(call: Callable[[], object], rounds: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds of one call (after a warm-up: the page cache as a
    user's second look at the stats finds it). The CPU time is the figure to compare across
    runs on a shared machine, whose load stretches the wall time."""
    call()
    walls, cpus = [], []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000


def stats_before(revision: str) -> types.ModuleType:
    """The stats module as it was at ``revision``, importable beside today's."""
    # (named metrics.py since the workflow package: a revision before it has stats.py)
    for name in ("metrics", "stats"):
        found = subprocess.run(
            ["git", "show", f"{revision}:src/imagine/{name}.py"],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        if found.returncode == 0:
            break
    found.check_returncode()
    source = found.stdout
    module = types.ModuleType("stats_before")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{revision}:stats.py", "exec"), module.__dict__)
    return module


def _differences(found: Any, expected: Any, where: str = "") -> list[str]:
    """The figures of two reports' --json that differ by more than a millisecond (the old
    durations came from SQLite's julianday, today's from Python's datetime)."""
    if isinstance(expected, dict):
        keys = set(found) | set(expected)
        return [
            d for k in keys for d in _differences(found.get(k), expected.get(k), f"{where}.{k}")
        ]
    if isinstance(expected, list):
        if len(found) != len(expected):
            return [where]
        return [
            d
            for i, pair in enumerate(zip(found, expected, strict=True))
            for d in _differences(*pair, f"{where}[{i}]")
        ]
    if isinstance(expected, float) and isinstance(found, float):
        return [] if abs(found - expected) <= 0.0011 else [where]
    return [] if found == expected else [where]


def in_process(space: Workspace, rounds: int, before: types.ModuleType) -> list[Row]:
    forms: dict[str, dict[str, Any]] = {
        "all jobs": {},
        "--by model": {"by": metrics.GroupBy.MODEL},
        "--by template": {"by": metrics.GroupBy.TEMPLATE},
        "--since 7d": {"since": _iso(START + 23 * DAY)},
    }
    rows: list[Row] = []
    with Ledger.open(space.ledger) as ledger:
        for form, kw in forms.items():
            old_kw = {**kw, "by": before.GroupBy(kw["by"])} if "by" in kw else kw
            old_wall, old_cpu = medians_ms(lambda kw=old_kw: before.report(ledger, **kw), rounds)
            wall, cpu = medians_ms(lambda kw=kw: metrics.report(ledger, **kw), rounds)
            differ = _differences(
                metrics.report(ledger, **kw).as_dict(), before.report(ledger, **old_kw).as_dict()
            )
            rows.append(
                (
                    f"stats.report, {form}",
                    f"{wall:.0f} ms wall, {cpu:.0f} ms CPU"
                    f" (before: {old_wall:.0f} ms wall, {old_cpu:.0f} ms CPU)",
                    f"< {TARGET_MS:g} ms",
                    verdict(cpu, TARGET_MS),
                )
            )
            agree = "same figures" if not differ else f"{len(differ)} differ: {differ[:3]}"
            rows.append((f"  {form}: today's figures against before", agree, "same", ""))
    return rows


def _drive(ledger: Ledger, n: int) -> None:
    """One job's writes as a run makes them."""
    values, _ = job_values(n, 1, random.Random(n))
    keep = ("id", "mode", "model", "route", "prompt", "duration", "resolution", "fingerprint")
    job = ledger.insert(
        {
            **{k: values[k] for k in keep},
            "base_url": "https://api.x.ai",
            "project_dir": "/p",
            "output_path": f"/p/{n}.mp4",
            "template_name": values["template_name"],
            "status": Status.QUEUED,
        }
    )
    ledger.update(job.id, EventKind.SUBMITTING, status=Status.SUBMITTING)
    ledger.update(
        job.id,
        EventKind.SUBMITTED,
        status=Status.RUNNING,
        request_id=f"r{n}",
        submitted_at=clock.iso(),
    )
    for poll in range(1, 4):
        ledger.update(job.id, EventKind.UPDATE, poll_count=poll, last_pending_at=clock.iso())
    ledger.update(job.id, EventKind.RENDERED, status=Status.DOWNLOADING, completed_at=clock.iso())
    ledger.update(
        job.id,
        EventKind.COMPLETE,
        status=Status.COMPLETE,
        downloaded_at=clock.iso(),
        cost_ticks=2_000_000_000,
        video_duration=4.0,
    )


def _write_cpu_ms(space: Workspace, jobs: int, rounds: int, name: str) -> float:
    best = float("inf")
    for attempt in range(rounds):
        with Ledger.open(space.root / f"{name}-{attempt}.sqlite3") as ledger:
            for n in range(20):  # warm-up: statements prepared, pages cached
                _drive(ledger, jobs + n)
            cpu = time.process_time()
            for n in range(jobs):
                _drive(ledger, n)
            best = min(best, (time.process_time() - cpu) * 1000 / jobs)
    return best


def write_cost(space: Workspace, jobs: int, rounds: int) -> list[Row]:
    """CPU per job of its ledger writes with the summary kept, and with its upkeep off."""
    kept = _write_cpu_ms(space, jobs, rounds, "kept")
    upkeep = {name: getattr(summary, name) for name in ("fields_of", "tally_of", "apply")}
    for name in upkeep:
        setattr(summary, name, lambda *_: None)
    try:
        off = _write_cpu_ms(space, jobs, rounds, "off")
    finally:
        for name, function in upkeep.items():
            setattr(summary, name, function)
    return [
        (f"ledger writes per job ({jobs:,} jobs, 8 writes each)", f"{kept:.3f} ms CPU", "", ""),
        ("  the same without the summary's upkeep", f"{off:.3f} ms CPU", "", ""),
        ("  the summary's share", f"{kept - off:.3f} ms CPU per job", "", ""),
    ]


def commands(space: Workspace, rounds: int) -> list[Row]:
    rows: list[Row] = []
    for args in (("--version",), ("stats", "--json"), ("stats", "--by", "model")):
        command = [*imagine_command(), *args]

        def run(command: list[str] = command) -> None:
            subprocess.run(command, env=space.env(), check=True, capture_output=True)

        wall, _ = medians_ms(run, rounds)
        rows.append((f"imagine {' '.join(args)} (fresh process)", f"{wall:.0f} ms wall", "", ""))
    return rows


def main() -> None:
    args = parse_args()
    print(f"stats at scale: {args.jobs:,} jobs; {machine()}")
    with workspace() as space:
        seconds = build(space, args.jobs)
        size = space.ledger.stat().st_size / 2**20
        print(f"built in {seconds:.1f} s (ledger {size:.0f} MiB)")
        wall, cpu = backfill(space)
        print(
            f"summary made from the jobs (migration 017's backfill): {wall:.1f} s, {cpu:.1f} s CPU"
        )
        before = stats_before(args.before)
        print_table("in-process, median", in_process(space, args.rounds, before))
        print_table("as a user runs it, median", commands(space, args.rounds))
        print_table("the summary's write cost, best", write_cost(space, args.writes, args.rounds))


if __name__ == "__main__":
    main()
