"""Progress reaches the CLI as events; the engine never prints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Update:
    """One thing that happened to a job (or, with no ``job_id``, to the run). ``number`` is the
    job's ``@N``; ``data`` holds what only some kinds carry (bytes of a download, a finished
    file's path, size, length and cost)."""

    job_id: str
    kind: str
    status: str
    label: str
    progress: float | None = None
    message: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    number: int | None = None


Sink = Callable[[Update], None]


def null_sink(update: Update) -> None:
    """For callers that do not display progress."""
