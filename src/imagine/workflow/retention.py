"""The end of a render's life: reported by a user, purged by age, project or name, or by the
``retention_days`` setting on `imagine gc`. Every report and every deletion is written to the
audit log: what, when and by whom (the OS user), never the prompt."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from imagine import clock
from imagine.errors import UsageError
from imagine.ledger.store import Ledger
from imagine.lifecycle import FINAL, Job, Status
from imagine.render_files import RenderFiles
from imagine.workflow import job_control

DAY = 86400
MAX_REASON = 500  # characters of a report's reason kept


class AuditAction(StrEnum):
    """The audit log's ``action`` for what this module records."""

    REPORT = "report"
    PURGE = "purge"  # `imagine purge`, or `imagine gc` under retention_days (detail.trigger)
    REMOVE = "remove"  # `imagine rm`


def actor() -> str:
    """Who did it: the OS user running imagine (or their uid, where no name is known)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


# -- reports -------------------------------------------------------------------------------------


def report(ledger: Ledger, job: Job, reason: str) -> Job:
    """Mark a finished render reported, with the user's reason, and audit it. A reported render
    is hidden from `imagine list` (and from review pages) but kept: deleting it is `purge`."""
    text = " ".join(reason.split())
    if not text:
        raise UsageError("--reason is empty: say in a few words why the render is reported")
    if len(text) > MAX_REASON:
        raise UsageError(f"--reason is {len(text)} characters long: keep it under {MAX_REASON}")
    if job.status is not Status.COMPLETE:
        raise UsageError(f"#{job.seq} is {job.status}: only a finished render can be reported")
    if job.reported_at is not None:
        raise UsageError(f"#{job.seq} was reported already, at {job.reported_at}")
    now = clock.iso()
    with ledger.transaction() as conn:
        conn.execute(
            "UPDATE jobs SET reported_at = ?, report_reason = ?, updated_at = ? WHERE id = ?",
            (now, text, now, job.id),
        )
        entry = {
            "at": now,
            "job_id": job.id,
            "action": AuditAction.REPORT,
            "actor": actor(),
            "detail": {"reason": text, "file": job.output_path, "sha256": job.file_sha256},
        }
        ledger.audit(conn, entry)
    return ledger.require(job.id)


# -- purging -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Criteria:
    """Which jobs to purge; every criterion given must hold. ``before``: created before this
    ISO time. ``project_dir``: made in this project folder."""

    before: str | None = None
    project_dir: Path | None = None
    trigger: str = "purge"

    def holds(self, job: Job) -> bool:
        if self.before is not None and job.created_at >= self.before:
            return False
        return self.project_dir is None or job.project_dir == str(self.project_dir)

    def as_detail(self) -> dict[str, Any]:
        found = {"trigger": self.trigger, "created_before": self.before}
        if self.project_dir is not None:
            found["project"] = str(self.project_dir)
        return {key: value for key, value in found.items() if value is not None}


@dataclass(frozen=True)
class Planned:
    job: Job
    files: tuple[Path, ...]  # on disk now, and this job's (not handed on to a retry)

    @property
    def bytes(self) -> int:
        total = 0
        for path in self.files:
            try:
                total += path.stat().st_size
            except OSError:
                continue
        return total


def check_purgeable(job: Job) -> None:
    """Only a job that is over may go: never one still live, nor an unknown one (it may have
    been accepted, and awaits the user's retry or cancel)."""
    if job.status.final:
        return
    if job.status is Status.UNKNOWN:
        hint = f"decide first: imagine retry @{job.seq}, or imagine cancel @{job.seq}"
    else:
        hint = f"cancel it first (imagine cancel @{job.seq}) or wait for it"
    raise UsageError(f"#{job.seq} is {job.status}: only finished jobs can be purged; {hint}")


def select(ledger: Ledger, criteria: Criteria, named: Iterable[Job] | None = None) -> list[Job]:
    """The jobs to purge: those ``named`` (each checked, so a live one refuses the whole
    command) or, without names, every finished job of the ledger, meeting ``criteria``."""
    if named is not None:
        jobs = list(named)
        for job in jobs:
            check_purgeable(job)
        return [job for job in jobs if criteria.holds(job)]
    return ledger.jobs(
        statuses=FINAL,
        before=criteria.before,
        project_dir=None if criteria.project_dir is None else str(criteria.project_dir),
    )


def plan(ledger: Ledger, jobs: Iterable[Job]) -> list[Planned]:
    """Each job with the files purging it would delete."""
    planned = []
    for job in jobs:
        video = Path(job.output_path)
        holder = ledger.path_holder(video)
        mine = holder is None or holder.id == job.id
        files = tuple(p for p in RenderFiles(video).all() if p.exists()) if mine else ()
        planned.append(Planned(job, files))
    return planned


@dataclass(frozen=True)
class Purged:
    job: Job
    files: tuple[Path, ...]  # deleted


def purge(ledger: Ledger, planned: Iterable[Planned], criteria: Criteria) -> list[Purged]:
    """Delete each job and its files; one audit entry per job. A job that moved on since it
    was planned (removed, or no longer finished) is left alone."""
    done = []
    who = actor()
    for item in planned:
        job = ledger.get(item.job.id)
        if job is None or not job.status.final:
            continue
        audit = {
            "action": AuditAction.PURGE,
            "actor": who,
            "detail": {
                **criteria.as_detail(),
                "status": str(job.status),
                "model": job.model,
                "created_at": job.created_at,
                "sha256": job.file_sha256,
            },
        }
        removed = job_control.remove(ledger, job, delete_files=True, audit=audit)
        done.append(Purged(job, tuple(removed.files)))
    return done


def retention_criteria(days: int | None) -> Criteria | None:
    """What `imagine gc` purges under ``retention_days`` (None: nothing, retention is off)."""
    if days is None:
        return None
    return Criteria(before=clock.iso(clock.now() - days * DAY), trigger="gc")


def remove_audit() -> dict[str, Any]:
    """The audit entry of `imagine rm` (the files it deleted are added by ``manage.remove``)."""
    return {"action": AuditAction.REMOVE, "actor": actor(), "detail": {"trigger": "rm"}}
