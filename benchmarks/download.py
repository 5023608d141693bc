"""A large download from loopback: the engine's fetch and commit against `curl -o` + `sync`.

One simulator in this process serves one job's video padded to --size-mb MiB (the ``video_bytes``
knob: the clip, then a ``free`` box, sent from disk with sendfile). Each round fetches it with
curl then ``sync`` (the engine fsyncs before it renames), with curl then ``sync FILE`` (only
curl's own file flushed, as the engine's fsync does: ``sync`` also waits for every other
process's writes) and with the engine's own download path in a fresh Python process
(``download.fetch`` + ``commit``, with a progress hook like the live display's), interleaved, each
round starting with the next side. Each side is the whole process: wall and CPU (user + system)
from ``os.wait4``, peak RSS from GNU time. Figures are medians over --rounds. Target (issue 14):
imagine's throughput ≥ 0.8× curl's, peak RSS < 100 MB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from imagine.sim import SimConfig, Simulator

KEY = "xai-bench-0000000000000000"
# curl then `sync` (the issue's anchor: it flushes every file on the machine, others' too), curl
# then `sync FILE` (only its own file, as imagine's fsync), and imagine.
SIDES = ("curl", "imagine", "curl+fsync")
GNU_TIME = shutil.which("time") or "/usr/bin/time"  # GNU time (Debian: apt install time)

FETCH = """
import asyncio, sys
from pathlib import Path
from imagine.engine import download


calls = 0

def progress(have, total):
    global calls
    calls += 1

async def main(url, final):
    done = await download.fetch(url, final, progress)
    await asyncio.to_thread(download.commit, done.part, final)
    print(done.size, calls)

asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
"""


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    rss_mb: float


def _measure(argv: list[str], then: list[str] | None = None) -> tuple[Run, str]:
    """Wall, CPU and peak RSS of ``argv`` (plus ``then``, run after it, in wall and CPU).

    The peak RSS comes from GNU time: a child forked from this process (a simulator, httpx)
    counts this process's pages as its own until it execs, so wait4's figure would be ours."""
    start = time.perf_counter()
    handle, rss_name = tempfile.mkstemp(prefix="rss-")
    os.close(handle)
    process = subprocess.Popen(
        [GNU_TIME, "-f", "%M", "-o", rss_name, *argv], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        sys.exit(f"{argv[0]} failed with {process.returncode}")
    cpu = usage.ru_utime + usage.ru_stime
    if then:
        before = os.times()
        subprocess.run(then, check=True)
        after = os.times()
        cpu += (after.children_user - before.children_user) + (
            after.children_system - before.children_system
        )
    wall = time.perf_counter() - start
    rss_kib = int(Path(rss_name).read_text().split()[-1])
    os.unlink(rss_name)
    return Run(wall, cpu, rss_kib / 1024), out


def _video_url(sim: Simulator) -> str:
    with httpx.Client(base_url=sim.url, headers={"Authorization": f"Bearer {KEY}"}) as api:
        body = {"model": "grok-imagine-video", "prompt": "a lighthouse", "duration": 1}
        request_id = api.post("/v1/videos/generations", json=body).json()["request_id"]
        while (answer := api.get(f"/v1/videos/{request_id}")).status_code == 202:
            time.sleep(0.05)
        url: str = answer.json()["video"]["url"]
    # The padded file is written on the first request: on a busy disk that takes a while.
    with httpx.Client(timeout=300) as media:
        media.get(url, headers={"Range": "bytes=0-0"})
    return url


def _row(name: str, runs: list[Run], size: int) -> tuple[float, float, float]:
    wall = statistics.median(r.wall for r in runs)
    cpu = statistics.median(r.cpu for r in runs)
    rss = max(r.rss_mb for r in runs)
    print(
        f"{name:10} {wall:7.2f} s {size / wall / 1e6:8.0f} MB/s {cpu:7.2f} s CPU {rss:7.0f} MB peak RSS"
        f"   (walls {' '.join(f'{r.wall:.2f}' for r in runs)})"
    )
    return wall, cpu, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="file size in MiB (1024)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each (default 3)")
    args = parser.parse_args()
    size = args.size_mb << 20
    with tempfile.TemporaryDirectory(prefix="imagine-bench-dl-") as root:
        config = SimConfig(render_time=0, video_bytes=size, state_dir=Path(root) / "sim")
        with Simulator(config).start() as sim:
            url = _video_url(sim)
            target = Path(root) / "out.mp4"
            curl = ["curl", "-sS", "--fail", "-o", str(target), url]
            ours = [sys.executable, "-c", FETCH, url, str(target)]
            results: dict[str, list[Run]] = {name: [] for name in SIDES}
            progress_calls = ""
            for index in range(len(SIDES) * args.rounds):
                # Each round starts with the next side: no side always runs first.
                name = SIDES[(index + index // len(SIDES)) % len(SIDES)]
                target.unlink(missing_ok=True)
                subprocess.run(["sync"], check=True)
                if name == "curl":
                    run, _ = _measure(curl, then=["sync"])
                elif name == "curl+fsync":
                    run, _ = _measure(curl, then=["sync", str(target)])
                else:
                    run, out = _measure(ours)
                    got, progress_calls = out.split()
                    assert int(got) == size, f"imagine fetched {got} of {size} bytes"
                assert target.stat().st_size == size
                results[name].append(run)
                print(f"{name}: {run.wall:.2f} s", file=sys.stderr, flush=True)
            target.unlink(missing_ok=True)
    print(f"{args.size_mb} MiB from the simulator on loopback, median of {args.rounds}:")
    curl_wall, curl_cpu, _ = _row("curl", results["curl"], size)
    file_wall, file_cpu, _ = _row("curl+fsync", results["curl+fsync"], size)
    our_wall, our_cpu, our_rss = _row("imagine", results["imagine"], size)
    print(f"progress hook calls in the last imagine run: {progress_calls}")
    ratio = curl_wall / our_wall
    print(
        f"throughput imagine/curl: {ratio:.2f}x (target >= 0.8: {'PASS' if ratio >= 0.8 else 'MISS'})"
        f"; CPU imagine/curl {our_cpu / curl_cpu:.2f}x"
        f"; peak RSS {our_rss:.0f} MB (target < 100: {'PASS' if our_rss < 100 else 'MISS'})"
    )
    print(
        f"against curl + `sync FILE` (its own file flushed, as imagine's fsync does): "
        f"{file_wall / our_wall:.2f}x throughput, CPU {our_cpu / file_cpu:.2f}x"
    )


if __name__ == "__main__":
    main()
