"""The job: one render's whole life, as the ledger keeps it."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    QUEUED = "queued"
    SUBMITTING = "submitting"
    RUNNING = "running"
    DOWNLOADING = "downloading"
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELED = "canceled"
    BLOCKED = "blocked"
    EXPIRED = "expired"
    UNKNOWN = "unknown"

    @property
    def live(self) -> bool:
        """Still moving on its own: `imagine wait` will carry it on."""
        return self in LIVE

    @property
    def final(self) -> bool:
        return self in FINAL


LIVE = frozenset({Status.QUEUED, Status.SUBMITTING, Status.RUNNING, Status.DOWNLOADING})
FINAL = frozenset({Status.COMPLETE, Status.FAILED, Status.CANCELED, Status.BLOCKED, Status.EXPIRED})
# Provider-side outcomes that mean the job did not produce a video (exit code 1).
UNSUCCESSFUL = frozenset({Status.FAILED, Status.BLOCKED, Status.EXPIRED})


class BlockSource(StrEnum):
    """Who withheld a blocked job: the provider's moderation, or imagine itself before sending."""

    PROVIDER = "provider"
    LOCAL = "local"


class BlockReason(StrEnum):
    """Why a job is blocked (``jobs.block_reason``); ``block_rule`` names the rule or cap."""

    MODERATION = "moderation"  # the provider's moderation (source provider)
    POLICY = "policy"  # a local policy rule matched the prompt as sent (source local)
    ADMIN = "admin"  # the admin policy file forbids it (source local)
    BUDGET = "budget"  # a spending cap would be crossed (source local)


class EventKind(StrEnum):
    """What the ledger's job_events table says happened to a job."""

    CREATED = "created"
    SUBMITTING = "submitting"
    RATE_LIMITED = "rate_limited"
    SUBMITTED = "submitted"
    REFUSED = "refused"
    ANSWER_LOST = "answer_lost"
    NOT_FOUND = "not_found"
    RENDERED = "rendered"
    FAILED = "failed"
    DOWNLOAD_FAILED = "download_failed"  # a video we will not fetch (bad URL, over the cap)
    BLOCKED = "blocked"
    BLOCKED_LOCALLY = "blocked_locally"  # withheld by imagine before anything was sent
    EXPIRED = "expired"
    COMPLETE = "complete"
    CANCELED = "canceled"
    # Recorded without a change of status:
    UPDATE = "update"  # a poll answer or a schedule: the row changes, no event is recorded
    UPLOADED = "uploaded"
    NEW_URL = "new_url"
    RETRIED = "retried"
    SUBMITTED_AFTER_CANCEL = "submitted_after_cancel"
    REUSED = "reused"  # a run asked for it again and got its file (`imagine stats`' duplicates)
    ATTACHED = "attached"  # a run asked for it again while live and followed it
    STORED = "stored"  # its files were uploaded to the shared bucket
    RESTORED = "restored"  # its files were fetched back from the shared bucket


_E = EventKind
# The job's state machine: every move the code may make, from a status (None: a new row) to
# another, with the events that may record it. The ledger refuses any other move.
TRANSITIONS: dict[tuple[Status | None, Status], frozenset[EventKind]] = {
    (None, Status.QUEUED): frozenset({_E.CREATED}),
    (None, Status.COMPLETE): frozenset({_E.CREATED}),  # a render found on disk, imported
    (None, Status.BLOCKED): frozenset({_E.CREATED}),  # refused by a local rule: never live
    (Status.QUEUED, Status.BLOCKED): frozenset({_E.BLOCKED_LOCALLY}),  # e.g. over a budget
    (Status.QUEUED, Status.SUBMITTING): frozenset({_E.SUBMITTING}),
    (Status.SUBMITTING, Status.QUEUED): frozenset({_E.RATE_LIMITED}),
    (Status.SUBMITTING, Status.RUNNING): frozenset({_E.SUBMITTED}),
    (Status.SUBMITTING, Status.FAILED): frozenset({_E.REFUSED}),
    (Status.SUBMITTING, Status.UNKNOWN): frozenset({_E.ANSWER_LOST}),
    (Status.RUNNING, Status.UNKNOWN): frozenset({_E.ANSWER_LOST}),  # no request id recorded
    (Status.RUNNING, Status.DOWNLOADING): frozenset({_E.RENDERED}),
    (Status.RUNNING, Status.FAILED): frozenset({_E.FAILED, _E.NOT_FOUND}),
    (Status.RUNNING, Status.BLOCKED): frozenset({_E.BLOCKED}),
    (Status.RUNNING, Status.EXPIRED): frozenset({_E.EXPIRED}),
    (Status.DOWNLOADING, Status.COMPLETE): frozenset({_E.COMPLETE}),
    # A poll for a fresh video URL may find the result gone, failed or withheld after all.
    (Status.DOWNLOADING, Status.EXPIRED): frozenset({_E.EXPIRED}),
    (Status.DOWNLOADING, Status.FAILED): frozenset({_E.FAILED, _E.DOWNLOAD_FAILED}),
    (Status.DOWNLOADING, Status.BLOCKED): frozenset({_E.BLOCKED}),
    **{
        (status, Status.CANCELED): frozenset({_E.CANCELED})
        for status in (*LIVE, Status.UNKNOWN)  # (canceled by the user: `imagine cancel`)
    },
}
# Events that record something about a job without moving it.
NOTES = frozenset(
    {
        _E.UPDATE,
        _E.UPLOADED,
        _E.NEW_URL,
        _E.RETRIED,
        _E.SUBMITTED_AFTER_CANCEL,
        _E.REUSED,
        _E.ATTACHED,
        _E.STORED,
        _E.RESTORED,
    }
)


