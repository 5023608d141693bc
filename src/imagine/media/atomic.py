"""A temporary path for writers that need a file name (PyAV), renamed into place only on success."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_target(path: Path) -> Iterator[Path]:
    """A temporary path in the same folder, renamed over ``path`` only when the block succeeds."""
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.part")
    try:
        yield temp
        temp.replace(path)
    finally:
        temp.unlink(missing_ok=True)
