"""Progress reaches the CLI as events; the engine never prints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class UpdateKind(StrEnum):
    """What a progress event says happened."""

    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    PROGRESS = "progress"
    RENDERED = "rendered"
    DOWNLOADING = "downloading"
    # The job is settled, or left for the user to decide:
    COMPLETE = "complete"
    FAILED = "failed"
    BLOCKED = "blocked"
    EXPIRED = "expired"
    UNKNOWN = "unknown"
    # Worth telling, the job carries on:
    RETRY = "retry"
    STALLED = "stalled"
    WARNING = "warning"
    HELD = "held"  # another process drives the job; this one watches
    NOTE = "note"  # a message about the run, not about one job


FINAL_KINDS = frozenset(
    {
        UpdateKind.COMPLETE,
        UpdateKind.FAILED,
        UpdateKind.BLOCKED,
        UpdateKind.EXPIRED,
        UpdateKind.UNKNOWN,
    }
)


class Reason(StrEnum):
    """Why the engine let go of a job that is not settled."""

    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    AUTH = "auth"
    REFUSED = "refused"


@dataclass(frozen=True)
class Update:
    """One thing that happened to a job (or, with no ``job_id``, to the run). ``number`` is the
    job's ``@N``; ``data`` holds what only some kinds carry (bytes of a download, a finished
    file's path, size, length and cost)."""

    job_id: str
    kind: UpdateKind
    status: str
    label: str
    progress: float | None = None
    message: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    number: int | None = None  # the job's number (`@N`); None for a note about the run


Sink = Callable[[Update], None]


def null_sink(update: Update) -> None:
    """For callers that do not display progress."""
