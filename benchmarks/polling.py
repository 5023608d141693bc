"""Polling: how few polls `imagine` spends per job, and how soon it notices a job is done.

What it measures: N jobs (default 16) rendering T seconds ± jitter (default 20 s ± 20%), all
started at once (`imagine batch -c N --rps 50 -d 1`), against a simulator in its own process. From
the simulator's /sim/stats: polls received per job and the moment it finished each job
(`finish_at`); from the ledger: the moment the client noticed (`completed_at`). Detection lag =
completed_at − finish_at.

It runs the batch twice on the same IMAGINE_HOME: "cold" (no history: the first poll goes 1 s after
submission, then follows the reported progress) and "warm" (the first run taught the ledger how long
renders of this shape take, so the first poll aims near the expected finish). Then, on the same
simulator, a fixed 1-second loop for comparison (the interval the issue gives as the official SDK's
default): a small asyncio + httpx client in this script submits N jobs and polls each every 1.0 s
until done.

Targets (for imagine, cold and warm): mean polls per job ≤ 4; detection lag median ≤ 1 s and
p95 ≤ 2 s. p95 interpolates linearly between ranks (with 16 jobs it sits between the two slowest).

Run (about 1.5 minutes: three rounds of ~T + a few seconds):   python benchmarks/polling.py
Quick run:   python benchmarks/polling.py --render-time 6
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import httpx
from _harness import (
    BENCH_KEY,
    MODEL,
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

TARGET_POLLS = 4.0
TARGET_MEDIAN_LAG = 1.0
TARGET_P95_LAG = 2.0
BASELINE_INTERVAL = 1.0
FINAL = ("done", "failed", "expired")


@dataclass(frozen=True)
class Settings:
    jobs: int
    render_time: float
    jitter: float


@dataclass(frozen=True)
class Measured:
    name: str
    polls: list[int]
    lags: list[float]
    wall: float
    exit_code: int = 0

    @property
    def mean_polls(self) -> float:
        return mean(self.polls)


def parse_args() -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=16, help="jobs per round (default 16)")
    parser.add_argument("--render-time", type=float, default=20.0, help="T, mean seconds")
    parser.add_argument("--jitter", type=float, default=0.2, help="± fraction of T")
    args = parser.parse_args()
    return Settings(args.jobs, args.render_time, args.jitter)


# -- imagine ---------------------------------------------------------------------------------


def run_imagine(space: Workspace, url: str, settings: Settings, name: str) -> Measured:
    """One `imagine batch` round of fresh prompts (so nothing is reused from an earlier round)."""
    prompts = [f"polling {name} {n}: waves on a pier" for n in range(1, settings.jobs + 1)]
    batch_file = write_prompts(space.project / f"{name}.txt", prompts)
    command = imagine_command(
        "batch",
        str(batch_file),
        "-c",
        str(settings.jobs),
        "--rps",
        "50",
        "-d",
        "1",
        "--progress",
        "none",
        "-y",
        "--base-url",
        url,
    )
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=space.project, env=space.env(), capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        print(f"imagine batch ({name}) exited {done.returncode}; stderr:\n{done.stderr[-2000:]}")
    stats = sim_stats(url)
    rows = [row for row in ledger_rows(space.ledger) if row["prompt"] in set(prompts)]
    return Measured(
        name, polls_per_job(rows, stats), detection_lags(rows, stats), wall, done.returncode
    )


# -- the fixed 1-second loop -----------------------------------------------------------------


async def _submit(client: httpx.AsyncClient, prompt: str) -> str:
    body = {"model": MODEL, "prompt": prompt, "duration": 1, "aspect_ratio": "16:9"}
    response = await client.post("/v1/videos/generations", json=body)
    response.raise_for_status()
    request_id: str = response.json()["request_id"]
    return request_id


async def _poll_until_done(client: httpx.AsyncClient, request_id: str) -> tuple[int, float]:
    """Poll every BASELINE_INTERVAL seconds; the number of polls and when `done` was seen."""
    polls = 0
    while True:
        await asyncio.sleep(BASELINE_INTERVAL)
        response = await client.get(f"/v1/videos/{request_id}")
        polls += 1
        if response.status_code == 200 and response.json().get("status") in FINAL:
            return polls, time.time()


async def _fixed_loop(url: str, jobs: int) -> dict[str, tuple[int, float]]:
    headers = {"Authorization": f"Bearer {BENCH_KEY}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30.0) as client:
        prompts = [f"polling fixed-1s {n}: waves on a pier" for n in range(1, jobs + 1)]
        request_ids = await asyncio.gather(*(_submit(client, prompt) for prompt in prompts))
        seen = await asyncio.gather(*(_poll_until_done(client, rid) for rid in request_ids))
    return dict(zip(request_ids, seen, strict=True))


def run_fixed_loop(url: str, settings: Settings) -> Measured:
    started = time.perf_counter()
    seen = asyncio.run(_fixed_loop(url, settings.jobs))
    wall = time.perf_counter() - started
    stats = sim_stats(url)
    polls = [stats["polls"].get(rid, 0) for rid in seen]
    lags = [noticed - stats["jobs"][rid]["finish_at"] for rid, (_, noticed) in seen.items()]
    return Measured("fixed 1 s loop", polls, lags, wall)


# -- report ----------------------------------------------------------------------------------


def rows_for(run: Measured, *, judged: bool) -> list[Row]:
    median, p95 = percentile(run.lags, 0.5), percentile(run.lags, 0.95)

    def judge(value: float, target: float) -> tuple[str, str]:
        return (f"≤ {target:g}", verdict(value, target)) if judged else ("", "")

    return [
        (
            f"{run.name}: mean polls per job",
            f"{run.mean_polls:.2f}",
            *judge(run.mean_polls, TARGET_POLLS),
        ),
        (f"{run.name}: max polls for a job", str(max(run.polls, default=0)), "", ""),
        (f"{run.name}: lag median (s)", f"{median:.3f}", *judge(median, TARGET_MEDIAN_LAG)),
        (f"{run.name}: lag p95 (s)", f"{p95:.3f}", *judge(p95, TARGET_P95_LAG)),
        (f"{run.name}: lag max (s)", f"{max(run.lags, default=float('nan')):.3f}", "", ""),
        (f"{run.name}: wall (s)", f"{run.wall:.1f}", "", ""),
    ]


def main() -> None:
    settings = parse_args()
    knobs = ("--render-time", f"{settings.render_time:g}", "--jitter", f"{settings.jitter:g}")
    with workspace() as space, simulator(*knobs) as url:
        overflows = listen_overflows()
        cold = run_imagine(space, url, settings, "cold")
        warm = run_imagine(space, url, settings, "warm")
        fixed = run_fixed_loop(url, settings)
        totals: dict[str, Any] = sim_stats(url)
        overflow = overflow_row(overflows, listen_overflows())
    table = [
        *rows_for(cold, judged=True),
        *rows_for(warm, judged=True),
        *rows_for(fixed, judged=False),
        count_row("sim submissions (3 rounds)", totals["submissions"], 3 * settings.jobs),
        count_row("sim duplicate_bodies", totals["duplicate_bodies"], 0),
        count_row("imagine exit codes (cold, warm)", max(cold.exit_code, warm.exit_code), 0),
        overflow,
    ]
    title = (
        f"polling: {settings.jobs} jobs per round, T={settings.render_time:g}s "
        f"±{settings.jitter:.0%}, all started at once ({machine()})"
    )
    print_table(title, table)


if __name__ == "__main__":
    main()
