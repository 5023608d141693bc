"""A download runs on a thread of its own (engine/download.py): the event loop keeps its stall
window, hangs it up when it gives up or is cancelled, and redirects go to http(s) only."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from imagine.engine import download

BODY = bytes(range(256)) * (4 * 4096)  # 4 MiB
Serve = Callable[[str, dict[str, str], asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def host(serve: Serve) -> AsyncIterator[str]:
    """A loopback host: ``serve(path, headers, writer)`` answers each request."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            path = head[0].split()[1]
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in head[1:] if line)
            }
            await serve(path, headers, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with listener:
        yield f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"


def _downloads_running() -> list[str]:
    # (only the download's own: a media worker an earlier test of this process started may live on)
    return [t.name for t in threading.enumerate() if t.name.startswith("imagine-download")]


def test_a_cancelled_download_ends_at_once_and_leaves_nothing_writing(tmp_path: Path) -> None:
    # Half the body, then silence: the reading thread is blocked in a read whose timeout is the
    # stall window (60 s), and the cancel must not wait for it.
    async def serve(path: str, headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY))
        writer.write(BODY[: len(BODY) // 2])
        await writer.drain()
        await asyncio.sleep(60)

    final = tmp_path / "v.mp4"
    part = tmp_path / "v.mp4.part"

    async def go() -> float:
        async with host(serve) as url:
            task = asyncio.create_task(download.fetch(f"{url}/v.mp4", final))
            while not part.exists() or part.stat().st_size < download.CHUNK:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)  # the rest of what was sent comes in, and waits for more
            started = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return time.monotonic() - started

    took = asyncio.run(go())
    assert took < 2
    assert _downloads_running() == []
    # Everything that came is on disk (also the last, partial batch), for the resume.
    assert part.read_bytes() == BODY[: len(BODY) // 2]


def test_a_host_dripping_its_headers_is_cut_off_at_the_stall_window(tmp_path: Path) -> None:
    async def serve(path: str, headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.05)

    limits = download.Limits(stall_bytes=64, stall_seconds=0.5)

    async def go() -> None:
        async with host(serve) as url:
            await download.fetch(f"{url}/v.mp4", tmp_path / "v.mp4", limits=limits)

    started = time.monotonic()
    with pytest.raises(download.DownloadError, match="sent less than") as caught:
        asyncio.run(go())
    assert caught.value.resumable
    assert time.monotonic() - started < 3  # not the 50 s the drip would take
    assert not (tmp_path / "v.mp4.part").exists()


def test_a_redirect_to_ftp_fails_the_job_instead_of_retrying(tmp_path: Path) -> None:
    async def serve(path: str, headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 302 Found\r\nLocation: ftp://example.com/v.mp4\r\n")
        writer.write(b"Content-Length: 0\r\n\r\n")
        await writer.drain()

    async def go() -> None:
        async with host(serve) as url:
            await download.fetch(f"{url}/v.mp4", tmp_path / "v.mp4")

    with pytest.raises(download.DownloadError, match="redirected to a URL that is not http") as e:
        asyncio.run(go())
    assert not e.value.resumable and e.value.code == "bad_video_url"


def test_a_resume_follows_a_redirect_with_its_range(tmp_path: Path) -> None:
    seen: list[str] = []

    async def serve(path: str, headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
        if path == "/v.mp4":
            writer.write(b"HTTP/1.1 307 Temporary Redirect\r\nLocation: /cdn/v.mp4\r\n")
            writer.write(b"Content-Length: 0\r\n\r\n")
            return
        seen.append(headers.get("range", ""))
        start = int(headers["range"].removeprefix("bytes=").rstrip("-"))
        writer.write(b"HTTP/1.1 206 Partial Content\r\n")
        writer.write(b"Content-Range: bytes %d-%d/%d\r\n" % (start, len(BODY) - 1, len(BODY)))
        writer.write(b"Content-Length: %d\r\n\r\n" % (len(BODY) - start))
        writer.write(BODY[start:])
        await writer.drain()

    final = tmp_path / "v.mp4"
    (tmp_path / "v.mp4.part").write_bytes(BODY[:1000])

    async def go() -> download.Downloaded:
        async with host(serve) as url:
            return await download.fetch(f"{url}/v.mp4", final)

    done = asyncio.run(go())
    assert seen == ["bytes=1000-"]
    assert done.size == len(BODY) and done.sha256 == hashlib.sha256(BODY).hexdigest()
    assert done.part.read_bytes() == BODY


def test_a_url_http_client_refuses_fails_the_job_once(tmp_path: Path) -> None:
    async def go() -> None:
        await download.fetch("http://127.0.0.1:abc/v.mp4", tmp_path / "v.mp4")

    with pytest.raises(download.DownloadError, match="cannot be fetched") as caught:
        asyncio.run(go())
    assert not caught.value.resumable and caught.value.code == "bad_video_url"


@pytest.mark.parametrize("size", [64 * 1024, 3 * download.CHUNK + 12345])
def test_a_render_of_one_batch_is_written_without_a_writer_thread(
    tmp_path: Path, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A writer thread started and joined for every file was 4% of a big batch's CPU, for
    # renders of a few hundred KB: only a body larger than one batch (CHUNK) gets one.
    body = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    started: list[str] = []
    start = threading.Thread.start

    def spy(thread: threading.Thread) -> None:
        started.append(thread.name)
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", spy)

    async def serve(path: str, headers: dict[str, str], writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
        writer.write(body)
        await writer.drain()

    async def go() -> download.Downloaded:
        async with host(serve) as url:
            return await download.fetch(f"{url}/v.mp4", tmp_path / "v.mp4")

    done = asyncio.run(go())
    assert done.part.read_bytes() == body
    assert (done.size, done.sha256) == (size, hashlib.sha256(body).hexdigest())
    writers = [name for name in started if name.startswith("imagine-write")]
    assert bool(writers) == (size > download.CHUNK)