class IllegalTransition(RuntimeError):
    """A move the state machine does not allow: a bug in imagine, never the job's fault."""


def check_move(current: Status | None, to: Status | None, event: EventKind) -> None:
    """Refuse a move not in TRANSITIONS (``to`` None: the status stays, and ``event`` must be
    one of the NOTES)."""
    if to is None:
        if event not in NOTES:
            raise IllegalTransition(f"event {event!r} must move the job; it leaves it {current}")
        return
    if event not in TRANSITIONS.get((current, to), frozenset()):  # (a str "running" is found too)
        raise IllegalTransition(f"no move from {current} to {to} by event {event!r}")


@dataclass(frozen=True, slots=True)  # no per-job __dict__: a batch holds thousands
class Job:
    seq: int
    id: str
    parent_id: str | None
    status: Status
    mode: str
    model: str
    route: str
    prompt: str | None
    prompt_sent: str | None
    duration: int | None
    aspect_ratio: str | None
    resolution: str | None
    generate_audio: bool
    variation: int
    params_json: str
    inputs_json: str
    fingerprint: str
    base_url: str
    project_dir: str
    output_path: str
    request_id: str | None
    progress: int | None
    video_url: str | None
    video_duration: float | None
    moderation: str | None
    cost_estimate_usd: float | None
    price_per_second_usd: float | None
    cost_ticks: int | None
    error_code: str | None
    error_message: str | None
    request_json: str | None
    submit_response_json: str | None
    response_json: str | None
    file_sha256: str | None
    file_bytes: int | None
    file_json: str | None
    sidecar_path: str | None
    created_at: str
    submitted_at: str | None
    completed_at: str | None
    downloaded_at: str | None
    updated_at: str
    poll_count: int
    next_poll_at: str | None
    last_pending_at: str | None
    lease_owner: str | None
    lease_expires_at: str | None
    # 007_workflow_columns
    block_source: str | None  # BlockSource
    block_reason: str | None  # BlockReason
    block_rule: str | None  # the rule's or cap's name
    block_category: str | None  # the rule's category
    reserved_usd: float | None  # budget held for this job until its charge is known
    template_name: str | None
    template_version: int | None
    preview: bool
    preview_of: str | None  # the preview job a final render was promoted from
    review_state: str | None  # None (pending) | approved | rejected
    reviewed_at: str | None
    reported_at: str | None
    report_reason: str | None
    file_output_json: str | None  # xAI's Files API copy (storage_options), as answered
    # 016_storage
    stored_at: str | None  # when its files were all in the shared bucket (stored_objects)

    @classmethod
    def from_row(cls, row: Any) -> Job:
        values = {name: row[name] for name in COLUMNS}
        values["status"] = Status(values["status"])
        values["generate_audio"] = bool(values["generate_audio"])
        values["preview"] = bool(values["preview"])
        return cls(**values)

    @property
    def params(self) -> dict[str, Any]:
        return dict(json.loads(self.params_json))

    @property
    def inputs(self) -> list[dict[str, Any]]:
        return list(json.loads(self.inputs_json))

    @property
    def file_info(self) -> dict[str, Any] | None:
        return json.loads(self.file_json) if self.file_json else None

    @property
    def response(self) -> dict[str, Any] | None:
        return json.loads(self.response_json) if self.response_json else None

    @property
    def output_seconds(self) -> float:
        return float(self.video_duration or self.params.get("output_seconds") or self.duration or 0)


COLUMNS = tuple(f.name for f in fields(Job))


@dataclass(frozen=True, slots=True)
class Brief:
    """What a run keeps of each of its jobs from start to end: enough to name it, report it,
    sum the run up and choose the exit code. A whole row is a few KiB; a batch of thousands keeps
    thousands of these, and the ledger holds the rest."""

    id: str
    seq: int
    status: Status
    output_path: str
    subject: str  # the prompt, else the first input, else the mode: what a person calls the job
    error_message: str | None = None
    cost_ticks: int | None = None

    @classmethod
    def of(cls, job: Job) -> Brief:
        prompt = job.prompt or job.prompt_sent  # (a template may need no prompt typed)
        inputs = json.loads(job.inputs_json) if not prompt else None
        subject = prompt or (str(inputs[0].get("source")) if inputs else job.mode)
        return cls(
            job.id,
            job.seq,
            job.status,
            job.output_path,
            subject,
            job.error_message,
            job.cost_ticks,
        )
