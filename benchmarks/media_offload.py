"""Probe and poster off the event loop: a worker thread (``asyncio.to_thread``, what the engine
does) against a process pool, and inline on the loop as the reference.

Each job is what the engine's finish step does per render with the media extra: ``probe_video``
and ``write_poster`` on one MP4 (the simulator's kind of clip). While the jobs run, a ticker on
the event loop asks to wake every millisecond; how late it wakes is what every other job the loop
drives (polls, downloads) waits. Per mode: wall per job, this process's CPU per job (its threads
included), the pool process's CPU per job (process pool only), and the ticker's lateness.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from imagine.media.poster import write_poster
from imagine.media.probe import probe_video
from imagine.media.synth import write_clip


def describe(path: str) -> int:
    probe_video(Path(path))
    write_poster(Path(path), Path(path).with_suffix(".jpg"))
    return os.getpid()


def _warm() -> int:
    import av  # noqa: F401  (the pool pays for the import once, before the clock starts)

    return os.getpid()


async def _ticker(stop: asyncio.Event, late: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        due = loop.time() + 0.001
        await asyncio.sleep(0.001)
        late.append(loop.time() - due)


async def _run(
    clips: list[Path], concurrency: int, call: Callable[[str], Awaitable[object]]
) -> list[float]:
    late: list[float] = []
    stop = asyncio.Event()
    ticking = asyncio.create_task(_ticker(stop, late))
    gate = asyncio.Semaphore(concurrency)

    async def one(clip: Path) -> None:
        async with gate:
            await call(str(clip))

    await asyncio.gather(*(one(clip) for clip in clips))
    stop.set()
    await ticking
    return late


def _measure(name: str, clips: list[Path], concurrency: int) -> None:
    pool: concurrent.futures.ProcessPoolExecutor | None = None
    if name == "process pool":
        pool = concurrent.futures.ProcessPoolExecutor(1)
        pool.submit(_warm).result()

    async def inline(path: str) -> object:
        return describe(path)

    async def thread(path: str) -> object:
        return await asyncio.to_thread(describe, path)

    async def process(path: str) -> object:
        return await asyncio.get_running_loop().run_in_executor(pool, describe, path)

    call = {"inline": inline, "to_thread": thread, "process pool": process}[name]
    children = os.times()
    cpu, wall = time.process_time(), time.perf_counter()
    late = asyncio.run(_run(clips, concurrency, call))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    child_cpu = 0.0
    if pool is not None:
        pool.shutdown(wait=True)
        after = os.times()
        child_cpu = (after.children_user - children.children_user) + (
            after.children_system - children.children_system
        )
    n = len(clips)
    late.sort()
    p95 = late[int(0.95 * (len(late) - 1))] * 1000
    print(
        f"{name:13} wall {1000 * wall / n:7.1f} ms/job  CPU here {1000 * cpu / n:6.1f} ms/job"
        f"  pool process {1000 * child_cpu / n:6.1f} ms/job  loop late median "
        f"{statistics.median(late) * 1000:5.2f} ms p95 {p95:6.2f} ms max {late[-1] * 1000:6.1f} ms",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("-c", "--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imagine-bench-media-") as root:
        source = Path(root) / "clip.mp4"
        write_clip(source, width=848, height=480, seconds=6)
        clips = []
        for n in range(ns.jobs):
            clip = Path(root) / f"job{n}.mp4"
            os.link(source, clip)
            clips.append(clip)
        print(f"{ns.jobs} jobs (848x480, 6 s clip), {ns.concurrency} at once, {ns.rounds} rounds")
        for _ in range(ns.rounds):
            for name in ("inline", "to_thread", "process pool"):
                _measure(name, clips, ns.concurrency)


if __name__ == "__main__":
    main()
