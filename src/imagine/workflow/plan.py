"""From requests to ledger rows: reuse what was already rendered, attach to what is running,
record the rest as queued jobs — before any network call.

The check for an earlier job and the insert of a new one happen in one write transaction, so two
processes given the same request at the same moment record it once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from imagine import ids
from imagine.ledger.store import Ledger
from imagine.lifecycle import BlockReason, BlockSource, Brief, EventKind, Job, Status
from imagine.money import pricing
from imagine.project import Outputs, Project, plan_output, slugify
from imagine.render_files import taken_in
from imagine.rules import Hit
from imagine.spec import Mode, Origin, RenderSpec
from imagine.workflow.reuse import Found, SidecarIndex, import_render


class Action(StrEnum):
    """What a run does with each job it names."""

    NEW = "new"
    REUSED = "reused"  # complete, its file on disk (or in shared storage, fetched from there)
    ATTACHED = "attached"  # live: followed, not paid again
    UNRESOLVED = "unresolved"  # unknown: the user decides
    BLOCKED_BEFORE = "blocked-before"  # the provider's moderation blocked the same request
    REFUSED = "refused"  # a local policy rule: recorded blocked, never sent
    RESUMED = "resumed"  # named to `imagine wait`, unfinished
    SETTLED = "settled"  # named to `imagine wait`, final


RECORD_CHUNK = 100  # requests recorded per write transaction (the write lock is held ~30 ms)
DRIVEN = (Action.NEW, Action.ATTACHED, Action.RESUMED)  # what the engine carries on in this run


@dataclass(frozen=True, slots=True)  # (one per job of a batch, kept to its end)
class Planned:
    job: Brief  # (a batch keeps one per job for its whole run: the ledger has the rest)
    action: Action

    @classmethod
    def of(cls, job: Job, action: Action) -> Planned:
        return cls(Brief.of(job), action)

    @property
    def needs_engine(self) -> bool:
        return self.action in DRIVEN


@dataclass(frozen=True)
class Target:
    """Where and how new jobs are recorded."""

    project: Project
    base_url: str
    prices: Mapping[str, Mapping[str, float]]
    consent: Mapping[str, Any] | None = None  # edits: who confirmed consent, how and when


@dataclass(frozen=True)
class Request:
    spec: RenderSpec
    template: str  # output path template, relative to the project


def variations(spec: RenderSpec, template: str, count: int) -> list[Request]:
    """One request per take of the same spec (`-n`), numbered from 1; each becomes a job of its own.

    Several takes carry their number in their names (``…-fox-take2-k3j9x0ab.mp4``) unless the
    template places ``{n}`` itself: otherwise only a random suffix would tell them apart."""
    if count > 1 and "{n}" not in template:
        template = (
            template.replace("{short}", "take{n}-{short}", 1)
            if "{short}" in template
            else template + "-take{n}"
        )
    return [Request(replace(spec, variation=n), template) for n in range(1, count + 1)]


def estimate(spec: RenderSpec, prices: Mapping[str, Mapping[str, float]]) -> pricing.Estimate:
    images = sum(1 for item in spec.inputs if item.role != "video")
    video_seconds = float(spec.video.seconds or 0) if spec.video else 0.0
    return pricing.estimate(
        spec.model,
        spec.billed_resolution,
        spec.output_seconds,
        input_images=images,
        input_video_seconds=video_seconds,
        prices=prices,
    )


def classify(job: Job) -> Planned | None:
    """What an earlier job for the same request means for a new one, if anything."""
    action = _action(job)
    return Planned.of(job, action) if action else None


def _action(job: Job) -> Action | None:
    """Failed, expired and canceled requests are sent again (what they would have made is still
    missing). One the provider's moderation blocked is not: the same request is most likely
    blocked again, and may be billed again. `imagine retry` or ``--force`` sends it anyway."""
    if job.status is Status.COMPLETE and (job.stored_at or Path(job.output_path).is_file()):
        return Action.REUSED
    if job.status.live:
        return Action.ATTACHED
    if job.status is Status.UNKNOWN:
        return Action.UNRESOLVED
    if job.status is Status.BLOCKED and job.block_source != BlockSource.LOCAL:
        return Action.BLOCKED_BEFORE
    return None  # (a local refusal is decided again by the rules in force now)


def find_existing(ledger: Ledger, fingerprint: str) -> Planned | None:
    """The newest earlier job for the same request that makes a new render unnecessary."""
    found = _earlier(ledger, fingerprint)
    return Planned.of(*found) if found else None


def _earlier(ledger: Ledger, fingerprint: str) -> tuple[Job, Action] | None:
    for job in ledger.by_fingerprint(fingerprint):
        action = _action(job)
        if action:
            return job, action
    return None


def plan(
    ledger: Ledger, requests: Sequence[Request], target: Target, *, force: bool = False
) -> list[Planned]:
    """Each request's job: an earlier one that makes a new render unnecessary, else a new one.

    A batch is recorded RECORD_CHUNK requests per write transaction: one commit for many rows
    instead of one each (a third of the cost of recording a job). What is read from disk and the
    ledger to decide is read first, outside the write lock; the check that matters, for a job
    with the same fingerprint, is made again under it, where it also sees the chunk's own rows.
    """
    index = SidecarIndex(target.project, ledger)
    outputs = Outputs(target.project)
    planned: list[Planned] = []
    for start in range(0, len(requests), RECORD_CHUNK):
        chunk = requests[start : start + RECORD_CHUNK]
        looked_up = [_look_up(ledger, index, request, target, force) for request in chunk]
        with ledger.transaction():
            for request, (fingerprint, existing, on_disk) in zip(chunk, looked_up, strict=True):
                if existing is None and on_disk is not None:
                    existing = Planned.of(
                        import_render(ledger, on_disk, target.project), Action.REUSED
                    )
                planned.append(
                    existing or _record(ledger, request, fingerprint, target, outputs, force=force)
                )
    note_duplicates(ledger, planned)
    return planned


def _look_up(
    ledger: Ledger, index: SidecarIndex, request: Request, target: Target, force: bool
) -> tuple[str, Planned | None, Found | None]:
    """The request's fingerprint, and an earlier job for it in the ledger or a render of it on
    disk (neither with ``force``)."""
    fingerprint = request.spec.fingerprint(target.base_url)
    if force:
        return fingerprint, None, None
    existing = find_existing(ledger, fingerprint)
    return fingerprint, existing, None if existing else index.find(fingerprint)


def _record(
    ledger: Ledger,
    request: Request,
    fingerprint: str,
    target: Target,
    outputs: Outputs,
    *,
    force: bool,
) -> Planned:
    spec = request.spec
    job_id = ids.new_id()
    cost = estimate(spec, target.prices)
    created = datetime.now()

    def values(seq: int) -> dict[str, Any]:
        fields = template_fields(spec, job_id, seq, created)
        output = plan_output(target.project, request.template, fields, taken_in(ledger), outputs)
        return _row(spec, job_id, fingerprint, output, cost, target)

    def earlier() -> Job | None:
        found = None if force else _earlier(ledger, fingerprint)
        return found[0] if found else None

    job = ledger.insert(
        values,
        detail={"estimate_usd": round(cost.usd, 4)},
        audit=_audit(spec, target),
        unless=earlier,
    )
    if job.id != job_id:  # another process recorded the same request a moment ago
        return classify(job) or Planned.of(job, Action.ATTACHED)
    return Planned.of(job, Action.NEW)


def refuse(ledger: Ledger, request: Request, hit: Hit, target: Target) -> Planned:
    """Record a request a local rule refused: blocked from the start, never live, never sent.
    Its events and file name carry the rule, not the prompt (the row keeps it as typed)."""
    spec = request.spec
    job_id = ids.new_id()
    cost = estimate(spec, target.prices)
    created = datetime.now()
    fingerprint = spec.fingerprint(target.base_url)

    def values(seq: int) -> dict[str, Any]:
        fields = {**template_fields(spec, job_id, seq, created), "slug": "blocked"}
        output = plan_output(target.project, request.template, fields, taken_in(ledger))
        return {
            **_row(spec, job_id, fingerprint, output, cost, target),
            "status": Status.BLOCKED,
            "block_source": BlockSource.LOCAL,
            "block_reason": BlockReason.POLICY,
            "block_rule": hit.rule,
            "block_category": hit.category,
            "error_code": "policy",
            "error_message": hit.message,
        }

    detail = {"block_source": str(BlockSource.LOCAL), "rule": hit.rule, "category": hit.category}
    return Planned.of(ledger.insert(values, detail=detail), Action.REFUSED)


def _row(
    spec: RenderSpec,
    job_id: str,
    fingerprint: str,
    output: Path,
    cost: pricing.Estimate,
    target: Target,
) -> dict[str, Any]:
    params = spec.params()
    if target.consent is not None and spec.mode == Mode.EDIT:
        params["consent"] = dict(target.consent)
    origin = spec.origin or Origin()
    if origin.final is not None:
        params["final_options"] = dict(origin.final)
    return {
        "id": job_id,
        "parent_id": next((item.job_id for item in spec.inputs if item.job_id), None),
        "status": Status.QUEUED,
        "mode": spec.mode,
        "model": spec.model,
        "route": spec.route,
        "prompt": spec.raw_prompt,
        "prompt_sent": spec.prompt,
        "duration": spec.duration,
        "aspect_ratio": spec.aspect_ratio,
        "resolution": spec.resolution,
        "generate_audio": spec.generate_audio,
        "variation": spec.variation,
        "params_json": json.dumps(params),
        "inputs_json": json.dumps([item.reference() for item in spec.inputs]),
        "fingerprint": fingerprint,
        "base_url": target.base_url,
        "project_dir": str(target.project.root),
        "output_path": str(output),
        "cost_estimate_usd": cost.usd,
        "price_per_second_usd": cost.price_per_second,
        "request_json": json.dumps(spec.recorded_body()),
        "template_name": origin.template,
        "template_version": origin.template_version,
        "preview": origin.preview,
        "preview_of": origin.preview_of,
    }


def _audit(spec: RenderSpec, target: Target) -> dict[str, Any] | None:
    """Edits are audited: who, when, which input (by hash), which prompt, how consent was given."""
    if spec.mode != Mode.EDIT or spec.video is None:
        return None
    consent = dict(target.consent or {})
    return {
        "action": "edit",
        "actor": consent.get("by"),
        "consent": consent.get("how"),
        "input_sha256": spec.video.sha256,
        "input_source": spec.video.source,
        "prompt": spec.prompt,
    }


def template_fields(
    spec: RenderSpec, job_id: str, seq: int, created: datetime
) -> dict[str, object]:
    prompt = spec.raw_prompt or spec.prompt
    subject = prompt or (spec.inputs[0].source if spec.inputs else "video")
    return {
        "date": created.strftime("%Y-%m-%d"),
        "time": created.strftime("%H%M%S"),
        "slug": slugify(Path(subject).stem if not prompt else subject),
        "id": job_id,
        "short": ids.short(job_id),
        "seq": seq,
        "n": spec.variation,
        "model": spec.model,
        "mode": spec.mode,
        "duration": spec.duration if spec.duration is not None else "",
        "resolution": spec.resolution or "",
        "aspect": (spec.aspect_ratio or "").replace(":", "x"),
    }


def note_duplicates(ledger: Ledger, planned: Sequence[Planned]) -> None:
    """Record each request that needed no new render (reused or attached) on the job that served
    it, with what a new render would have cost: `imagine stats` counts them."""
    kinds = {Action.REUSED: EventKind.REUSED, Action.ATTACHED: EventKind.ATTACHED}
    notes = []
    for item in planned:
        if item.action in kinds:
            job = ledger.get(item.job.id)
            if job is None:
                continue
            paid = pricing.ticks_to_usd(job.cost_ticks) if job.cost_ticks is not None else None
            saved = paid if paid is not None else job.cost_estimate_usd or 0.0
            notes.append((job.id, kinds[item.action], {"saved_usd": round(saved, 4)}))
    if notes:
        ledger.note(notes)
