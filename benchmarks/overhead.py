"""Overhead: the engine's own CPU time per job, and whether its memory stays flat as jobs go by.

What it measures: N jobs recorded and driven IN-PROCESS, as `imagine batch` does it (imagine.workflow.steps:
preview → record → drive, EngineOptions(rps=1000, concurrency=64)) against a simulator in its own
process with a tiny render time (0.05 s), so the client's work dominates. CPU is
time.process_time() of the process driving the jobs (every thread: the event loop, the worker
threads that probe and poster, SQLite), across record + drive, after a warm-up of a few jobs
(imports, first connections); the simulator's CPU is in the other process. Each measurement runs in
a fresh child process with a fresh IMAGINE_HOME.

Per job, that CPU covers: recording the job (fingerprint, reuse lookup, one insert), the slot and
lease transactions, submit and poll over HTTP, every ledger transition, the streamed download and
its sha256, the sidecar, and, with the media extra, the PyAV probe and the JPEG poster. Probe +
poster are measured two ways: the thread CPU of each call (which misses FFmpeg's own decoder
threads), and the difference from a run with imagine.media.have_av patched to return False (no
probe, no poster), which leaves the engine's own cost.

Memory: tracemalloc's peak over runs of 250, 500 and 1000 jobs, each in its own process (all N jobs
are queued at once, so some growth with N is expected: one task and one row each), and the test that
matters for a long batch: several rounds of 250 jobs in ONE process (with and without probe and
poster), with the memory still held after each round: the Python heap (tracemalloc, after gc), the
resident set size, and the RSS after malloc_trim (glibc's free memory handed back: what is still in
use, without fragmentation; the trim also lowers the raw RSS of the rounds after it). The rounds
without probe and poster run a second time with PYTHONMALLOC=malloc (CPython's small objects from
the C library's allocator instead of its own arenas), which tells arena fragmentation apart from
memory still in use; that run is reported, not judged.

The HTTP client's share is measured beside it, in the same process: the same jobs done with httpx
alone (on the transport the engine uses, no imagine code), one task per job at the same
concurrency: the same submission body, a poll once the render should be done, the MP4 streamed and
dropped. The engine's run (no probe/poster) and this floor's run alternate --pairs times (3), so
both see the same machine: its speed drifts by tens of percent from minute to minute on a shared
host. The engine's own CPU is the mean of (engine − floor) over the pairs: what the engine costs
above that floor: the ledger, the schedule, leases, files, hashing, the sidecar, the client's
checks.

Targets: engine's own CPU per job (1000 jobs, no probe/poster) < 5 ms; flat memory = growth over
the rounds from round 2 on (the least-squares slope against jobs done) < 1 KiB per job, for the
Python heap and for the trimmed RSS (rounds 1 and 2 also fill what is made once or grows in steps).

If the simulator's HTTP server overflows its listen queue (backlog 256) when many connections open
at once, the kernel drops connections whose request was already sent, and the engine (correctly)
records those jobs as `unknown` rather than resending. Each run prints its job outcomes and the host's
listen-queue overflow count so such runs are visible.

Run (about 12 minutes on 2 cores):   python benchmarks/overhead.py
Quick run (~1.5 min):  python benchmarks/overhead.py --sizes 100,200 --rounds 3 --round-jobs 100 --pairs 1
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import json
import os
import resource
import subprocess
import sys
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
from _harness import (
    BENCH_KEY,
    Row,
    listen_overflows,
    machine,
    overflow_row,
    print_table,
    simulator,
    verdict,
    workspace,
)

from imagine.api.client import http_transport
from imagine.engine import finish
from imagine.engine.runner import EngineOptions
from imagine.session import Session
from imagine.spec import Mode, RenderSpec
from imagine.workflow import steps
from imagine.workflow.plan import Planned, Request

TARGET_CPU_MS = 5.0
TARGET_RETAINED_KIB_PER_JOB = 1.0
WARM_UP_JOBS = 16
RENDER_TIME = 0.05
SYSTEM_MALLOC = {"PYTHONMALLOC": "malloc"}
KIB = 1024
MIB = 1024 * 1024


@dataclass(frozen=True)
class Args:
    sizes: tuple[int, ...]
    rounds: int
    round_jobs: int
    concurrency: int
    rps: float
    pairs: int


def parse_args() -> tuple[Args, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="250,500,1000", help="jobs per run, comma-separated")
    parser.add_argument("--rounds", type=int, default=10, help="rounds in the retained-memory run")
    parser.add_argument("--round-jobs", type=int, default=250, help="jobs per round")
    parser.add_argument("-c", "--concurrency", type=int, default=64)
    parser.add_argument("--rps", type=float, default=1000.0)
    parser.add_argument(
        "--pairs",
        type=int,
        default=3,
        help="engine runs (no probe/poster), each followed by the bare httpx floor's run",
    )
    child = parser.add_argument_group("internal (one measurement in a child process)")
    child.add_argument("--child", choices=("cpu", "memory"), help=argparse.SUPPRESS)
    child.add_argument("--url", help=argparse.SUPPRESS)
    child.add_argument("--jobs", type=int, default=0, help=argparse.SUPPRESS)
    child.add_argument("--no-av", action="store_true", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    sizes = tuple(int(size) for size in ns.sizes.split(","))
    return Args(sizes, ns.rounds, ns.round_jobs, ns.concurrency, ns.rps, ns.pairs), ns


# -- in the child: drive jobs in this process --------------------------------------------------


class Driver:
    """Records and drives batches of text-to-video jobs in this process, as `imagine batch` does."""

    def __init__(self, url: str, project: Path, concurrency: int, rps: float) -> None:
        self.session = Session(project_dir=project, base_url=url)
        self.options = EngineOptions(rps=rps, concurrency=concurrency)
        self._batches = 0

    def requests(self, count: int) -> list[Request]:
        self._batches += 1
        settings = self.session.settings
        return [
            Request(
                RenderSpec(
                    mode=Mode.TEXT,
                    model=settings.model,
                    prompt=f"overhead batch {self._batches} job {n}: a paper boat on a river",
                    duration=1,
                    aspect_ratio=settings.aspect,
                    resolution=settings.resolution,
                    generate_audio=settings.audio,
                ),
                settings.output,
            )
            for n in range(1, count + 1)
        ]

    def record(self, requests: list[Request]) -> list[Planned]:
        return steps.record(self.session, steps.preview(self.session, requests))

    def drive(self, planned: list[Planned]) -> dict[str, int]:
        """Drive the jobs; how many ended in each status. Like a CLI run, it holds the plan
        until the end, and sums the run up from it and the outcomes."""
        job_ids = [item.job.id for item in planned if item.needs_engine]
        outcomes = asyncio.run(steps.drive(self.session, job_ids, options=self.options))
        found = steps.results(planned, outcomes)
        return dict(Counter(str(result.job.status) for result in found))

    def run(self, count: int) -> dict[str, int]:
        requests = self.requests(count)  # held to the end, as `imagine batch` holds its entries
        return self.drive(self.record(requests))


class DescribeTimer:
    """Wraps the probe + poster step (engine.finish._describe) to sum its thread CPU time."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._lock = threading.Lock()

    def wrap(self, describe: Callable[[Path], dict[str, Any]]) -> Callable[[Path], dict[str, Any]]:
        def timed(path: Path) -> dict[str, Any]:
            started = time.thread_time()
            try:
                return describe(path)
            finally:
                with self._lock:
                    self.seconds += time.thread_time() - started
                    self.calls += 1

        return timed


