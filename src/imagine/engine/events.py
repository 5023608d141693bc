"""Progress reaches the CLI as events; the engine never prints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Update:
    job_id: str
    kind: str
    status: str
    label: str
    progress: float | None = None
    message: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


Sink = Callable[[Update], None]


def null_sink(update: Update) -> None:
    """For callers that do not display progress."""
