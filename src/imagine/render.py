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

from imagine import plan, policy
from imagine.config import Settings
from imagine.engine.events import Reason, Sink, null_sink
from imagine.engine.runner import Engine, EngineOptions, Outcome
from imagine.errors import ExitCode, ImagineError
from imagine.jobs import UNSUCCESSFUL, Brief, Status
from imagine.project import Outputs, ensure_writable
from imagine.session import Session
from imagine.spec import RenderSpec, validate


@dataclass(frozen=True)
class Preview:
    requests: tuple[plan.Request, ...]
    total_usd: float
    base_url: str

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
    session: Session, requests: Sequence[plan.Request], *, dry_run: bool = False
) -> Preview:
    """Validate everything that can be checked offline; nothing is sent.

    Unless this is a dry run, the output folders are created and proven writable, so that a render
    is never paid for and then lost for want of a place to put it.
    """
    outputs = Outputs(session.project)
    folders: set[Path] = set()
    for request in requests:
        validate(request.spec)
        folders.add(_output_folder(outputs, request))
    total = sum(plan.estimate(r.spec, session.settings.prices).usd for r in requests)
    if not dry_run:
        for folder in sorted(folders):
            ensure_writable(folder)
    return Preview(tuple(requests), total, session.base_url)


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
    """Write the jobs to the ledger (or find them there already). Needs credentials first.
    ``settings``: those in force for this command (its --max-cost), if not the session's."""
    session.require_credentials()
    policy.check_budget(preview_.total_usd, settings or session.settings)
    target = plan.Target(
        project=session.project,
        base_url=preview_.base_url,
        prices=session.settings.prices,
        consent=consent,
    )
    return plan.plan(session.ledger, preview_.requests, target, force=force)


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