@contextmanager
def media(no_av: bool, timer: DescribeTimer) -> Iterator[None]:
    timed = mock.patch.object(finish, "_describe", timer.wrap(finish._describe))
    # A plain function, not a Mock: a Mock would remember every call and grow the heap itself.
    without = mock.patch("imagine.media.have_av", new=lambda: False)
    with timed, without if no_av else nullcontext():
        yield


def rss_now_kib() -> int:
    """The resident set size now (Linux), else the peak so far."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") // KIB
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def sim_counts(url: str) -> Counter[str]:
    """Requests the simulator has answered for jobs, by kind."""
    stats = httpx.get(f"{url}/sim/stats").json()
    return Counter({kind: int(stats[key]) for kind, key in REQUEST_KINDS.items()})


REQUEST_KINDS = {"submit": "submissions", "poll": "polls_total", "download": "downloads"}


def http_floor(url: str, concurrency: int, count: int) -> dict[str, float]:
    """CPU per job of the same jobs done with the HTTP client alone: httpx on the transport the
    engine uses, no imagine code. One task per job, at most ``concurrency`` at once, each sending
    the same submission body, polling once the render should be done (again until it is), and
    streaming the MP4 (read and dropped). No ledger, no files, no schedule, no retries: the floor
    under the engine's own cost, measured in the same process, right after it."""

    async def go() -> dict[str, float]:
        gate = asyncio.Semaphore(concurrency)
        headers = {"Authorization": f"Bearer {BENCH_KEY}"}
        transport = http_transport(url, httpx.Limits())
        polls = 0
        async with httpx.AsyncClient(
            base_url=url, headers=headers, transport=transport, timeout=60
        ) as client:

            async def job(n: int) -> None:
                nonlocal polls
                async with gate:
                    body = {
                        "model": "grok-imagine-video",
                        "prompt": f"floor job {n}: a paper boat on a river",
                        "duration": 1,
                        "aspect_ratio": "16:9",
                        "resolution": "480p",
                    }
                    answer = await client.post("/v1/videos/generations", json=body)
                    answer.raise_for_status()
                    request_id = answer.json()["request_id"]
                    while True:
                        await asyncio.sleep(RENDER_TIME * 1.5)
                        answer = await client.get(f"/v1/videos/{request_id}")
                        answer.raise_for_status()
                        polls += 1
                        if answer.json()["status"] == "done":
                            break
                    video_url = answer.json()["video"]["url"]
                    async with client.stream("GET", video_url) as download:
                        download.raise_for_status()
                        async for _ in download.aiter_raw(1 << 16):
                            pass

            await asyncio.gather(*(job(n) for n in range(WARM_UP_JOBS)))
            polls = 0
            cpu = time.process_time()
            await asyncio.gather(*(job(n) for n in range(count)))
            return {
                "cpu_ms": 1000 * (time.process_time() - cpu) / count,
                "polls_per_job": polls / count,
            }

    return asyncio.run(go())


