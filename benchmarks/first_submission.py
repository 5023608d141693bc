"""How long a big batch takes before its first job is sent, and how much memory it holds by then.

Writes a file of N distinct prompts, runs ``imagine batch FILE --no-wait`` against a simulator in
its own process, and reads the command's stderr line by line: the moment the first
``#1 submitted`` line appears is the time to first submission, and the process's peak resident
set (``VmHWM`` in /proc, Linux only) is read at that moment. The batch is then interrupted (its
jobs stay queued in a throwaway ledger). The anchor, measured in the same run, is the same command
on a one-line file: the fixed cost of starting any batch.

    python benchmarks/first_submission.py                       # 1k/20k/200k lines; 10k jobs
    python benchmarks/first_submission.py --lines 20000 --jobs 0  # quick
    python benchmarks/first_submission.py --lines '' --jobs 2000,10000 --before OLD/src

A whole batch (``--jobs``, default 10,000) is also run to its end against a simulator at top
speed, with probe and poster and without (``--media``): jobs per second, the client's CPU per
job and its peak RSS (``ru_maxrss``), beside the simulator's CPU per job in the same run. With
``--before``, the same batch is run first on another checkout's code (``PYTHONPATH``).
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


# `imagine` with the media extra hidden from the engine: no probe, no poster (the rest as shipped).
_NO_MEDIA = (
    "import runpy, sys, imagine.media; imagine.media.have_av = lambda: False; "
    "sys.argv[0] = 'imagine'; runpy.run_module('imagine', run_name='__main__')"
)


def _batch_command(media: bool, *args: str) -> list[str]:
    return imagine_command(*args) if media else [sys.executable, "-c", _NO_MEDIA, *args]


def _one_batch(
    url: str, sim: subprocess.Popen[str], jobs: int, concurrency: int, media: bool, src: str | None
) -> tuple[int, float, float, float, float]:
    """Exit code, wall seconds, client CPU ms per job, client peak RSS (MB), simulator CPU ms per
    job of one whole batch; ``src``: run the code of that ``src/`` folder (another checkout)."""
    with workspace() as space:
        batch = write_prompts(
            space.project / "whole.txt", [f"job {n}: a lantern over water" for n in range(jobs)]
        )
        env = space.env()
        if src:
            env["PYTHONPATH"] = src
        sim_before = _cpu_seconds(sim.pid)
        started = time.monotonic()
        run = subprocess.Popen(
            _batch_command(
                media, "batch", str(batch), "--base-url", url, "--rps", "1000", "-c",
                str(concurrency), "-d", "1", "-y", "--progress", "none",
            ),
            cwd=space.project,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _, status, usage = os.wait4(run.pid, 0)
        wall = time.monotonic() - started
        sim_cpu = _cpu_seconds(sim.pid) - sim_before
    cpu_ms = (usage.ru_utime + usage.ru_stime) * 1000 / jobs
    code = os.waitstatus_to_exitcode(status)
    return code, wall, cpu_ms, usage.ru_maxrss / 1024, sim_cpu * 1000 / jobs


def whole_batch(
    sizes: list[int], concurrency: int, before: str | None, media: list[bool]
) -> list[tuple[str, str, str, str]]:
    """Whole batches run to the end against a simulator at top speed, with probe and poster and
    without: jobs per second, the client's CPU per job, its peak RSS; the simulator's own CPU per
    job, measured in the same run, is the anchor. With ``before`` (another checkout's ``src/``),
    each batch is run on that code first, then on this one, side by side."""
    rows = []
    sim, url = _sim_process("--speed", "1000")
    try:
        for jobs in sizes:
            for with_media in media:
                kind = "probe+poster" if with_media else "no probe/poster"
                target = 8.0 if with_media else 4.0
                for code_name, src in [("before", before)] * bool(before) + [("this", None)]:
                    code, wall, cpu_ms, rss, sim_ms = _one_batch(
                        url, sim, jobs, concurrency, with_media, src
                    )
                    name = f"{jobs:,} jobs, -c {concurrency}, {kind}" + (
                        f", {code_name} code" if before else ""
                    )
                    # Each run as it ends: a series of hour-long runs cut short keeps its figures.
                    print(
                        f"{name}: exit {code}, {jobs / wall:.1f} jobs/s, {cpu_ms:.2f} ms CPU/job"
                        f" (simulator {sim_ms:.2f}), peak RSS {rss:.0f} MB",
                        flush=True,
                    )
                    rows += [
                        (f"{name}: exit code, jobs/s", f"{code}, {jobs / wall:.1f}", "0", ""),
                        (
                            f"{name}: client CPU per job (ms)",
                            f"{cpu_ms:.2f} (simulator {sim_ms:.2f} ms/job)",
                            f"≤ {target:g}",
                            verdict(cpu_ms, target),
                        ),
                        (f"{name}: client peak RSS (MB)", f"{rss:.0f}", "≤ 120", verdict(rss, 120)),
                    ]
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--lines", default="1000,20000,200000", help="batch sizes, comma-separated (prompts)"
    )
    parser.add_argument(
        "--jobs", default="10000", help="whole batches run to their end, comma-separated (jobs)"
    )
    parser.add_argument("-c", "--concurrency", type=int, default=64)
    parser.add_argument(
        "--media", choices=["both", "on", "off"], default="both", help="probe and poster or not"
    )
    parser.add_argument(
        "--before", metavar="SRC", help="another checkout's src/ to run each whole batch on first"
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.lines.split(",") if size]
    rows = measure(sizes) if sizes else []
    batches = [int(size) for size in args.jobs.split(",") if size and int(size)]
    media = {"both": [True, False], "on": [True], "off": [False]}[args.media]
    if batches:
        rows += whole_batch(batches, args.concurrency, args.before, media)
    print_table("imagine batch: first submission, throughput and memory", rows)


if __name__ == "__main__":
    main()
