"""Throughput: how close `imagine batch` gets to the ideal time for a batch of jobs.

What it measures: the wall time of one whole `imagine batch FILE -c C --rps R -d 1 --progress none`
command (process start to exit, downloads, probes and sidecars included) over N distinct prompts,
against a simulator in its own process rendering each job in T seconds ± jitter.

Target: wall ÷ ideal ≤ 1.15, where ideal = max(N ÷ R, N × T ÷ C) (start pacing or the concurrency
cap, whichever binds; 50 s for the defaults). Also: the simulator saw exactly N submissions and no
duplicate body (nothing was paid for twice), and every job completed.

Run (about a minute):   python benchmarks/throughput.py
Quick run (~12 s):      python benchmarks/throughput.py --jobs 40
"""

from __future__ import annotations

import argparse
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from _harness import (
    Row,
    Workspace,
    count_row,
    detection_lags,
    imagine_command,
    ledger_rows,
    listen_overflows,
    machine,
    mean,
    overflow_row,
    percentile,
    polls_per_job,
    print_table,
    sim_stats,
    simulator,
    verdict,
    workspace,
    write_prompts,
)

from imagine import clock

TARGET_RATIO = 1.15


@dataclass(frozen=True)
class Settings:
    jobs: int
    render_time: float
    jitter: float
    concurrency: int
    rps: float

    @property
    def ideal(self) -> float:
        return max(self.jobs / self.rps, self.jobs * self.render_time / self.concurrency)


@dataclass(frozen=True)
class Run:
    wall: float
    started_at: float  # unix time, to line up with the simulator's and the ledger's clocks
    ended_at: float
    exit_code: int
    stats: dict[str, Any]
    rows: list[dict[str, Any]]
    overflows: Row


def parse_args() -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200, help="distinct prompts (default 200)")
    parser.add_argument("--render-time", type=float, default=2.0, help="T, mean seconds")
    parser.add_argument("--jitter", type=float, default=0.2, help="± fraction of T")
    parser.add_argument("-c", "--concurrency", type=int, default=8)
    parser.add_argument("--rps", type=float, default=50.0)
    args = parser.parse_args()
    return Settings(args.jobs, args.render_time, args.jitter, args.concurrency, args.rps)


def run_batch(space: Workspace, url: str, settings: Settings) -> Run:
    prompts = [f"throughput job {n}: a lighthouse at dusk" for n in range(1, settings.jobs + 1)]
    batch_file = write_prompts(space.project / "prompts.txt", prompts)
    command = imagine_command(
        "batch",
        str(batch_file),
        "-c",
        str(settings.concurrency),
        "--rps",
        f"{settings.rps:g}",
        "-d",
        "1",
        "--progress",
        "none",
        "-y",
        "--base-url",
        url,
    )
    overflows = listen_overflows()
    started_at, started = time.time(), time.perf_counter()
    done = subprocess.run(
        command, cwd=space.project, env=space.env(), capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    ended_at = started_at + wall
    if done.returncode != 0:
        print(f"imagine batch exited {done.returncode}; stderr:\n{done.stderr[-2000:]}")
    overflow = overflow_row(overflows, listen_overflows())
    stats, rows = sim_stats(url), ledger_rows(space.ledger)
    return Run(wall, started_at, ended_at, done.returncode, stats, rows, overflow)


def report(settings: Settings, run: Run) -> None:
    stats, rows = run.stats, run.rows
    ratio = run.wall / settings.ideal
    complete = sum(1 for row in rows if row["status"] == "complete")
    lags = detection_lags(rows, stats)
    table: list[Row] = [
        ("wall time (s)", f"{run.wall:.1f}", "", ""),
        ("ideal (s)", f"{settings.ideal:.1f}", "", ""),
        ("wall / ideal", f"{ratio:.3f}", f"≤ {TARGET_RATIO}", verdict(ratio, TARGET_RATIO)),
        count_row("jobs complete", complete, settings.jobs),
        count_row("exit code", run.exit_code, 0),
        count_row("sim submissions", stats["submissions"], settings.jobs),
        count_row("sim duplicate_bodies", stats["duplicate_bodies"], 0),
        ("sim rate_limited (429)", str(stats["rate_limited"]), "", ""),
        ("mean polls per job", f"{mean(polls_per_job(rows, stats)):.2f}", "", ""),
        ("detection lag median (s)", f"{percentile(lags, 0.5):.3f}", "", ""),
        ("detection lag p95 (s)", f"{percentile(lags, 0.95):.3f}", "", ""),
        run.overflows,
    ]
    title = (
        f"throughput: {settings.jobs} jobs, T={settings.render_time:g}s ±{settings.jitter:.0%}, "
        f"-c {settings.concurrency} --rps {settings.rps:g} ({machine()})"
    )
    print_table(title, [*table, *breakdown(run, settings.concurrency)])


def breakdown(run: Run, concurrency: int) -> list[Row]:
    """Where the time beyond the ideal went: before the first submission, slots held longer than
    the render (detection lag, refill), and after the last render was noticed."""
    spans = []
    for row in run.rows:
        job = run.stats["jobs"].get(row["request_id"] or "")
        if job is not None and row["completed_at"]:
            done = clock.parse(row["completed_at"])
            spans.append((job["created_at"], job["finish_at"], done))
    if not spans:
        return []
    first_start = min(start for start, _, _ in spans)
    last_done = max(done for _, _, done in spans)
    held = sum(done - start for start, _, done in spans)
    return [
        ("  first submission after (s)", f"{first_start - run.started_at:.2f}", "", ""),
        ("  mean render at the sim (s)", f"{mean([f - s for s, f, _ in spans]):.3f}", "", ""),
        ("  mean slot held (s)", f"{held / len(spans):.3f}", "", ""),
        ("  mean refill gap (s)", f"{mean(refill_gaps(spans, concurrency)):.3f}", "", ""),
        ("  mean renders in flight", f"{held / (last_done - first_start):.2f}", "", ""),
        ("  exit after last detection (s)", f"{run.ended_at - last_done:.2f}", "", ""),
    ]


def refill_gaps(spans: list[tuple[float, float, float]], concurrency: int) -> list[float]:
    """Seconds from each render being noticed done to the next render starting at the simulator
    (the k-th detection frees the slot the (C+k)-th submission takes)."""
    starts = sorted(start for start, _, _ in spans)[concurrency:]
    detections = sorted(done for _, _, done in spans)
    return [start - done for start, done in zip(starts, detections, strict=False)]


def main() -> None:
    settings = parse_args()
    knobs = ("--render-time", f"{settings.render_time:g}", "--jitter", f"{settings.jitter:g}")
    with workspace() as space, simulator(*knobs) as url:
        run = run_batch(space, url, settings)
    report(settings, run)


if __name__ == "__main__":
    main()
