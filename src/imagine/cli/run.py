"""Drive jobs with a progress display, then report them: shared by `gen` and `wait`."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import typer

from imagine import ids, plan, render, sidecar
from imagine.cli import output
from imagine.cli.display import Display, make_display
from imagine.engine.runner import EngineOptions
from imagine.errors import ExitCode
from imagine.jobs import Job, Status
from imagine.pricing import format_usd, ticks_to_usd
from imagine.session import Session


@dataclass(frozen=True)
class Presentation:
    json: bool = False
    quiet: bool = False
    progress: str | None = None


def label(job: Job) -> str:
    text = job.prompt or (job.inputs[0]["source"] if job.inputs else job.mode)
    return " ".join(text.split())


def drive(
    session: Session,
    planned: Sequence[plan.Planned],
    *,
    wait: bool,
    timeout: float | None,
    show: Presentation,
) -> ExitCode:
    """Run the engine over the planned jobs, print results, return the exit status."""
    labels = {item.job.id: label(item.job) for item in planned}
    display = make_display(
        labels, quiet=show.quiet or (show.json and show.progress is None), progress=show.progress
    )
    _announce(planned, display)
    session.on_retry = lambda error, delay, attempt: display.note(
        f"{error}; retrying in {delay:.1f}s (attempt {attempt + 1})"
    )
    options = EngineOptions(
        rps=session.settings.rps,
        concurrency=session.settings.concurrency,
        wait=wait,
        timeout=timeout,
    )
    to_drive = [item.job.id for item in planned if item.needs_engine]
    try:
        with display:
            outcomes = asyncio.run(render.drive(session, to_drive, options=options, sink=display))
    except KeyboardInterrupt:
        _interrupted(session, to_drive)
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    found = render.results(planned, outcomes)
    report(found, show)
    return render.exit_code(found, waited=wait)


def _announce(planned: Sequence[plan.Planned], display: Display) -> None:
    for item in planned:
        job = item.job
        if item.action == plan.REUSED:
            display.note(
                f"#{job.seq} already rendered (same request): {shown_path(job.output_path)}"
            )
        elif item.action == plan.ATTACHED:
            display.note(
                f"#{job.seq} is already {job.status}: following it instead of paying again"
            )
        elif item.action == plan.UNRESOLVED:
            display.note(
                f"#{job.seq} (same request) is unknown: its answer was lost. "
                f"Run `imagine retry {ids.short(job.id)}` or `imagine cancel {ids.short(job.id)}`, "
                "or pass --force to render anew."
            )


def _interrupted(session: Session, job_ids: Sequence[str]) -> None:
    jobs = [session.ledger.require(job_id) for job_id in job_ids]
    live = [job for job in jobs if job.status.live]
    if live:
        refs = " ".join(ids.short(job.id) for job in live)
        output.message(
            f"interrupted: {len(live)} job(s) left resumable, nothing lost. "
            f"Resume with: imagine wait {refs}"
        )
    for job in jobs:
        if job.status is Status.UNKNOWN:
            output.warn(job.error_message or f"#{job.seq} is unknown")


def report(found: Sequence[render.Result], show: Presentation) -> None:
    for result in found:
        if show.json:
            output.json_line(sidecar.job_document(result.job))
        else:
            _report_text(result, show.quiet)


def _report_text(result: render.Result, quiet: bool) -> None:
    job = result.job
    if job.status is Status.COMPLETE:
        output.data(shown_path(job.output_path))
        if not quiet:
            verb = "reused" if result.action == plan.REUSED else "complete"
            output.message(f"✓ #{job.seq} {verb}: {summary(job)}", style="green")
    elif job.status.live:
        output.data(job.id)
        if not quiet:
            output.message(_live_note(job, result.reason))
    elif result.error is not None:
        output.error(str(result.error))
    else:
        text = job.error_message or str(job.status)
        output.message(f"✗ #{job.seq} {job.status}: {text}", style="red")


def _live_note(job: Job, reason: str | None) -> str:
    ref = ids.short(job.id)
    if reason == "timeout":
        return f"#{job.seq} still {job.status} when the wait timed out; resume: imagine wait {ref}"
    if reason == "held":
        return f"#{job.seq} is being handled by another imagine process"
    if reason == "unreachable":
        return f"#{job.seq} is {job.status} and safe in the ledger; resume: imagine wait {ref}"
    return f"#{job.seq} {job.status}; finish it with: imagine wait {ref}"


def summary(job: Job) -> str:
    info = job.file_info or {}
    parts = [shown_path(job.output_path)]
    if info.get("duration"):
        audio = "audio" if info.get("has_audio") else "silent"
        parts.append(f"{info['duration']:.1f} s {info.get('width')}×{info.get('height')} {audio}")
    if job.cost_ticks is not None:
        parts.append(format_usd(ticks_to_usd(job.cost_ticks)))
    elif job.cost_estimate_usd is not None:
        parts.append(f"~{format_usd(job.cost_estimate_usd)}")
    return " · ".join(parts)


def shown_path(path: str) -> str:
    """Paths relative to the current folder when inside it, else absolute."""
    try:
        return os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd()) else path
    except ValueError:
        return path
