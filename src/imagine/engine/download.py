"""A download is a file transaction: stream to NAME.part, resume with Range, check the length, hash,
and only then rename (``commit``). A short download is an error, never a complete-looking file.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import errno
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from imagine.errors import ExitCode, ImagineError
from imagine.printable import printable
from imagine.render_files import RenderFiles

MIB = 1 << 20
# Bytes handed to the writer thread at a time: a 1 GB file written in 64 KiB pieces on the event
# loop was 16,384 writes, hash updates and progress events between reads.
CHUNK = MIB
# Batches handed to the writer thread and not yet written: the memory a download may hold.
IN_FLIGHT = 4
PROGRESS_EVERY = 0.1  # seconds between progress events: a display needs no more than 10 a second
DOWNLOAD_TIMEOUT = httpx.Timeout(connect=15.0, read=60.0, write=30.0, pool=30.0)
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}

ProgressHook = Callable[[int, int | None], None]


@dataclass(frozen=True)
class Limits:
    """What a file host may ask of us. ``max_bytes``: the largest file taken (the
    ``max_download_mb`` setting). A download that brings fewer than ``stall_bytes`` in
    ``stall_seconds`` (the answer's headers included) is cut off and resumed later: a host that
    drips a byte at a time passes every read timeout."""

    max_bytes: int = 2048 * MIB
    stall_bytes: int = 64 * 1024
    stall_seconds: float = 60.0


class DownloadError(Exception):
    """A download that did not finish; ``resumable`` says whether trying again may help. One
    that is not fails its job, with ``code`` as the reason."""

    def __init__(self, message: str, *, resumable: bool = True, code: str = "download") -> None:
        super().__init__(message)
        self.resumable = resumable
        self.code = code


class SaveFailed(ImagineError):
    """The render could not be written to disk (no space left, most often). The job keeps its
    place and its ``.part``: `imagine wait` carries on once there is room."""

    exit_code = ExitCode.UNREACHABLE


def save_failed(error: OSError, where: Path) -> SaveFailed:
    if error.errno in _NO_SPACE:
        return SaveFailed(
            f"no space left on {where} ({error.strerror or error})",
            hint="Free some space, then resume with `imagine wait`.",
        )
    return SaveFailed(
        f"cannot write the render to {where}: {error.strerror or error}",
        hint="Fix the folder, then resume with `imagine wait`.",
    )


class LinkExpired(DownloadError):
    """The file host refused the URL (403/404/410): ask the API for a fresh one."""

    def __init__(self, message: str) -> None:
        super().__init__(message, resumable=False)


@dataclass(frozen=True)
class Downloaded:
    part: Path  # checked, not yet committed
    size: int
    sha256: str


def new_http() -> httpx.AsyncClient:
    """The client for file hosts: it has no credentials at all, so it cannot leak the API key."""
    from imagine.api.client import proxy_verify

    return httpx.AsyncClient(
        timeout=DOWNLOAD_TIMEOUT,
        follow_redirects=True,
        transport=_ByScheme(),
        verify=proxy_verify(),
    )


class _ByScheme(httpx.AsyncBaseTransport):
    """httpx's transport for each scheme, made on its first request: the CA store is loaded on
    the first https request, not for a loopback or LAN file host that never needs it."""

    def __init__(self) -> None:
        self._made: dict[str, httpx.AsyncBaseTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        from imagine.api.client import http_transport

        scheme = request.url.scheme
        if scheme not in self._made:
            self._made[scheme] = http_transport(str(request.url), httpx.Limits())
        return await self._made[scheme].handle_async_request(request)

    async def aclose(self) -> None:
        for transport in self._made.values():
            await transport.aclose()


async def fetch(
    http: httpx.AsyncClient,
    url: str,
    final: Path,
    on_progress: ProgressHook | None = None,
    limits: Limits | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Downloaded:
    """Fetch ``url`` into ``final.part``, resuming a part left by an earlier try, and check its
    length. The caller commits it (a wait for the disk, best done off the event loop).
    ``on_progress`` is called at most every ``PROGRESS_EVERY`` seconds of ``clock``, and once at
    the end."""
    limits = limits or Limits()
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise DownloadError(
            f"the API gave a video URL that is not http(s): {printable(url, 120)!r}",
            resumable=False,
            code="bad_video_url",
        )
    part = RenderFiles(final).part
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        have = part.stat().st_size if part.exists() else 0
        return await _fetch(http, url, part, have, on_progress, limits, clock)
    except OSError as error:
        raise save_failed(error, final.parent) from None


async def _fetch(
    http: httpx.AsyncClient,
    url: str,
    part: Path,
    have: int,
    on_progress: ProgressHook | None,
    limits: Limits,
    clock: Callable[[], float],
) -> Downloaded:
    # Identity encoding: the bytes on disk are the bytes Content-Length counts.
    headers = {"Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        async with asyncio.timeout(limits.stall_seconds) as window:
            async with http.stream("GET", url, headers=headers) as response:
                if response.status_code in (401, 403, 404, 410):
                    raise LinkExpired(f"the video URL was refused ({response.status_code})")
                if response.status_code == 416 and have:
                    if _range_total(response) == have:
                        # All of it came before (a crash between the download and its rename).
                        digest = await asyncio.to_thread(_hash_of, part)
                        return Downloaded(part, have, digest.hexdigest())
                    part.unlink()
                    raise DownloadError(
                        "the partial download did not match the file; starting over"
                    )
                if response.status_code not in (200, 206):
                    raise DownloadError(f"the file host answered {response.status_code}")
                if response.status_code == 200:
                    have = 0
                total = _expected_total(response, have)
                if total is not None and total > limits.max_bytes:
                    part.unlink(missing_ok=True)
                    raise _too_large(total, limits)
                digest = await _stream(
                    response, part, have, total, on_progress, limits, window, clock
                )
    except TimeoutError:
        raise DownloadError(
            f"the file host sent less than {limits.stall_bytes // 1024} KiB "
            f"in {limits.stall_seconds:g} s"
        ) from None
    except httpx.TransportError as error:
        raise DownloadError(
            f"the download was interrupted ({error or type(error).__name__})"
        ) from None
    size = part.stat().st_size
    if total is not None and size != total:
        raise DownloadError(f"the download stopped short: {size} of {total} bytes")
    return Downloaded(part, size, digest.hexdigest())


def _too_large(size: int, limits: Limits) -> DownloadError:
    return DownloadError(
        f"the video is larger than max_download_mb = {limits.max_bytes // MIB} "
        f"({size / MIB:,.0f} MiB or more); raise it with `imagine config set max_download_mb N` "
        "and retry",
        resumable=False,
        code="too_large",
    )


def commit(part: Path, final: Path) -> None:
    """Make the checked part file durable, then give it its final name."""
    fd = os.open(part, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(part, final)


def _range_total(response: httpx.Response) -> int | None:
    """The whole file's size a 416 answer gives (``Content-Range: bytes */SIZE``), if any."""
    unit, _, span = response.headers.get("content-range", "").partition(" ")
    size = span.removeprefix("*/")
    return int(size) if unit == "bytes" and span.startswith("*/") and size.isdigit() else None


def _expected_total(response: httpx.Response, have: int) -> int | None:
    content_range = response.headers.get("content-range", "")
    if response.status_code == 206 and "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        return int(total) if total.isdigit() else None
    length = response.headers.get("content-length")
    if length and length.isdigit():
        return int(length) + (have if response.status_code == 206 else 0)
    return None


async def _stream(
    response: httpx.Response,
    part: Path,
    have: int,
    total: int | None,
    on_progress: ProgressHook | None,
    limits: Limits,
    window: asyncio.Timeout,
    clock: Callable[[], float],
) -> Any:
    """Append the body to the part file; the sha256 of the whole file, hashed as it is written.
    Every ``stall_bytes`` received move the stall ``window`` on.

    Writing and hashing run on one worker thread (both release the GIL, so they take the second
    core while the event loop reads), in order, at most ``IN_FLIGHT`` pieces behind the reads."""
    loop = asyncio.get_running_loop()
    digest = await asyncio.to_thread(_hash_of, part) if have else hashlib.sha256()
    fresh = 0
    moved, slide = loop.time(), limits.stall_seconds / 16
    reported = clock()
    pending: collections.deque[concurrent.futures.Future[None]] = collections.deque()
    writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="imagine-download")
    with part.open("ab" if have else "wb") as handle:

        def save(pieces: list[bytes]) -> None:
            handle.writelines(pieces)
            for piece in pieces:
                digest.update(piece)

        try:
            batch: list[bytes] = []
            batched = 0
            # Pieces as the connection reads them, handed on in batches of about CHUNK bytes: no
            # copy into larger buffers (httpx's own chunking costs a copy of every byte).
            async for piece in response.aiter_raw():
                have += len(piece)
                if have > limits.max_bytes:
                    writer.shutdown(wait=True)
                    handle.close()
                    part.unlink(missing_ok=True)
                    raise _too_large(have, limits)
                batch.append(piece)
                batched += len(piece)
                fresh += len(piece)
                # Moved at most 16 times per window, not once per piece read (a timer each): the
                # window ends at most 1/16 of it early.
                if fresh >= limits.stall_bytes and loop.time() >= moved + slide:
                    fresh = 0
                    moved = loop.time()
                    window.reschedule(moved + limits.stall_seconds)
                if batched < CHUNK:
                    continue
                pending.append(writer.submit(save, batch))
                batch, batched = [], 0
                if len(pending) > IN_FLIGHT:
                    await asyncio.wrap_future(pending.popleft())
                if on_progress and clock() - reported >= PROGRESS_EVERY:
                    reported = clock()
                    on_progress(have, total)
            pending.append(writer.submit(save, batch))
            while pending:
                await asyncio.wrap_future(pending.popleft())
        finally:
            # Never close the file under a write: wait for the few batches still queued.
            writer.shutdown(wait=True)
    if on_progress:
        on_progress(have, total)
    return digest


def _hash_of(path: Path) -> Any:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest


def sha256_file(path: Path) -> str:
    return str(_hash_of(path).hexdigest())
