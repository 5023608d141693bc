"""What the engine hands back for each job it was given: where the job stands, and why the
engine let go of it when it is not settled."""

from __future__ import annotations

from dataclasses import dataclass

from imagine.api.http_errors import (
    AnswerLost,
    AuthenticationFailed,
    PermissionDenied,
    RateLimited,
    ServerError,
    Unreachable,
)
from imagine.engine.download import SaveFailed
from imagine.engine.events import Reason, UpdateKind
from imagine.engine.stage import Deadline, Run
from imagine.errors import ImagineError
from imagine.lifecycle import Brief, Job, Status


@dataclass(frozen=True, slots=True)  # (one per job of a run)
class Outcome:
    """Where a job stands when the engine let go of it, and why if it is not final. Only the
    job's brief is kept, so that a run's outcomes stay small however long the batch."""

    job: Brief
    reason: Reason | None = None  # None when settled
    error: ImagineError | None = None

    @classmethod
    def of(
        cls, job: Job, reason: Reason | None = None, error: ImagineError | None = None
    ) -> Outcome:
        return cls(Brief.of(job), reason, error)


_CUT_SHORT = {
    Status.RUNNING: "the API had not finished answering a poll",
    Status.DOWNLOADING: "the file host was still sending the video",
    Status.UNKNOWN: "the request was being sent (it may have been accepted)",
}
# Worth another run once the API or the disk is back; said as a stall while the job is live.
_RESUMABLE = (Unreachable, ServerError, RateLimited, AnswerLost, SaveFailed)


def stopped(run: Run, job: Job, error: Deadline | TimeoutError | ImagineError) -> Outcome:
    """The outcome of ``job`` (as the ledger has it now) when ``error`` stopped its driving."""
    if isinstance(error, Deadline):
        return Outcome.of(job, reason=Reason.TIMEOUT)
    if isinstance(error, TimeoutError):
        # The deadline cut a request or a download short: say which, since the server's
        # silence is the news.
        doing = _CUT_SHORT.get(job.status)
        if doing:
            run.emit(job, UpdateKind.STALLED, message=f"--timeout ran out while {doing}")
        return Outcome.of(job, reason=Reason.TIMEOUT)
    if isinstance(error, _RESUMABLE):
        if job.status.live:  # a job already failed or unknown has said its last word
            run.emit(job, UpdateKind.STALLED, message=str(error))
        return Outcome.of(job, reason=Reason.UNREACHABLE, error=error)
    if isinstance(error, AuthenticationFailed | PermissionDenied):
        return Outcome.of(job, reason=Reason.AUTH, error=error)
    return Outcome.of(job, reason=Reason.REFUSED, error=error)
