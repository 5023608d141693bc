"""Writes that never leave a complete-looking partial file: temp file in the same folder, fsync, replace."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_target(path: Path, *, mode: int = 0o644) -> Iterator[Path]:
    """A private temporary path beside ``path``; when the block succeeds it is synced, given ``mode``
    and renamed over ``path`` in one step, otherwise it is removed. For writers that need a file name (PyAV)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)  # mkstemp made it 0o600, so nothing is readable by others until it is complete
    temp = Path(name)
    try:
        yield temp
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` in one step; the file is created with ``mode``."""
    with atomic_target(path, mode=mode) as temp:
        temp.write_bytes(data)
