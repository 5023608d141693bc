"""Changing jobs by hand: cancel, retry, remove. Each one a guarded transaction in the ledger."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from imagine import clock, ids
from imagine.errors import UsageError
from imagine.ledger.store import Ledger, StaleTransition
from imagine.lifecycle import EventKind, Job, Status
from imagine.project import Project, plan_output
from imagine.render_files import RenderFiles, taken_in

RETRYABLE = frozenset(
    {Status.FAILED, Status.EXPIRED, Status.UNKNOWN, Status.CANCELED, Status.BLOCKED}
)
# Columns a retry copies: the request itself, not what happened to it.
REQUEST_COLUMNS = (
    "mode",
    "model",
    "route",
    "prompt",
    "prompt_sent",
    "duration",
    "aspect_ratio",
    "resolution",
    "generate_audio",
    "variation",
    "params_json",
    "inputs_json",
    "fingerprint",
    "base_url",
    "project_dir",
    "cost_estimate_usd",
    "price_per_second_usd",
    "request_json",
    "template_name",
    "template_version",
    "preview",
    "preview_of",
)


@dataclass(frozen=True)
class Canceled:
    job: Job
    was: Status

    @property
    def paid(self) -> bool:
        """Whether the provider may already be rendering (and billing) it."""
        return self.was is not Status.QUEUED


def cancel(ledger: Ledger, job: Job) -> Canceled:
    if job.status.final:
        raise UsageError(f"#{job.seq} is already {job.status}: nothing to cancel")
    try:
        moved = ledger.update(
            job.id,
            EventKind.CANCELED,
            expect=[job.status],
            status=Status.CANCELED,
            error_code="canceled",
            error_message="canceled by the user",
        )
    except StaleTransition:
        return cancel(ledger, ledger.require(job.id))
    return Canceled(moved, job.status)


def check_retry(ledger: Ledger, old: Job) -> None:
    """Refuse, before anything is sent, a job that cannot be retried, or that was retried
    already (sending it again would pay again for what its retry is, or was, rendering)."""
    if old.status not in RETRYABLE:
        hint = (
            "for a new take, run the command that made it again with --force, or with -n 2"
            if old.status is Status.COMPLETE
            else f"wait for it: imagine wait @{old.seq}"
        )
        raise UsageError(
            f"#{old.seq} is {old.status}: only failed, expired, blocked, canceled "
            f"or unknown jobs can be retried ({hint})"
        )
    later = retried_as(ledger, old)
    if later is not None:
        raise UsageError(
            f"#{old.seq} was retried already, as #{later.seq} ({later.status}): "
            f"retry #{later.seq} instead if it did not work out"
        )


def retried_as(ledger: Ledger, old: Job) -> Job | None:
    """The job ``old`` was last retried as, if it is still in the ledger."""
    for event in reversed(ledger.events(old.id)):
        if event.event == EventKind.RETRIED and event.detail:
            return ledger.get(str(event.detail.get("retried_as")))
    return None


def retry(ledger: Ledger, old: Job) -> Job:
    """A fresh submission of the same request, linked to the old job."""
    check_retry(ledger, old)
    job = requeue(ledger, old, same_name=True, detail={"retry_of": old.id})
    ledger.update(old.id, EventKind.RETRIED, detail={"retried_as": job.id, "at": clock.iso()})
    return job


def requeue(
    ledger: Ledger,
    old: Job,
    *,
    same_name: bool,
    detail: Mapping[str, Any],
    audit: Mapping[str, Any] | None = None,
) -> Job:
    """A new queued job with ``old``'s request (the same body), linked to it as its child, at a
    file of its own: ``same_name`` takes the old file's name (a retry: the failed job had no
    file), else its name without the suffix, as a template a new name is made from (a new take
    beside a finished one). `imagine retry` and the review page's re-run."""
    job_id = ids.new_id()
    project = Project(Path(old.project_dir), None)
    old_path = Path(old.output_path)
    named = old_path if same_name else old_path.with_suffix("")
    template = (
        named.relative_to(project.root).as_posix()
        if old_path.is_relative_to(project.root)
        else named.name
    )

    def values(seq: int) -> dict[str, object]:
        fields = {
            "short": ids.short(job_id),
            "id": job_id,
            "seq": seq,
            "date": datetime.now().strftime("%Y-%m-%d"),
        }
        output = plan_output(project, template, fields, taken_in(ledger))
        copied = {column: getattr(old, column) for column in REQUEST_COLUMNS}
        return {
            **copied,
            "id": job_id,
            "parent_id": old.id,
            "status": Status.QUEUED,
            "output_path": str(output),
        }

    return ledger.insert(values, detail=detail, audit=audit)


@dataclass(frozen=True)
class Removed:
    files: list[Path]  # deleted
    kept_for: Job | None = None  # the job the files belong to now, when not this one's
    objects: int = 0  # deleted from the shared bucket


def check_remove(job: Job) -> None:
    if job.status.live:
        raise UsageError(
            f"#{job.seq} is {job.status}: cancel it first (imagine cancel {ids.short(job.id)})"
        )


def remove(
    ledger: Ledger,
    job: Job,
    *,
    delete_files: bool,
    audit: Mapping[str, Any] | None = None,
) -> Removed:
    """Forget a job (its events go with it; the audit log keeps its entries). With
    ``delete_files``, its MP4, sidecar and poster go too, unless they are another job's: a
    failed job's path is given to its retry, or to the same request run again. The files go
    first, then the row with its ``audit`` entry (which names the files deleted) in one
    transaction: the log never records a deletion that did not happen."""
    check_remove(job)
    objects = _delete_stored(ledger, job) if delete_files else 0
    removed: list[Path] = []
    kept_for = None
    if delete_files:
        video = Path(job.output_path)
        holder = ledger.path_holder(video)
        if holder is not None and holder.id != job.id:
            kept_for = holder
        else:
            for path in RenderFiles(video).all():
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path)
    with ledger.transaction() as conn:
        conn.execute("UPDATE jobs SET parent_id = NULL WHERE parent_id = ?", (job.id,))
        conn.execute("UPDATE jobs SET preview_of = NULL WHERE preview_of = ?", (job.id,))
        ledger.delete(conn, job.id)
        if audit is not None:
            detail = {**dict(audit.get("detail") or {}), "files": [str(p) for p in removed]}
            entry = {"at": clock.iso(), "job_id": job.id, **audit, "detail": detail}
            ledger.audit(conn, entry)
    return Removed(removed, kept_for=kept_for, objects=objects)


def _delete_stored(ledger: Ledger, job: Job) -> int:
    """Delete the job's objects from the shared bucket first: if that fails, the job and its
    files stay as they were, and `imagine rm --files` can be run again."""
    from imagine.bucket import objects

    stored = list(objects.of_job(ledger, job.id).values())
    if stored:
        from imagine.bucket.transfer import Store, client

        Store(client()).delete(stored)
        objects.forget(ledger, job)
    return len(stored)
