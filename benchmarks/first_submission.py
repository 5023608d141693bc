"""How long a big batch takes before its first job is sent, and how much memory it holds by then.

Writes a file of N distinct prompts, runs ``imagine batch FILE --no-wait`` against a simulator in
its own process, and reads the command's stderr line by line: the moment the first
``#1 submitted`` line appears is the time to first submission, and the process's peak resident
set (``VmHWM`` in /proc, Linux only) is read at that moment. The batch is then interrupted (its
jobs stay queued in a throwaway ledger). The anchor, measured in the same run, is the same command
on a one-line file: the fixed cost of starting any batch.

    python benchmarks/first_submission.py                       # 1k/20k/200k lines; 10k jobs
    python benchmarks/first_submission.py --lines 20000 --jobs 0  # quick

A whole batch (``--jobs``, default 10,000) is also run to its end against a simulator at top
speed: jobs per second, the client's CPU per job and its peak RSS (``ru_maxrss``), beside the
simulator's CPU per job in the same run.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from _harness import (
    Workspace,
    imagine_command,
    print_table,
    simulator,
    verdict,
    workspace,
    write_prompts,
)

TARGET_SECONDS = 2.0


def _peak_rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan")
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    """User and system CPU the process has used so far: on a busy machine, wall time says as
    much about the neighbours as about the command."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _until(process: subprocess.Popen[str], marker: str, stream: str) -> float:
    """Seconds from now until a line containing ``marker`` appears on the process's stream."""
    start = time.monotonic()
    pipe = process.stderr if stream == "stderr" else process.stdout
    assert pipe is not None
    for line in pipe:
        if marker in line:
            return time.monotonic() - start
    return float("nan")


def _first_submission(url: str, space: Workspace, lines: int) -> tuple[float, float, float]:
    """Seconds to the first ``#1 submitted`` line of a batch of ``lines`` prompts, the CPU the
    command used by then, and its peak RSS then (MB). The batch is then interrupted."""
    batch = write_prompts(
        space.project / f"big-{lines}.txt",
        [f"scene {n} of {lines}: a lantern over water" for n in range(lines)],
    )
    run = subprocess.Popen(
        imagine_command(
            "batch", str(batch), "--base-url", url, "--no-wait", "--rps", "1000", "-d", "1", "-y",
        ),
        cwd=space.project,
        env=space.env(),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    first = _until(run, " submitted: ", "stderr")
    rss = _peak_rss_mb(run.pid)
    cpu = _cpu_seconds(run.pid)
    run.send_signal(signal.SIGINT)
    run.communicate(timeout=300)
    return first, cpu, rss


def measure(sizes: list[int]) -> list[tuple[str, str, str, str]]:
    """Time to first submission at each size, beside the same command on a one-line file (the
    fixed cost of starting a batch) measured in the same run."""
    rows = []
    with simulator("--speed", "100") as url:
        with workspace() as space:  # (each batch on a ledger of its own: the slots are free)
            anchor, anchor_cpu, _ = _first_submission(url, space, 1)
        rows.append(("anchor: 1-line batch, time to first submission (s)", f"{anchor:.2f}", "", ""))
        for lines in sizes:
            with workspace() as space:
                first, cpu, rss = _first_submission(url, space, lines)
            rows += [
                (
                    f"{lines:,} lines: time to first submission (s)",
                    f"{first:.2f} ({first / anchor:.2f}× anchor)",
                    f"≤ {TARGET_SECONDS:g}",
                    verdict(first, TARGET_SECONDS),
                ),
                (
                    f"{lines:,} lines: CPU used by then (s)",
                    f"{cpu:.2f} (anchor {anchor_cpu:.2f})",
                    "",
                    "",
                ),
                (f"{lines:,} lines: peak RSS by then (MB)", f"{rss:.0f}", "", ""),
            ]
    return rows


def _sim_process(*knobs: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "imagine", "sim", "--port", "0", *knobs],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    time.sleep(1.0)
    return process, url


def whole_batch(jobs: int, concurrency: int) -> list[tuple[str, str, str, str]]:
    """A whole batch of ``jobs`` run to the end against a simulator at top speed (probe and
    poster included): jobs per second, the client's CPU per job, its peak RSS; the simulator's
    own CPU per job, measured in the same run, is the anchor."""
    sim, url = _sim_process("--speed", "1000")
    try:
        with workspace() as space:
            batch = write_prompts(
                space.project / "whole.txt", [f"job {n}: a lantern over water" for n in range(jobs)]
            )
            sim_before = _cpu_seconds(sim.pid)
            started = time.monotonic()
            run = subprocess.Popen(
                imagine_command(
                    "batch", str(batch), "--base-url", url, "--rps", "1000", "-c",
                    str(concurrency), "-d", "1", "-y", "--progress", "none",
                ),
                cwd=space.project,
                env=space.env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            _, status, usage = os.wait4(run.pid, 0)
            run.returncode = os.waitstatus_to_exitcode(status)
            wall = time.monotonic() - started
            sim_cpu = _cpu_seconds(sim.pid) - sim_before
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    cpu_ms = (usage.ru_utime + usage.ru_stime) * 1000 / jobs
    rss = usage.ru_maxrss / 1024
    return [
        (f"whole batch of {jobs:,} (-c {concurrency}): exit code", str(run.returncode), "0", ""),
        ("jobs per second", f"{jobs / wall:.1f}", "", ""),
        (
            "client CPU per job (ms)",
            f"{cpu_ms:.2f} (simulator {sim_cpu * 1000 / jobs:.2f} ms/job)",
            "≤ 8",
            verdict(cpu_ms, 8.0),
        ),
        ("client peak RSS (MB)", f"{rss:.0f}", "≤ 120 at 10k", verdict(rss, 120.0)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--lines", default="1000,20000,200000", help="batch sizes, comma-separated (prompts)"
    )
    parser.add_argument("--jobs", type=int, default=10_000, help="a whole batch run to its end")
    parser.add_argument("-c", "--concurrency", type=int, default=64)
    args = parser.parse_args()
    sizes = [int(size) for size in args.lines.split(",") if size]
    rows = measure(sizes) if sizes else []
    if args.jobs:
        rows += whole_batch(args.jobs, args.concurrency)
    print_table("imagine batch: first submission, throughput and memory", rows)


if __name__ == "__main__":
    main()
