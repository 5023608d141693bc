"""Drive jobs with a progress display, report each as it finishes, then sum up.

Shared by every command that renders (`gen`, `edit`, `extend`, `batch`, `retry`) and by `wait`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import typer

from imagine import ids, plan, render, sidecar
from imagine.cli import output
from imagine.cli.display import Display, make_display
from imagine.engine.download import MIB, Limits
from imagine.engine.events import FINAL_KINDS, Reason, Update
from imagine.engine.runner import EngineOptions, Outcome
from imagine.errors import ExitCode
from imagine.jobs import Brief, Job, Status
from imagine.pricing import format_usd, ticks_to_usd
from imagine.session import Session


@dataclass(frozen=True)
class Presentation:
    json: bool = False
    quiet: bool = False
    progress: str | None = None


def label(job: Brief) -> str:
    return " ".join(job.subject.split())


class Reporter:
    """Prints each job's result the moment it is final: scripts and pipelines can act on the
    first video while the others still render."""

    def __init__(
        self, session: Session, show: Presentation, actions: dict[str, plan.Action]
    ) -> None:
        self.session = session
        self.show = show
        self.actions = actions
        self.printed: set[str] = set()

    def __call__(self, update: Update) -> None:
        if update.kind in FINAL_KINDS and update.job_id and update.job_id not in self.printed:
            self.print(update.job_id, self.actions.get(update.job_id, plan.Action.NEW))

    def print(self, job_id: str, action: plan.Action, result: render.Result | None = None) -> None:
        """The job as the ledger has it now (a run keeps only briefs); ``result`` says why the
        engine let go of it, when it did."""
        job = self.session.ledger.require(job_id)
        self.printed.add(job_id)
        if self.show.json:
            output.json_line(sidecar.job_document(job))
        else:
            # With --progress json the job's own events already said it; results stay on stdout.
            brief = self.show.quiet or self.show.progress == "json"
            _report_text(job, action, result, brief)


def drive(
    session: Session,
    planned: Sequence[plan.Planned],
    *,
    wait: bool,
    timeout: float | None,
    show: Presentation,
    rps: float | None = None,
    concurrency: int | None = None,
) -> ExitCode:
    """Run the engine over the planned jobs, report them, return the exit status."""
    labels = {item.job.id: label(item.job) for item in planned}
    display = make_display(labels, quiet=show.quiet, progress=show.progress)
    reporter = Reporter(session, show, {item.job.id: item.action for item in planned})
    # A reused job's result line says so; a JSON result cannot, so the progress stream does.
    _announce(planned, display, reuse_noted=show.json or show.progress == "json")
    session.on_retry = lambda error, delay, attempt: display.note(
        f"{error}; retrying in {delay:.1f}s (attempt {attempt + 1})"
    )
    options = EngineOptions(
        rps=rps or session.settings.rps,
        concurrency=concurrency or session.settings.concurrency,
        wait=wait,
        timeout=timeout,
        download=Limits(max_bytes=session.settings.max_download_mb * MIB),
    )
    to_drive = [item.job.id for item in planned if item.needs_engine]

    stop = _StopOnClosedStdout()

    def sink(update: Update) -> None:
        display(update)
        with stop.guard():
            reporter(update)

    async def run() -> list[Outcome]:
        stop.task = asyncio.current_task()
        return await render.drive(session, to_drive, options=options, sink=sink)

    try:
        with display:
            outcomes = asyncio.run(run())
    except KeyboardInterrupt:
        _interrupted(session, to_drive)
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    except (BrokenPipeError, asyncio.CancelledError):
        if not stop.closed:
            raise
        _interrupted(session, to_drive, why="stdout closed")
        raise BrokenPipeError from None
    found = render.results(planned, outcomes)
    for result in found:
        if result.job.id not in reporter.printed:
            reporter.print(result.job.id, result.action, result)
        elif result.error is not None and result.job.status is Status.FAILED:
            _error_detail(result)
    if (
        len(found) > 1
        and not (show.json or show.quiet or show.progress == "json")
        and output.stderr_is_terminal()
    ):
        output.err().print(summary_table(found))
    return render.exit_code(found, waited=wait)


class _StopOnClosedStdout:
    """A reader that stops reading (`imagine batch … | head -1`) ends the run as Ctrl-C does:
    the engine is cancelled, not handed an error, so every job keeps its state in the ledger
    and `imagine wait` carries on."""

    def __init__(self) -> None:
        self.task: asyncio.Task[list[Outcome]] | None = None
        self.closed = False

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        try:
            yield
        except BrokenPipeError:
            if not self.closed and self.task is not None:
                self.task.cancel()
            self.closed = True


def _announce(planned: Sequence[plan.Planned], display: Display, *, reuse_noted: bool) -> None:
    for item in planned:
        job = item.job
        if item.action == plan.Action.REUSED and reuse_noted:
            display.note(
                f"#{job.seq} already rendered by an earlier run (same request): "
                f"{shown_path(job.output_path)}; nothing paid this run"
            )
        elif item.action == plan.Action.ATTACHED:
            display.note(f"#{job.seq} is already {job.status}: following it, not paying again")
        elif item.action == plan.Action.UNRESOLVED:
            display.note(
                f"#{job.seq} (same request) is unknown: its answer was lost. "
                f"Run `imagine retry {ids.short(job.id)}` or `imagine cancel {ids.short(job.id)}`, "
                "or pass --force to render anew."
            )
        elif item.action == plan.Action.BLOCKED_BEFORE:
            display.note(
                f"#{job.seq} (same request) was blocked by the provider's moderation: not sending "
                f"it again. Change the prompt, or run `imagine retry {ids.short(job.id)}` "
                "to try (and pay) again."
            )


def _interrupted(session: Session, job_ids: Sequence[str], why: str = "interrupted") -> None:
    jobs = [session.ledger.require(job_id) for job_id in dict.fromkeys(job_ids)]
    live = [job for job in jobs if job.status.live]
    if live:
        refs = " ".join(ids.short(job.id) for job in live)
        output.message(
            f"{why}: {len(live)} job(s) left resumable, nothing lost. "
            f"Resume with: imagine wait {refs}"
        )
    for job in jobs:
        if job.status is Status.UNKNOWN:
            output.warn(job.error_message or f"#{job.seq} is unknown")


def _report_text(job: Job, action: plan.Action, result: render.Result | None, quiet: bool) -> None:
    if job.status is Status.COMPLETE:
        output.data(shown_path(job.output_path))
        if quiet:
            pass
        elif action == plan.Action.REUSED:
            output.message(f"✓ #{job.seq} reused: {summary(job, reused=True)}", style="green")
        else:
            output.message(f"✓ #{job.seq} complete: {summary(job)}", style="green")
    elif job.status.live:
        output.data(job.id)
        if not quiet:
            output.message(_live_note(job, result.reason if result else None))
    elif result is not None and result.error is not None and job.status is not Status.UNKNOWN:
        output.error(str(result.error))
    else:
        text = job.error_message or str(job.status)
        output.message(f"✗ #{job.seq} {job.status}: {text}", style="red")


def _error_detail(result: render.Result) -> None:
    """A refusal reported as a failed job gets its full error line too (the fix it names)."""
    if result.error is not None and str(result.error) != result.job.error_message:
        output.error(str(result.error))


def _live_note(job: Job, reason: Reason | None) -> str:
    ref = ids.short(job.id)
    if reason is Reason.TIMEOUT:
        return f"#{job.seq} still {job.status} when the wait timed out; resume: imagine wait {ref}"
    if reason is Reason.UNREACHABLE:
        return f"#{job.seq} is {job.status} and safe in the ledger; resume: imagine wait {ref}"
    return f"#{job.seq} {job.status}; finish it with: imagine wait {ref}"


def summary(job: Job, *, reused: bool = False) -> str:
    info = job.file_info or {}
    parts = [shown_path(job.output_path)]
    if info.get("duration"):
        audio = "audio" if info.get("has_audio") else "silent"
        parts.append(f"{info['duration']:.1f} s {info.get('width')}×{info.get('height')} {audio}")
    if reused:
        # Rendered (and paid) by an earlier run: say so, and how to get another take.
        paid = f" for {format_usd(ticks_to_usd(job.cost_ticks))}" if job.cost_ticks else ""
        parts.append(
            f"{format_usd(0)} this run: already rendered{paid} by an earlier run "
            "(for a new take add --force, or -n 2)"
        )
    elif job.cost_ticks is not None:
        parts.append(format_usd(ticks_to_usd(job.cost_ticks)))
    elif job.cost_estimate_usd is not None:
        parts.append(f"~{format_usd(job.cost_estimate_usd)}")
    return " · ".join(parts)


def summary_table(found: Sequence[render.Result]) -> object:
    """The end-of-run table on a terminal: what happened to each job, and the total spent."""
    from rich.table import Table

    table = Table(title=None, box=None, pad_edge=False, header_style="bold")
    for name in ("#", "status", "result", "cost"):
        table.add_column(name, overflow="ellipsis", no_wrap=name != "result")
    spent = 0.0
    for result in found:
        job = result.job
        cost = ticks_to_usd(job.cost_ticks) if job.cost_ticks is not None else None
        if cost is not None and result.action in plan.DRIVEN:
            spent += cost
        what = shown_path(job.output_path) if job.status is Status.COMPLETE else job.error_message
        status = "reused" if result.action == plan.Action.REUSED else str(job.status)
        shown_cost = format_usd(0) if result.action == plan.Action.REUSED else format_usd(cost)
        table.add_row(str(job.seq), status, what or "", shown_cost if cost else "")
    counts: dict[str, int] = {}
    for result in found:
        counts[str(result.job.status)] = counts.get(str(result.job.status), 0) + 1
    tally = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    table.caption = f"{len(found)} jobs: {tally}; spent {format_usd(spent)} this run"
    return table


def shown_path(path: str) -> str:
    """Paths relative to the current folder when inside it, else absolute."""
    try:
        return os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd()) else path
    except ValueError:
        return path
