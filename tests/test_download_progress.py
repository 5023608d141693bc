"""Progress events of a download are rate-limited by a clock, not sent per piece read."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from imagine.engine import download

BODY = bytes(range(256)) * (8 * 4096)  # 8 MiB


@asynccontextmanager
async def file_host(body: bytes) -> AsyncIterator[str]:
    """A loopback host that answers any GET with ``body``, written in 64 KiB pieces."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
            for start in range(0, len(body), 1 << 16):
                writer.write(body[start : start + (1 << 16)])
                await writer.drain()
        finally:
            writer.close()

    listener = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with listener:
        yield f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}/v.mp4"


def _fetch(tmp_path: Path, clock: Callable[[], float]) -> tuple[list[int], download.Downloaded]:
    seen: list[int] = []

    async def go() -> download.Downloaded:
        async with file_host(BODY) as url:
            return await download.fetch(
                url, tmp_path / "v.mp4", lambda have, total: seen.append(have), clock=clock
            )

    return seen, asyncio.run(go())


def test_a_clock_that_stands_still_gets_only_the_final_progress_event(tmp_path: Path) -> None:
    seen, done = _fetch(tmp_path, clock=lambda: 0.0)
    assert seen == [len(BODY)]
    assert done.sha256 == hashlib.sha256(BODY).hexdigest()


@pytest.mark.parametrize("step", [0.01, 0.05])
def test_progress_events_are_at_most_one_per_interval(tmp_path: Path, step: float) -> None:
    ticks = 0

    def clock() -> float:
        nonlocal ticks
        ticks += 1
        return ticks * step

    seen, done = _fetch(tmp_path, clock)
    # The clock covers ticks * step seconds in all: one event per PROGRESS_EVERY, plus the last.
    assert len(seen) <= ticks * step / download.PROGRESS_EVERY + 1
    assert seen == sorted(seen) and seen[-1] == len(BODY) == done.size


def test_a_clock_that_races_gives_an_event_per_batch_not_per_read(tmp_path: Path) -> None:
    seen, _ = _fetch(tmp_path, clock=iter(range(10**6)).__next__)
    # 8 MiB read in 64 KiB pieces is 128 reads; events come per handed-on batch (about 1 MiB).
    assert 2 <= len(seen) <= len(BODY) // download.CHUNK + 1
