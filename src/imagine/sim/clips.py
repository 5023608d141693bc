"""The MP4s the simulator serves: encoded lazily on first download, cached on disk by what shapes them.

Many jobs share one encoded clip (same size, length, audio and seed); each download appends a small
``free`` box naming the job, which players ignore, so every job still gets its own bytes and hash.
"""

from __future__ import annotations

import atexit
import shutil
import struct
import tempfile
import threading
from pathlib import Path

from imagine.media.synth import ClipSpec, write_spec

_shared_lock = threading.Lock()
_shared_folder: Path | None = None


def shared_cache_folder() -> Path:
    """One temporary cache for every in-memory simulator of this process, removed at exit."""
    global _shared_folder
    with _shared_lock:
        if _shared_folder is None:
            _shared_folder = Path(tempfile.mkdtemp(prefix="imagine-sim-clips-"))
            atexit.register(shutil.rmtree, _shared_folder, ignore_errors=True)
        return _shared_folder


class ClipCache:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._folder = folder
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}

    def path(self, spec: ClipSpec) -> Path:
        """The cached clip for ``spec``, encoding it first if needed (once, however many ask)."""
        target = self._folder / spec.file_name
        if not target.exists():
            with self._key_lock(spec.file_name):
                if not target.exists():
                    write_spec(target, spec)
        return target

    def padded(self, spec: ClipSpec, size: int) -> Path:
        """The clip for ``spec`` followed by a ``free`` box making it ``size`` bytes long (or the
        clip as it is, if already that long), written once and cached."""
        clip = self.path(spec)
        padding = size - clip.stat().st_size
        if padding < 8:
            return clip
        target = self._folder / f"{clip.stem}-{size}{clip.suffix}"
        if not target.exists():
            with self._key_lock(target.name):
                if not target.exists():
                    _write_padded(clip, target, padding)
        return target

    def _key_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())


def job_trailer(request_id: str) -> bytes:
    """An ISO-BMFF ``free`` box carrying the request id (valid at the top level of an MP4)."""
    payload = f"imagine-sim {request_id}".encode()
    return struct.pack(">I4s", 8 + len(payload), b"free") + payload


def _write_padded(clip: Path, target: Path, padding: int) -> None:
    temporary = target.with_suffix(".tmp")
    block = bytes(1 << 20)
    with temporary.open("wb") as out:
        out.write(clip.read_bytes())
        # A 64-bit size box ("size" 1, then the real size) holds any padding.
        out.write(struct.pack(">I4sQ", 1, b"free", padding))
        left = padding - 16
        if left < 0:  # too little room for the large form: a plain box of exactly ``padding``
            out.seek(-16, 2)
            out.truncate()
            out.write(struct.pack(">I4s", padding, b"free") + bytes(padding - 8))
            left = 0
        while left:
            left -= out.write(block[: min(left, len(block))])
    temporary.replace(target)
