"""A download is a file transaction: stream to NAME.part, resume with Range, check the length, hash,
and only then rename (``commit``). A short download is an error, never a complete-looking file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from imagine.render_files import RenderFiles

CHUNK = 1 << 16
DOWNLOAD_TIMEOUT = httpx.Timeout(connect=15.0, read=60.0, write=30.0, pool=30.0)

ProgressHook = Callable[[int, int | None], None]


class DownloadError(Exception):
    """A download that did not finish; ``resumable`` says whether trying again may help."""

    def __init__(self, message: str, *, resumable: bool = True) -> None:
        super().__init__(message)
        self.resumable = resumable


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
    from imagine.api import net
    from imagine.api.client import tls_context

    return httpx.AsyncClient(
        timeout=DOWNLOAD_TIMEOUT,
        follow_redirects=True,
        transport=net.transport(verify=tls_context(), limits=httpx.Limits()),
        verify=tls_context(),  # for proxies set in the environment, which get their own
    )


async def fetch(
    http: httpx.AsyncClient, url: str, final: Path, on_progress: ProgressHook | None = None
) -> Downloaded:
    """Fetch ``url`` into ``final.part``, resuming a part left by an earlier try, and check its
    length. The caller commits it (a wait for the disk, best done off the event loop)."""
    part = RenderFiles(final).part
    final.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    # Identity encoding: the bytes on disk are the bytes Content-Length counts.
    headers = {"Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        async with http.stream("GET", url, headers=headers) as response:
            if response.status_code in (401, 403, 404, 410):
                raise LinkExpired(f"the video URL was refused ({response.status_code})")
            if response.status_code == 416 and have:
                part.unlink()
                raise DownloadError("the partial download did not match the file; starting over")
            if response.status_code not in (200, 206):
                raise DownloadError(f"the file host answered {response.status_code}")
            if response.status_code == 200:
                have = 0
            total = _expected_total(response, have)
            digest = await _stream(response, part, have, total, on_progress)
    except httpx.TransportError as error:
        raise DownloadError(
            f"the download was interrupted ({error or type(error).__name__})"
        ) from None
    size = part.stat().st_size
    if total is not None and size != total:
        raise DownloadError(f"the download stopped short: {size} of {total} bytes")
    return Downloaded(part, size, digest.hexdigest())


def commit(part: Path, final: Path) -> None:
    """Make the checked part file durable, then give it its final name."""
    fd = os.open(part, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(part, final)


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
) -> Any:
    """Append the body to the part file; the sha256 of the whole file, hashed as it is written."""
    digest = _hash_of(part) if have else hashlib.sha256()
    with part.open("ab" if have else "wb") as handle:
        async for chunk in response.aiter_raw(CHUNK):
            handle.write(chunk)
            digest.update(chunk)
            have += len(chunk)
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
