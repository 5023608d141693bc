"""How long a big batch takes before its first job is sent, and how much memory it holds by then.

Writes a file of N distinct prompts, runs ``imagine batch FILE --no-wait`` against a simulator in
its own process, and reads the command's stderr line by line: the moment the first
``#1 submitted`` line appears is the time to first submission, and the process's peak resident
set (``VmHWM`` in /proc, Linux only) is read at that moment. The batch is then interrupted (its
jobs stay queued in a throwaway ledger). The same file's ``--dry-run`` is timed to its first body
on stdout and to its end.

    python benchmarks/first_submission.py               # 200,000 lines
    python benchmarks/first_submission.py --lines 20000 # quick
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import time
from pathlib import Path

from _harness import (
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


def measure(lines: int) -> list[tuple[str, str, str, str]]:
    with workspace() as space, simulator("--speed", "100") as url:
        batch = write_prompts(
            space.project / "big.txt", [f"scene {n}: a lantern over water" for n in range(lines)]
        )
        env = space.env()
        run = subprocess.Popen(
            imagine_command(
                "batch",
                str(batch),
                "--base-url",
                url,
                "--no-wait",
                "--rps",
                "1000",
                "-d",
                "1",
                "-y",
            ),
            cwd=space.project,
            env=env,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        first = _until(run, "#1 submitted", "stderr")
        rss = _peak_rss_mb(run.pid)
        cpu = _cpu_seconds(run.pid)
        run.send_signal(signal.SIGINT)
        run.communicate(timeout=120)

        started = time.monotonic()
        dry = subprocess.Popen(
            imagine_command("batch", str(batch), "--dry-run"),
            cwd=space.project,
            env=env,
            stderr=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        first_body = _until(dry, '"prompt"', "stdout")
        dry_rss = _peak_rss_mb(dry.pid)
        dry_cpu = _cpu_seconds(dry.pid)
        assert dry.stdout is not None
        for _ in dry.stdout:
            pass
        _, _, usage = os.wait4(dry.pid, 0)
        dry.returncode = 0
        dry_total = time.monotonic() - started
        dry_total_cpu = usage.ru_utime + usage.ru_stime
    return [
        (
            "time to first submission (s)",
            f"{first:.2f}",
            f"≤ {TARGET_SECONDS:g}",
            verdict(first, TARGET_SECONDS),
        ),
        ("CPU used by then (s)", f"{cpu:.2f}", "", ""),
        ("peak RSS at first submission (MB)", f"{rss:.0f}", "", ""),
        (
            "dry run: time to first body (s)",
            f"{first_body:.2f}",
            f"≤ {TARGET_SECONDS:g}",
            verdict(first_body, TARGET_SECONDS),
        ),
        ("dry run: CPU used by then (s)", f"{dry_cpu:.2f}", "", ""),
        ("dry run: peak RSS at first body (MB)", f"{dry_rss:.0f}", "", ""),
        ("dry run: total (s)", f"{dry_total:.1f}", "", ""),
        ("dry run: total CPU (s)", f"{dry_total_cpu:.1f}", "", ""),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=200_000, help="prompts in the batch file")
    args = parser.parse_args()
    print_table(f"imagine batch of {args.lines:,} lines", measure(args.lines))


if __name__ == "__main__":
    main()
