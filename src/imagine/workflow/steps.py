"""The render workflow shared by `gen`, `edit`, `extend` and `batch`: check, record, drive.

The CLI calls these in order; each step either succeeds or raises an ImagineError before anything is
half-written.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from imagine import admin
from imagine.config import Settings
from imagine.engine.events import Reason, Sink, null_sink
from imagine.engine.runner import Engine, EngineOptions, Outcome
from imagine.errors import ExitCode, ImagineError, PolicyError
from imagine.lifecycle import UNSUCCESSFUL, Brief, Job, Status
from imagine.project import Outputs, ensure_writable
from imagine.rules import Hit, PolicyLevel
from imagine.session import Session
from imagine.spec import RenderSpec, validate
from imagine.workflow import plan, spend_checks


@dataclass(frozen=True)
class Refused:
    """A request a local rule refused: it is recorded blocked, and nothing is sent."""

    request: plan.Request
    hit: Hit


@dataclass(frozen=True)
class Preview:
    requests: tuple[plan.Request, ...]  # those the rules allow
    total_usd: float
    base_url: str
    refused: tuple[Refused, ...] = ()
    warnings: tuple[Hit, ...] = ()  # rules with action warn that matched (each once)

    @property
    def specs(self) -> list[RenderSpec]:
        return [request.spec for request in self.requests]

    def bodies(self) -> list[dict[str, object]]:
        return [spec.body() for spec in self.specs]


@dataclass(frozen=True, slots=True)
class Result:
    job: Brief
    action: plan.Action
    reason: Reason | None = None
    error: ImagineError | None = None


def preview(
    session: Session,
    requests: Sequence[plan.Request],
    *,
    dry_run: bool = False,
    level: PolicyLevel | None = None,
) -> Preview:
    """Validate everything that can be checked offline; nothing is sent.

    Each prompt, as it would be sent, is checked against the rules in force (``level``: the
    command's policy level); what the admin policy file forbids is refused here, for every
    request, before anything is recorded. Unless this is a dry run, the output folders are
    created and proven writable, so that a render is never paid for and then lost for want of
    a place to put it.
    """
    rules = session.rules(level or session.settings.policy)
    outputs = Outputs(session.project)
    folders: set[Path] = set()
    allowed: list[plan.Request] = []
    refused: list[Refused] = []
    warnings: dict[str, Hit] = {}
    for request in requests:
        validate(request.spec)
        check_admin(session, request.spec)
        verdict = rules.check(request.spec.prompt)
        warnings.update((hit.rule, hit) for hit in verdict.warnings)
        if verdict.blocked_by is not None:
            refused.append(Refused(request, verdict.blocked_by))
            continue
        allowed.append(request)
        folders.add(_output_folder(outputs, request))
    total = sum(plan.estimate(r.spec, session.settings.prices).usd for r in allowed)
    if not dry_run:
        for folder in sorted(folders):
            ensure_writable(folder)
    return Preview(
        tuple(allowed), total, session.base_url, tuple(refused), tuple(warnings.values())
    )


def limits(session: Session) -> admin.Limits:
    return admin.Limits(session.settings, session.admin)


def check_admin(session: Session, spec: RenderSpec) -> None:
    """Refuse (exit 5; audited when the admin file forbids it) a request over the limits."""
    try:
        limits(session).check_spec(spec)
    except PolicyError as refusal:
        admin.audit(session.ledger, refusal, attempted=f"{spec.mode} with {spec.model}")
        raise


def check_again(session: Session, job: Job) -> None:
    """A job sent again (`imagine retry`) meets the rules and the admin policy in force now."""
    inputs = [
        (str(item.get("kind")), str(item.get("sent_as")), str(item.get("source")))
        for item in job.inputs
    ]
    try:
        limits(session).check_request(job.mode, job.model, job.resolution, inputs)
    except PolicyError as refusal:
        admin.audit(session.ledger, refusal, attempted=f"retry of {job.mode} #{job.seq}")
        raise
    hit = session.rules(session.settings.policy).check(job.prompt_sent).blocked_by
    if hit is not None:
        raise PolicyError(f"#{job.seq} not retried. {hit.message}")


def _output_folder(outputs: Outputs, request: plan.Request) -> Path:
    def fields() -> dict[str, object]:
        return plan.template_fields(request.spec, "0" * 26, 1, datetime.now())

    return outputs.folder(request.template, fields)


def record(
    session: Session,
    preview_: Preview,
    *,
    force: bool = False,
    consent: Mapping[str, Any] | None = None,
    settings: Settings | None = None,
) -> list[plan.Planned]:
    """Write the jobs to the ledger (or find them there already): the refused ones as blocked,
    first. Needs credentials first (for what will be sent). ``settings``: those in force for
    this command (its --max-cost), if not the session's."""
    if preview_.requests:
        session.require_credentials()
    spend_checks.check_budget(preview_.total_usd, settings or session.settings)
    target = plan.Target(
        project=session.project,
        base_url=preview_.base_url,
        prices=session.settings.prices,
        consent=consent,
    )
    blocked = [
        plan.refuse(session.ledger, item.request, item.hit, target) for item in preview_.refused
    ]
    return blocked + plan.plan(session.ledger, preview_.requests, target, force=force)


async def drive(
    session: Session,
    job_ids: Sequence[str] | AsyncIterable[Sequence[str]],
    *,
    options: EngineOptions,
    sink: Sink = null_sink,
) -> list[Outcome]:
    """Run the engine over the jobs: a list, or chunks of ids as they are recorded."""
    engine = Engine(session.ledger, session.client, sink=sink, options=options)
    if isinstance(job_ids, AsyncIterable):
        return await engine.run(job_ids)
    return await engine.run(list(job_ids))


def results(
    planned: Sequence[plan.Planned],
    outcomes: Sequence[Outcome],
    *,
    not_taken: Reason | None = None,
) -> list[Result]:
    """Each planned job's result. ``not_taken``: why a job the engine should have carried on
    has no outcome (a streamed batch whose time ran out before the job was handed over)."""
    by_id = {outcome.job.id: outcome for outcome in outcomes}
    found = []
    for item in planned:
        outcome = by_id.get(item.job.id)
        if outcome is None:
            reason = not_taken if item.needs_engine else None
            found.append(Result(item.job, item.action, reason))
        else:
            found.append(Result(outcome.job, item.action, outcome.reason, outcome.error))
    return found


def exit_code(found: Sequence[Result], *, waited: bool = True) -> ExitCode:
    """The documented exit status for a set of jobs (README, "Exit codes"), most serious first."""
    errors = [result.error for result in found if result.error is not None]
    if any(result.reason is Reason.AUTH for result in found):
        return ExitCode.AUTH
    if any(error.exit_code == ExitCode.USAGE for error in errors):
        return ExitCode.USAGE
    if any(error.exit_code == ExitCode.POLICY for error in errors):
        return ExitCode.POLICY  # a budget refused some jobs: nothing over it was sent
    if any(r.job.status in UNSUCCESSFUL and r.error is None for r in found):
        return ExitCode.JOB_FAILED
    if any(r.reason is Reason.UNREACHABLE or r.job.status is Status.UNKNOWN for r in found):
        return ExitCode.UNREACHABLE
    if any(r.reason is Reason.TIMEOUT for r in found):
        return ExitCode.TIMEOUT
    if waited and any(r.job.status.live for r in found):
        return ExitCode.TIMEOUT
    return ExitCode.OK
