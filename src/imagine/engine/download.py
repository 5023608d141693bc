"""A download is a file transaction: stream to NAME.part, resume with Range, check the length, hash,
and only then rename (``commit``). A short download is an error, never a complete-looking file.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import errno
import hashlib
import http.client
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from imagine.errors import ExitCode, ImagineError
from imagine.printable import printable
from imagine.render_files import RenderFiles

MIB = 1 << 20
# Bytes handed to the writer thread at a time: a 1 GB file written in 64 KiB pieces on the event
# loop was 16,384 writes, hash updates and progress events between reads.
CHUNK = MIB
# The most one read asks of the socket (it returns what it holds, up to this).
READ = MIB
# Pieces per batch at most: one writev takes at most 1,024 (IOV_MAX); a host that drips a
# byte at a time would otherwise pile up a million.
MAX_PIECES = 256
# Batches handed to the writer thread and not yet written: the memory a download may hold.
IN_FLIGHT = 4
PROGRESS_EVERY = 0.1  # seconds between progress events: a display needs no more than 10 a second
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


async def fetch(
    url: str,
    final: Path,
    on_progress: ProgressHook | None = None,
    limits: Limits | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Downloaded:
    """Fetch ``url`` into ``final.part``, resuming a part left by an earlier try, and check its
    length. The caller commits it (a wait for the disk, best done off the event loop).
    ``on_progress`` is called on the event loop at most every ``PROGRESS_EVERY`` seconds of
    ``clock``, and once at the end.

    The file is fetched by the standard library's HTTP client on a thread of its own (see
    ``_Transfer``), not through httpx: httpx reads a body 64 KiB at a time through h11's
    buffers, which cost 2.5 times curl's CPU per GiB. No credentials travel with it, so it
    cannot leak the API key to a file host."""
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
        transfer = _Transfer(url, part, have, limits, clock, asyncio.get_running_loop())
        done = await _watch(transfer, on_progress)
    except OSError as error:
        raise save_failed(error, final.parent) from None
    if on_progress:
        on_progress(done.size, transfer.total)
    return done


async def _watch(transfer: _Transfer, on_progress: ProgressHook | None) -> Downloaded:
    """Run ``transfer`` on a daemon thread and keep its stall window: a host that sends fewer
    than ``stall_bytes`` in ``stall_seconds`` (the answer's headers included) is given up on.

    On giving up (or on cancellation) the thread is told to stop: if it has the part file open,
    its connection is shut down (its blocked read returns at once) and it is waited for, so that
    no later try opens the file under it; if not (a host dripping its headers), it is left to
    finish its read and end without touching the file. A daemon thread, so that such a host
    cannot hold the process at exit."""
    future: concurrent.futures.Future[Downloaded] = concurrent.futures.Future()
    transfer.on_progress = on_progress
    thread = threading.Thread(
        target=transfer.run, args=(future,), name="imagine-download", daemon=True
    )
    thread.start()
    waiter = asyncio.wrap_future(future)
    window = transfer.limits.stall_seconds
    try:
        while True:
            # Woken 16 times per window, not per read: the window ends at most 1/16 of it late.
            done, _ = await asyncio.wait({waiter}, timeout=window / 16)
            if done:
                return waiter.result()
            if time.monotonic() > transfer.moved + window:
                raise transfer.stalled()
    except BaseException:
        if transfer.stop():
            await asyncio.wait({waiter})
        # A thread left to end on its own finishes with an error nobody waits for any more.
        waiter.add_done_callback(lambda ended: ended.cancelled() or ended.exception())
        raise


class _Stopped(Exception):
    """Raised in a transfer's thread once the event loop has given up on it."""


class _Transfer:
    """One download on its own thread: request, answer checks, then the body read in large
    pieces by ``http.client`` and handed, in batches of about ``CHUNK`` bytes, to a writer thread
    that appends them to the part file and hashes them (``os.writev`` and sha256 both release
    the GIL, so they run on the second core while this thread reads).

    The standard library's ``urllib.request`` opens the connection, so the environment's proxies
    (``https_proxy``, ``no_proxy``) and redirects to http(s) work as they did with httpx; it
    sends no credentials, so none can leak to a file host."""

    def __init__(
        self,
        url: str,
        part: Path,
        have: int,
        limits: Limits,
        clock: Callable[[], float],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.url, self.part, self.have, self.limits = url, part, have, limits
        self.clock, self.loop = clock, loop
        self.on_progress: ProgressHook | None = None
        self.total: int | None = None
        # When the stall window last moved (time.monotonic): read by the event loop's watch.
        self.moved = time.monotonic()
        self._lock = threading.Lock()
        self._stopped = False
        self._claimed = False  # the thread may touch the part file: wait for it to end
        self._live: http.client.HTTPResponse | None = None  # the body being read

    def stop(self) -> bool:
        """Tell the thread to stop; whether it holds the part file open (then wait for it)."""
        with self._lock:
            self._stopped = True
            if self._live is not None:
                _hang_up(self._live)
            return self._claimed

    def _claim(self, live: http.client.HTTPResponse | None) -> None:
        """From here on the thread may touch the part file, unless it was told to stop; a stop
        hangs up ``live``'s connection, so that a read blocked on it returns at once."""
        with self._lock:
            if self._stopped:
                raise _Stopped
            self._claimed = True
            self._live = live

    def stalled(self) -> DownloadError:
        return DownloadError(
            f"the file host sent less than {self.limits.stall_bytes // 1024} KiB "
            f"in {self.limits.stall_seconds:g} s"
        )

    def run(self, future: concurrent.futures.Future[Downloaded]) -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(self._run())
        except BaseException as error:  # handed to the event loop, which raises it there
            future.set_exception(error)

    def _run(self) -> Downloaded:
        # Identity encoding: the bytes on disk are the bytes Content-Length counts.
        headers = {"Accept-Encoding": "identity"}
        if self.have:
            headers["Range"] = f"bytes={self.have}-"
        request = urllib.request.Request(self.url, headers=headers)
        try:
            response = _opener().open(request, timeout=self.limits.stall_seconds)
        except urllib.error.HTTPError as refusal:
            with refusal:
                self._claim(None)
                return self._refused(refusal.code, refusal.headers)
        except (ValueError, http.client.InvalidURL) as error:  # a control character, a bad port
            raise DownloadError(
                f"the video URL cannot be fetched: {printable(str(error), 120)}",
                resumable=False,
                code="bad_video_url",
            ) from None
        except (OSError, http.client.HTTPException) as error:
            raise self._interrupted(error) from None
        with response:
            self._claim(response)
            try:
                return self._answered(response)
            finally:
                with self._lock:  # before the connection closes (and its fd is reused)
                    self._live = None

    def _refused(self, status: int, headers: Message) -> Downloaded:
        if status in (401, 403, 404, 410):
            raise LinkExpired(f"the video URL was refused ({status})")
        if status == 416 and self.have:
            if _range_total(headers) == self.have:
                # All of it came before (a crash between the download and its rename).
                return Downloaded(self.part, self.have, _hash_of(self.part).hexdigest())
            self.part.unlink()
            raise DownloadError("the partial download did not match the file; starting over")
        raise DownloadError(f"the file host answered {status}")

    def _answered(self, response: http.client.HTTPResponse) -> Downloaded:
        status = response.status
        if status not in (200, 206):
            raise DownloadError(f"the file host answered {status}")
        have = self.have if status == 206 else 0
        total = self.total = _expected_total(status, response.headers, have)
        if total is not None and total > self.limits.max_bytes:
            self.part.unlink(missing_ok=True)
            raise _too_large(total, self.limits)
        digest = _hash_of(self.part) if have else hashlib.sha256()
        with self.part.open("ab" if have else "wb", buffering=0) as handle:
            size = self._stream(response, handle.fileno(), have, digest)
        if total is not None and size != total:
            raise DownloadError(f"the download stopped short: {size} of {total} bytes")
        return Downloaded(self.part, size, digest.hexdigest())

    def _stream(self, response: http.client.HTTPResponse, fd: int, have: int, digest: Any) -> int:
        """Append the body to ``fd`` and hash it; the part file's size at the end. A body that
        fits in one batch (every render of a few MB) is written and hashed on this thread once
        it has all come: a writer thread pays only for a body larger than that."""
        limits, total = self.limits, self.total
        fresh = 0
        reported = self.clock()
        pending: collections.deque[concurrent.futures.Future[None]] = collections.deque()
        writer: concurrent.futures.ThreadPoolExecutor | None = None

        def save(pieces: list[bytes]) -> None:
            _write_all(fd, pieces)
            for piece in pieces:
                digest.update(piece)

        batch: list[bytes] = []
        batched = 0
        try:
            # One read returns what the socket holds, up to READ: a slow host's bytes count
            # toward the stall window as they come, a fast one's come in large pieces.
            while piece := self._read(response):
                have += len(piece)
                if have > limits.max_bytes:
                    batch = []
                    _drain(pending)
                    self.part.unlink(missing_ok=True)
                    raise _too_large(have, limits)
                batch.append(piece)
                batched += len(piece)
                fresh += len(piece)
                if fresh >= limits.stall_bytes:
                    fresh = 0
                    self.moved = time.monotonic()
                if batched < CHUNK and len(batch) < MAX_PIECES:
                    continue
                if writer is None:
                    writer = concurrent.futures.ThreadPoolExecutor(1, "imagine-write")
                pending.append(writer.submit(save, batch))
                batch, batched = [], 0
                if len(pending) > IN_FLIGHT:
                    pending.popleft().result()
                if self.on_progress and self.clock() - reported >= PROGRESS_EVERY:
                    reported = self.clock()
                    self.loop.call_soon_threadsafe(self.on_progress, have, total)
        finally:
            # What came is kept, also when the read failed or was stopped: a resume starts
            # after it.
            try:
                if batch and writer is None:
                    save(batch)
                elif batch and writer is not None:
                    pending.append(writer.submit(save, batch))
                _drain(pending)
            finally:
                if writer is not None:
                    writer.shutdown()
        return have

    def _read(self, response: http.client.HTTPResponse) -> bytes:
        try:
            piece = response.read1(READ)
        except (OSError, http.client.HTTPException) as error:
            if self._stopped:
                raise _Stopped from None
            raise self._interrupted(error) from None
        if self._stopped:  # a hung-up connection reads as the end of the body
            raise _Stopped
        return piece

    def _interrupted(self, error: BaseException) -> DownloadError:
        reason = error.reason if isinstance(error, urllib.error.URLError) else error
        if isinstance(reason, TimeoutError):
            return self.stalled()
        return DownloadError(f"the download was interrupted ({reason or type(reason).__name__})")


def _hang_up(response: http.client.HTTPResponse) -> None:
    """Shut the connection down under a thread blocked reading it (a shutdown, unlike a close,
    wakes a blocked read; done on a duplicate of the descriptor, which the thread still owns)."""
    try:
        with socket.fromfd(response.fileno(), socket.AF_INET, socket.SOCK_STREAM) as duplicate:
            duplicate.shutdown(socket.SHUT_RDWR)
    except (OSError, ValueError):
        pass  # already closed: nothing left to wake


def _drain(pending: collections.deque[concurrent.futures.Future[None]]) -> None:
    """Wait for the queued writes, in order; the first error is raised."""
    while pending:
        pending.popleft().result()


def _write_all(fd: int, pieces: list[bytes]) -> None:
    """One ``writev`` for a batch (no copy into a larger buffer); the rest if it wrote less."""
    written = os.writev(fd, pieces)
    if written < sum(map(len, pieces)):
        rest = memoryview(b"".join(pieces))[written:]
        while rest:
            rest = rest[os.write(fd, rest) :]


class _TLSWhenNeeded(urllib.request.HTTPSHandler):
    """https with the process's one TLS context, made on the first https request: a loopback or
    LAN file host on plain http never loads the CA store."""

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        from imagine.api import client

        return self.do_open(http.client.HTTPSConnection, req, context=client.tls_context())


class _RedirectsToHttp(urllib.request.HTTPRedirectHandler):
    """Redirects are followed to http(s) only (urllib's own rule lets ftp through)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if urlsplit(newurl).scheme.lower() not in ("http", "https"):
            fp.close()  # urllib closes the redirect's answer only after a redirect it follows
            raise DownloadError(
                f"the file host redirected to a URL that is not http(s): "
                f"{printable(newurl, 120)!r}",
                resumable=False,
                code="bad_video_url",
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener() -> urllib.request.OpenerDirector:
    """http and https only (no ftp, file or data URLs), the environment's proxies, redirects."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.HTTPHandler(),
        _TLSWhenNeeded(),
        urllib.request.HTTPDefaultErrorHandler(),
        _RedirectsToHttp(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


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


def _range_total(headers: Message) -> int | None:
    """The whole file's size a 416 answer gives (``Content-Range: bytes */SIZE``), if any."""
    unit, _, span = headers.get("content-range", "").partition(" ")
    size = span.removeprefix("*/")
    return int(size) if unit == "bytes" and span.startswith("*/") and size.isdigit() else None


def _expected_total(status: int, headers: Message, have: int) -> int | None:
    content_range = headers.get("content-range", "")
    if status == 206 and "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        return int(total) if total.isdigit() else None
    length = headers.get("content-length")
    if length and length.isdigit():
        return int(length) + (have if status == 206 else 0)
    return None


def _hash_of(path: Path) -> Any:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest


def sha256_file(path: Path) -> str:
    return str(_hash_of(path).hexdigest())
