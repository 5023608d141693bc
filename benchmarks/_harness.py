"""What the benchmarks share: a simulator in its own process, a throwaway IMAGINE_HOME, the
simulator's counters, the ledger's rows, and a small table with PASS/MISS against each target.

Not a benchmark itself: the scripts beside it import it (``python benchmarks/NAME.py`` puts this
folder on ``sys.path``).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from imagine import clock

BENCH_KEY = "xai-bench-0000000000000000"
MODEL = "grok-imagine-video"
SIM_START_TIMEOUT = 30.0


@dataclass(frozen=True)
class Workspace:
    """A fresh IMAGINE_HOME and a project folder (renders land in ``project/renders``)."""

    root: Path

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def project(self) -> Path:
        return self.root / "project"

    @property
    def ledger(self) -> Path:
        return self.home / "ledger.sqlite3"

    def env(self) -> dict[str, str]:
        """The environment for an `imagine` command: this home, the simulator's key, nothing
        inherited that could point elsewhere."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGINE_", "XAI_"))}
        env.update(IMAGINE_HOME=str(self.home), XAI_API_KEY=BENCH_KEY, NO_COLOR="1")
        return env


@contextlib.contextmanager
def workspace() -> Iterator[Workspace]:
    """A fresh workspace, deleted when this script exits, not when the block ends.

    Deleting a run's thousands of files right before the next run makes that run pay for the
    deletion: for about a minute after many deletions, ext4 looks past every recently freed inode
    before it hands out a new one (``recently_deleted`` in a kernel profile), and each job
    creates two files. On the benchmark machine, creating a 64 KiB file cost 0.79 ms of CPU right
    after 4,000 deletions and 0.07 ms seventy seconds later: the engine's cost per job would
    swing with the harness's own cleanup."""
    folder = Path(tempfile.mkdtemp(prefix="space-", dir=_scratch()))
    space = Workspace(folder)
    space.home.mkdir()
    space.project.mkdir()
    yield space


@functools.cache
def _scratch() -> Path:
    root = Path(tempfile.mkdtemp(prefix="imagine-bench-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


@contextlib.contextmanager
def simulator(*knobs: str) -> Iterator[str]:
    """`imagine sim --port 0 KNOBS…` in its own process; yields its URL, stops it at the end."""
    command = [sys.executable, "-m", "imagine", "sim", "--port", "0", *knobs]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        yield _first_line(process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _first_line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url.startswith("http"):
        raise RuntimeError(f"the simulator did not start (exit {process.poll()}): {url!r}")
    deadline = time.monotonic() + SIM_START_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"{url}/sim/stats", timeout=2.0).raise_for_status()
            return url
        time.sleep(0.1)
    raise RuntimeError(f"the simulator at {url} did not answer within {SIM_START_TIMEOUT:g}s")


def sim_stats(url: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/sim/stats", timeout=30.0)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def imagine_command(*args: str) -> list[str]:
    """`imagine ARGS…` run by this interpreter, so the benchmark measures the install it runs in."""
    return [sys.executable, "-m", "imagine", *args]


def write_prompts(path: Path, prompts: Sequence[str]) -> Path:
    path.write_text("".join(f"{prompt}\n" for prompt in prompts))
    return path


def ledger_rows(ledger: Path) -> list[dict[str, Any]]:
    """Every job in the ledger, oldest first (read-only: the benchmark never writes to it)."""
    with contextlib.closing(sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT id, seq, status, prompt, request_id, submitted_at, completed_at,"
            " downloaded_at, poll_count FROM jobs ORDER BY seq"
        ).fetchall()
    return [dict(row) for row in rows]


def detection_lags(rows: Sequence[dict[str, Any]], stats: dict[str, Any]) -> list[float]:
    """Seconds from the simulator finishing each job (finish_at) to the client noticing
    (the ledger's completed_at, which is written when the done answer arrives)."""
    lags = []
    for row in rows:
        job = stats["jobs"].get(row["request_id"] or "")
        if job is not None and row["completed_at"]:
            lags.append(clock.parse(row["completed_at"]) - job["finish_at"])
    return lags


def polls_per_job(rows: Sequence[dict[str, Any]], stats: dict[str, Any]) -> list[int]:
    """Polls the simulator received for each job (its own count, not the client's)."""
    return [stats["polls"].get(row["request_id"], 0) for row in rows if row["request_id"]]


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default); NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def verdict(value: float, target: float, *, at_most: bool = True) -> str:
    if math.isnan(value):
        return "MISS"
    met = value <= target if at_most else value >= target
    return "PASS" if met else "MISS"


Row = tuple[str, str, str, str]  # metric, measured, target, PASS/MISS (or "")


def count_row(metric: str, value: int, expected: int) -> Row:
    """A count that must be exactly right (submissions, duplicates, completed jobs, exit code)."""
    return (metric, str(value), f"= {expected}", "PASS" if value == expected else "MISS")


def print_table(title: str, rows: Sequence[Row]) -> None:
    header: Row = ("metric", "measured", "target", "")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(4)]
    print(f"\n{title}")
    for row in (header, *rows):
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def listen_overflows() -> int | None:
    """The host's count of connections dropped because a listen queue was full (Linux only).

    The simulator is a threading HTTP server; when new connections come faster than it accepts
    them, the kernel drops them, and a client that had already sent its request sees the
    connection reset with no answer. Printed beside the results so such runs are recognisable.
    """
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(table.get("ListenOverflows", 0))
    return None


def overflow_row(before: int | None, after: int | None) -> Row:
    shown = str(after - before) if before is not None and after is not None else "n/a"
    return ("TCP listen-queue overflows (host, Linux)", shown, "", "")


def machine() -> str:
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, {sys.platform}"