def child_cpu(driver: Driver, jobs: int, no_av: bool, pairs: int) -> dict[str, Any]:
    """CPU of ``jobs`` jobs driven by the engine. With ``pairs``, the engine's run and the bare
    httpx floor's run alternate that many times in this process, so that both see the same
    machine (its speed drifts by tens of percent from minute to minute on a shared host)."""
    timer = DescribeTimer()
    url = str(driver.session.base_url)
    runs: list[dict[str, Any]] = []
    with media(no_av, timer):
        driver.run(WARM_UP_JOBS)
        for _ in range(max(1, pairs)):
            timer.seconds, timer.calls = 0.0, 0
            rss_before = rss_now_kib()
            answered = sim_counts(url)
            started, cpu0 = time.perf_counter(), time.process_time()
            planned = driver.record(driver.requests(jobs))
            cpu1 = time.process_time()
            statuses = driver.drive(planned)
            cpu2 = time.process_time()
            wall = time.perf_counter() - started
            answered = sim_counts(url) - answered
            run: dict[str, Any] = {
                "requests_per_job": {kind: answered[kind] / jobs for kind in REQUEST_KINDS},
                "jobs": jobs,
                "statuses": statuses,
                "record_cpu": cpu1 - cpu0,
                "drive_cpu": cpu2 - cpu1,
                "describe_cpu": timer.seconds,
                "describe_calls": timer.calls,
                "wall": wall,
                "rss_before_kib": rss_before,
                "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            }
            if pairs:
                run["http_floor"] = http_floor(url, driver.options.concurrency, jobs)
            runs.append(run)
    return {**runs[0], "pairs": runs if pairs else []}


def trimmed_rss_kib() -> int | None:
    """RSS after asking the C allocator (glibc) to return its free memory to the system: what is
    still in use, without the fragmentation the allocator keeps. None where there is no glibc."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        return None
    return rss_now_kib()


def sqlite_kib() -> int | None:
    """What SQLite holds (its page caches, up to 2 MiB per connection, fill as the ledger grows),
    where Python's sqlite3 uses the system's libsqlite3. None elsewhere."""
    try:
        used = ctypes.CDLL("libsqlite3.so.0").sqlite3_memory_used
    except (OSError, AttributeError):
        return None
    used.restype = ctypes.c_int64
    return int(used()) // KIB


def child_memory(driver: Driver, jobs: int, rounds: int, no_av: bool) -> dict[str, Any]:
    timer = DescribeTimer()
    with media(no_av, timer):
        driver.run(WARM_UP_JOBS)
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        measured: list[dict[str, Any]] = [
            {
                "round": 0,
                "retained": 0,
                "peak": 0,
                "rss_kib": rss_now_kib(),
                "trimmed_kib": None,
                "sqlite_kib": sqlite_kib(),
            }
        ]
        for number in range(1, rounds + 1):
            tracemalloc.reset_peak()
            statuses = driver.run(jobs)
            peak = tracemalloc.get_traced_memory()[1] - base
            gc.collect()
            retained = tracemalloc.get_traced_memory()[0] - base
            measured.append(
                {
                    "round": number,
                    "statuses": statuses,
                    "retained": retained,
                    "peak": peak,
                    "rss_kib": rss_now_kib(),
                    "trimmed_kib": trimmed_rss_kib(),
                    "sqlite_kib": sqlite_kib(),
                }
            )
        tracemalloc.stop()
    return {"jobs": jobs, "rounds": measured}


def child_main(args: Args, ns: argparse.Namespace) -> None:
    driver = Driver(ns.url, Path.cwd(), args.concurrency, args.rps)
    try:
        if ns.child == "cpu":
            result = child_cpu(driver, ns.jobs, ns.no_av, args.pairs)
        else:
            result = child_memory(driver, ns.jobs, args.rounds, ns.no_av)
    finally:
        driver.session.close()
    print(json.dumps(result))


# -- in the parent: run the children and report --------------------------------------------


def run_child(
    url: str,
    args: Args,
    mode: str,
    jobs: int,
    *,
    no_av: bool = False,
    rounds: int = 1,
    pairs: int = 0,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        mode,
        "--url",
        url,
        "--jobs",
        str(jobs),
        "--rounds",
        str(rounds),
        "-c",
        str(args.concurrency),
        "--rps",
        f"{args.rps:g}",
        "--pairs",
        str(pairs),
    ]
    if no_av:
        command.append("--no-av")
    overflows = listen_overflows()
    with workspace() as space:
        done = subprocess.run(
            command,
            cwd=space.project,
            env={**space.env(), **(env or {})},
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"child {mode} {jobs} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["overflows"] = overflow_row(overflows, listen_overflows())[1]
    return result


def cpu_rows(label: str, result: dict[str, Any]) -> list[Row]:
    jobs = result["jobs"]
    total = result["record_cpu"] + result["drive_cpu"]
    rss_growth = (result["maxrss_kib"] - result["rss_before_kib"]) / KIB
    rows: list[Row] = [
        (f"{label}: job outcomes", outcomes(result["statuses"]), f"{jobs} complete", ""),
        (f"{label}: CPU per job (ms)", f"{1000 * total / jobs:.2f}", "", ""),
        (f"{label}:   recording (ms/job)", f"{1000 * result['record_cpu'] / jobs:.2f}", "", ""),
        (f"{label}:   driving (ms/job)", f"{1000 * result['drive_cpu'] / jobs:.2f}", "", ""),
    ]
    if result["describe_calls"]:
        per_call = 1000 * result["describe_cpu"] / result["describe_calls"]
        rows.append((f"{label}:   of which probe+poster (ms/job)", f"{per_call:.2f}", "", ""))
    rows += [
        (
            f"{label}: wall (s), jobs/s",
            f"{result['wall']:.1f}, {jobs / result['wall']:.0f}",
            "",
            "",
        ),
        (f"{label}: peak RSS above start (MiB)", f"{rss_growth:.1f}", "", ""),
        (f"{label}: TCP listen-queue overflows", result["overflows"], "", ""),
    ]
    return rows


def outcomes(statuses: dict[str, int]) -> str:
    return ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))


def cpu_per_job_ms(result: dict[str, Any]) -> float:
    return 1000 * float(result["record_cpu"] + result["drive_cpu"]) / int(result["jobs"])


def summary_rows(
    with_av: dict[str, Any], without_av: dict[str, Any], growth: list[Row]
) -> list[Row]:
    """The engine's own CPU is the mean over the pairs of (engine run - floor run), each pair
    measured back to back in one process."""
    pairs = without_av["pairs"]
    totals = [cpu_per_job_ms(run) for run in pairs]
    floors = [run["http_floor"]["cpu_ms"] for run in pairs]
    owns = [total - floor for total, floor in zip(totals, floors, strict=True)]
    total, floor, own = (sum(values) / len(values) for values in (totals, floors, owns))
    everything = cpu_per_job_ms(with_av)
    jobs = without_av["jobs"]
    engine_requests = ", ".join(
        f"{count:.2f} {kind}" for kind, count in without_av["requests_per_job"].items()
    )
    floor_polls = pairs[0]["http_floor"]["polls_per_job"]
    each = " / ".join(f"{value:.2f}" for value in owns)
    return [
        (
            f"CPU per job, {jobs} jobs, no probe/poster, mean of {len(pairs)} runs (ms)",
            f"{total:.2f}",
            "",
            "",
        ),
        (f"  requests per job: {engine_requests}", "", "", ""),
        (
            f"  the same jobs with bare httpx, no imagine code ({floor_polls:.2f} polls/job),"
            " each run right after the engine's (ms)",
            f"{floor:.2f}",
            "",
            "",
        ),
        (
            f"  engine's own CPU per job: the rest, mean of {each} (ms)",
            f"{own:.2f}",
            f"< {TARGET_CPU_MS:g}",
            verdict(own, TARGET_CPU_MS),
        ),
        (f"CPU per job with probe+poster, {jobs} jobs (ms)", f"{everything:.2f}", "", ""),
        ("  probe+poster, by difference (ms/job)", f"{everything - total:.2f}", "", ""),
        *growth,
    ]


def peak_rows(results: list[dict[str, Any]]) -> list[Row]:
    """The peak of each run, and what each job beyond the smallest run's added to it: what a
    run holds per job until its end (for its summary), apart from what it holds at all."""
    rows: list[Row] = []
    for result in results:
        first, jobs = result["rounds"][1], result["jobs"]
        rows.append((f"{jobs} jobs: tracemalloc peak (MiB)", f"{first['peak'] / MIB:.2f}", "", ""))
        rows.append((f"{jobs} jobs: job outcomes", outcomes(first["statuses"]), "", ""))
    if len(results) > 1:
        small, large = results[0], results[-1]
        extra = (large["rounds"][1]["peak"] - small["rounds"][1]["peak"]) / KIB
        per_job = extra / (large["jobs"] - small["jobs"])
        label = f"peak added per job, {small['jobs']} → {large['jobs']} jobs (KiB)"
        rows.append((label, f"{per_job:.2f}", "", ""))
    return rows


def round_rows(result: dict[str, Any]) -> list[Row]:
    jobs = result["jobs"]
    rows: list[Row] = []
    for r in result["rounds"]:
        label = (
            f"after round {r['round']} ({r['round'] * jobs} jobs): "
            "heap; RSS; trimmed RSS; SQLite (MiB)"
        )
        trimmed = f"{r['trimmed_kib'] / KIB:.0f}" if r["trimmed_kib"] is not None else "-"
        held = f"{r['sqlite_kib'] / KIB:.2f}" if r.get("sqlite_kib") is not None else "-"
        measured = f"{r['retained'] / MIB:.2f}; {r['rss_kib'] / KIB:.0f}; {trimmed}; {held}"
        rows.append((label, measured, "", ""))
        if "statuses" in r:
            rows.append((f"  round {r['round']} outcomes", outcomes(r["statuses"]), "", ""))
    return rows


def growth_rows(result: dict[str, Any], label: str, *, judged: bool = True) -> list[Row]:
    """Memory still held, per job, over the rounds from round 2 on: the least-squares slope of
    what is held after each round against the jobs done, so that one round's noise (a megabyte
    either way is common) does not decide it the way two end points would.

    Rounds 1 and 2 also fill what is made once, or grows in steps: imports, pools, caches, the
    table of interned strings (pathlib interns every path part, and each job has its own file
    names), whose one resize of about 1 MiB lands in round 1 or 2, and SQLite's page cache,
    which fills to its cap of 2 MiB over the first 600 or so jobs. With rounds much smaller than
    the default 250 jobs, these land in the judged rounds and read as growth: the SQLite column
    of the rounds' table shows when its cache is full.
    """
    rounds, jobs = result["rounds"][2:], result["jobs"]
    if len(rounds) < 3:
        return [(f"memory growth per job ({label})", "n/a (needs 4+ rounds)", "", "")]
    target = TARGET_RETAINED_KIB_PER_JOB
    rows: list[Row] = []
    for name, key in (("heap", "retained"), ("RSS", "rss_kib"), ("trimmed RSS", "trimmed_kib")):
        if any(r[key] is None for r in rounds):
            continue
        scale = KIB if key == "retained" else 1
        per_job = slope([r["round"] * jobs for r in rounds], [r[key] / scale for r in rounds])
        # Raw RSS includes what the allocator keeps but does not use.
        judge = judged and key != "rss_kib"
        rows.append(
            (
                f"{name} growth per job, rounds 2 → {rounds[-1]['round']}, {label} (KiB)",
                f"{per_job:.2f}",
                f"< {target:g}" if judge else "",
                verdict(per_job, target) if judge else "",
            )
        )
    return rows


def slope(xs: list[float], ys: list[float]) -> float:
    """The least-squares slope of ys against xs."""
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def main() -> None:
    args, ns = parse_args()
    if ns.child:
        child_main(args, ns)
        return
    largest = max(args.sizes)
    with simulator("--render-time", f"{RENDER_TIME:g}") as url:
        run_child(url, args, "cpu", 64)  # the simulator encodes its clips (64 seeds) once, here
        with_av = {size: run_child(url, args, "cpu", size) for size in args.sizes}
        without_av = run_child(url, args, "cpu", largest, no_av=True, pairs=args.pairs)
        peaks = [run_child(url, args, "memory", size) for size in args.sizes]
        rounds = run_child(url, args, "memory", args.round_jobs, rounds=args.rounds)
        rounds_no_av = run_child(
            url, args, "memory", args.round_jobs, rounds=args.rounds, no_av=True
        )
        # The same rounds on the C library's allocator instead of CPython's small-object one:
        # tells fragmentation of pymalloc's arenas apart from memory still in use.
        rounds_malloc = run_child(
            url, args, "memory", args.round_jobs, rounds=args.rounds, no_av=True, env=SYSTEM_MALLOC
        )
    print(
        f"overhead: in-process engine, -c {args.concurrency} --rps {args.rps:g}, "
        f"sim render {RENDER_TIME:g}s ({machine()})"
    )
    growth = [
        *growth_rows(rounds, "probe+poster"),
        *growth_rows(rounds_no_av, "no probe/poster"),
        *growth_rows(rounds_malloc, "no probe/poster, PYTHONMALLOC=malloc", judged=False),
    ]
    print_table("summary", summary_rows(with_av[largest], without_av, growth))
    cpu: list[Row] = []
    for size, result in with_av.items():
        cpu += cpu_rows(f"{size} jobs, probe+poster", result)
    for number, run in enumerate(without_av["pairs"], 1):
        run["overflows"] = without_av["overflows"]  # counted over the whole child
        cpu += cpu_rows(f"{largest} jobs, no probe/poster, run {number}", run)
    print_table("CPU (each run in its own process, after a warm-up)", cpu)
    print_table("memory: peak while N jobs are queued at once (own process each)", peak_rows(peaks))
    title = f"memory: {args.rounds} rounds of {args.round_jobs} jobs in one process, after gc"
    print_table(f"{title}, probe+poster", round_rows(rounds))
    print_table(f"{title}, no probe/poster", round_rows(rounds_no_av))
    print_table(f"{title}, no probe/poster, PYTHONMALLOC=malloc", round_rows(rounds_malloc))


if __name__ == "__main__":
    main()
