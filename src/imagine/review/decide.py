"""Verdicts on renders, and new takes: each a write to the ledger with an audit-log entry."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from imagine import clock, sidecar
from imagine.errors import UsageError
from imagine.ledger.store import Ledger
from imagine.lifecycle import Job, Status
from imagine.review.takes import ReviewState
from imagine.workflow.job_control import requeue


class Verdict(StrEnum):
    """What a reviewer may say of a render (the audit log's ``action``)."""

    APPROVE = "approve"
    REJECT = "reject"
    RESET = "reset"  # back to pending

    @property
    def state(self) -> ReviewState:
        return _STATES[self]


_STATES = {
    Verdict.APPROVE: ReviewState.APPROVED,
    Verdict.REJECT: ReviewState.REJECTED,
    Verdict.RESET: ReviewState.PENDING,
}
RERUN = "rerun"  # the audit log's action for a new take


@dataclass(frozen=True)
class Reviewed:
    job: Job
    was: ReviewState
    sidecar_updated: bool = False

    @property
    def changed(self) -> bool:
        return ReviewState.of(self.job) is not self.was


def actor(channel: str) -> str:
    """Who gave a verdict, for the audit log: the local user, and how (cli, review page)."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name in a bare container
        user = "unknown user"
    return f"{user} ({channel})"


def check_reviewable(job: Job) -> None:
    if job.status is not Status.COMPLETE:
        raise UsageError(
            f"#{job.seq} is {job.status}: only complete renders can be approved or rejected"
        )
    if job.reported_at is not None:
        raise UsageError(f"#{job.seq} was reported ({job.report_reason or 'no reason given'})")


def review(ledger: Ledger, job: Job, verdict: Verdict, *, by: str) -> Reviewed:
    """Record ``verdict`` on a complete render, and who gave it when, in one transaction. The
    audit entry names the file by its hash, never the prompt."""
    check_reviewable(job)
    now = clock.iso()
    state = verdict.state.stored
    with ledger.transaction() as conn:
        row = conn.execute("SELECT review_state FROM jobs WHERE id = ?", (job.id,)).fetchone()
        was = ReviewState(row[0]) if row and row[0] else ReviewState.PENDING
        changed = conn.execute(
            "UPDATE jobs SET review_state = ?, reviewed_at = ?, updated_at = ?"
            " WHERE id = ? AND status = ?",
            (state, now if state else None, now, job.id, Status.COMPLETE.value),
        )
        if changed.rowcount == 0:
            raise UsageError(f"#{job.seq} changed meanwhile: look again with imagine show")
        entry = {"at": now, "job_id": job.id, "action": verdict.value, "actor": by}
        ledger.audit(conn, {**entry, "input_sha256": job.file_sha256})
    done = ledger.require(job.id)
    return Reviewed(done, was, _rewrite_sidecar(done))


def _rewrite_sidecar(job: Job) -> bool:
    """Keep the sidecar beside the MP4 telling the truth about the verdict, where there is one
    (the ledger has it either way)."""
    if not job.sidecar_path or not Path(job.sidecar_path).is_file():
        return False
    try:
        sidecar.write(job, Path(job.sidecar_path))
    except OSError:
        return False
    return True


def rerun(ledger: Ledger, old: Job, *, by: str) -> Job:
    """A new take of a render's request: the same body sent again (as `--force` would), queued
    as a new job linked to the old one, with a file name of its own."""
    check_reviewable(old)
    audit = {"action": RERUN, "actor": by, "input_sha256": old.file_sha256}
    return requeue(ledger, old, same_name=False, detail={"rerun_of": old.id}, audit=audit)
