"""Asking xAI to keep a render in its Files API too (`storage_options`), and reading what it kept.

The request says how long the file is kept and whether it gets a public link; the done answer says
where it was put (`video.file_output`). Both are plain data: no I/O here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from imagine.api import contract
from imagine.errors import UsageError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d{1,9})\s*([smhd]?)")
# What a file_output may hold, and how much of it is kept: it comes from a server.
_FILE_OUTPUT_TEXT = ("file_id", "filename", "public_url", "public_url_error", "storage_error")
_FILE_OUTPUT_TIMES = ("expires_at", "public_url_expires_at")
MAX_FIELD_CHARS = 2048
LAST_TIME = 253_402_300_799  # 9999-12-31T23:59:59Z: a later "time" is no time to print


@dataclass(frozen=True)
class StoreOptions:
    """`--store`: keep the MP4 in the Files API; ``filename`` is the output's, set at submit."""

    public: bool = False
    expires_after: int | None = None  # seconds the file is kept (and its public link, if any)
    filename: str | None = None

    def api_object(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.filename:
            body["filename"] = self.filename
        if self.expires_after is not None:
            body["expires_after"] = self.expires_after
        if self.public:
            body["public_url"] = (
                {"expires_after": self.expires_after} if self.expires_after is not None else True
            )
        return body

    def record(self) -> dict[str, Any]:
        return {"public": self.public, "expires_after": self.expires_after}


def options(store: bool, public: bool, expires: str | None) -> StoreOptions | None:
    """What `--store`, `--store-public` and `--store-expires` ask for (either of the last two
    implies the first); None when nothing is to be stored."""
    if not (store or public or expires is not None):
        return None
    seconds = parse_expiry(expires) if expires is not None else None
    return StoreOptions(public=public, expires_after=seconds)


def parse_expiry(text: str, *, flag: str = "--store-expires") -> int:
    """``3600``, ``90m``, ``12h`` or ``7d`` as seconds (the range is the request's rule)."""
    found = _DURATION.fullmatch(str(text).strip().lower())
    if not found:
        raise UsageError(
            f"{flag} {str(text)[:40]!r} is not a duration: give seconds or a number with "
            "s, m, h or d, e.g. 7d"
        )
    return int(found[1]) * _UNITS[found[2] or "s"]


def check(options: StoreOptions) -> None:
    """The API's bounds on how long a stored file and its public link may live."""
    seconds = options.expires_after
    if seconds is None:
        return
    if not 1 <= seconds <= contract.MAX_STORE_SECONDS:
        message = contract.MSG_STORE_EXPIRY.format(n=seconds)
        raise UsageError(f"{message} Pass --store-expires between 1s and 30d.")
    low, high = contract.PUBLIC_URL_SECONDS
    if options.public and not low <= seconds <= high:
        message = contract.MSG_PUBLIC_URL_EXPIRY.format(n=seconds)
        raise UsageError(f"{message} Pass --store-expires 1h to 30d with --store-public.")


def file_output(video: Any) -> dict[str, Any] | None:
    """The answer's ``video.file_output``, kept to its known fields of bounded size; None if absent."""
    raw = video.get("file_output") if isinstance(video, dict) else None
    error = video.get("storage_error") if isinstance(video, dict) else None
    if not isinstance(raw, dict) and not isinstance(error, str):
        return None
    source = dict(raw) if isinstance(raw, dict) else {}
    if isinstance(error, str):
        source.setdefault("storage_error", error)
    kept: dict[str, Any] = {}
    for key in _FILE_OUTPUT_TEXT:
        if isinstance(source.get(key), str):
            kept[key] = source[key][:MAX_FIELD_CHARS]
    for key in _FILE_OUTPUT_TIMES:
        value = source.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= LAST_TIME:
            kept[key] = value
    return kept or None
