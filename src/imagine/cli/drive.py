"""Drive jobs with a progress display, report each as it finishes, then sum up.

Shared by every command that renders (`gen`, `edit`, `extend`, `batch`, `retry`) and by `wait`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

import typer

from imagine import clock, ids, sidecar
from imagine.cli import output
from imagine.cli.display import Display, JsonDisplay, LoggedDisplay, NullDisplay, PlainDisplay
from imagine.cli.output import shown_path
from imagine.cli.tracking import FINAL_KINDS, Entry, RunState
from imagine.engine import schedule
from imagine.engine.download import MIB, Limits
from imagine.engine.events import Reason, Update, UpdateKind
from imagine.engine.runner import EngineOptions, Outcome
from imagine.errors import ExitCode, sentences
from imagine.lifecycle import Brief, Job, Status
from imagine.money import caps
from imagine.money.pricing import format_usd, ticks_to_usd
from imagine.observability import tracing
from imagine.session import Session
from imagine.workflow import plan, steps


@dataclass(frozen=True)
class Presentation:
    json: bool = False
    quiet: bool = False
    progress: str | None = None

    @property
    def silent(self) -> bool:
        """No display speaks for the jobs: results and errors are all there is."""
        return self.quiet or self.progress == "none"


class Reporter:
    """Prints each job's result on stdout the moment it is final: scripts and pipelines can act on
    the first video while the others still render. What happened is the display's to say, once;
    only with -q, where no display speaks, does a job that did not succeed get its line here."""

    def __init__(self, show: Presentation, display: Display) -> None:
        self.show = show
        self.display = display
        self.printed: set[str] = set()

    def report(self, job: Job, result: steps.Result | None = None) -> None:
        """The job as the ledger has it now (a run keeps only briefs); ``result`` says why the
        engine let go of it, when it did."""
        self.printed.add(job.id)
        if self.show.json:
            output.json_line(sidecar.job_document(job))
        elif not self.display.shows_results:  # (else the display's line on this terminal says it)
            if job.status is Status.COMPLETE:
                output.data(shown_path(job.output_path))
            elif job.status.live:
                output.data(job.id)
        if self.show.silent and not job.status.live and job.status is not Status.COMPLETE:
            error = result.error if result is not None else None
            if error is not None and job.status is not Status.UNKNOWN:
                output.error(str(error))
            else:
                text = job.error_message or str(job.status)
                output.message(f"✗ #{job.seq} {job.status}: {text}", style="red")


def drive(
    session: Session,
    planned: Sequence[plan.Planned],
    *,
    wait: bool,
    timeout: float | None,
    show: Presentation,
    rps: float | None = None,
    concurrency: int | None = None,
    more: Iterable[Sequence[plan.Planned]] | None = None,
) -> ExitCode:
    """Run the engine over the planned jobs, report them, return the exit status.

    ``more``: further jobs, a chunk at a time, recorded while the first are already driven (a
    long batch streams). The engine asks for the next chunk only when it has room for it and the
    time is not up, so each chunk is recorded as late as it can be, and none after --timeout.
    With shared storage, reused renders this folder lacks are fetched first (each chunk's too),
    and finished ones uploaded at the end."""
    from imagine.cli.share import RunStorage

    storage = RunStorage.start(session, planned)
    planned = storage.planned
    options = EngineOptions(
        rps=rps or session.settings.rps,
        concurrency=concurrency or session.settings.concurrency,
        wait=wait,
        timeout=timeout,
        download=Limits(max_bytes=session.settings.max_download_mb * MIB),
        budget=caps.of_settings(session.settings, str(session.project.root)),
    )
    display = make_display(
        entries(session, planned),
        quiet=show.quiet,
        progress=show.progress,
        concurrency=options.concurrency,
        rps=options.rps,
        simulated=session.use_sim,
    )
    reporter = Reporter(show, display)
    _announce(planned, display)
    session.on_retry = lambda error, delay, attempt: display(_retrying(error, delay, attempt))
    to_drive = [item.job.id for item in planned if item.needs_engine]
    kept = list(planned)  # (grows as ``more`` is recorded)

    stop = _StopOnClosedStdout()

    tracer = _tracer()

    def sink(update: Update) -> None:
        if update.kind in FINAL_KINDS and update.job_id and update.job_id not in reporter.printed:
            job = session.ledger.require(update.job_id)
            update = with_facts(
                with_file(update, job) if job.status is Status.COMPLETE else update, job
            )
            display(update)
            with stop.guard():
                reporter.report(job)
        else:
            display(update)
        if tracer is not None:
            tracer(update)

    async def intake(chunks: Iterable[Sequence[plan.Planned]]) -> AsyncIterator[list[str]]:
        """The first jobs, then each chunk as it is recorded (on this loop, between the
        engine's steps: the ledger connection is this thread's), shown and announced."""
        yield list(to_drive)
        display.growing(True)
        try:
            for recorded in chunks:
                chunk = storage.take(recorded)
                display.add(entries(session, chunk))
                _announce(chunk, display)
                kept.extend(chunk)
                ids = [item.job.id for item in chunk if item.needs_engine]
                to_drive.extend(ids)
                yield ids  # (even none: the engine looks at the clock between chunks)
        finally:
            display.growing(False)
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # the time ran out: the rest of the file is not recorded

    async def run() -> list[Outcome]:
        stop.task = asyncio.current_task()
        jobs = to_drive if more is None else intake(more)
        return await steps.drive(session, jobs, options=options, sink=sink)

    try:
        with display, _closing(tracer):
            outcomes = asyncio.run(run())
    except KeyboardInterrupt:
        _interrupted(session, to_drive, reporter.printed)
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    except (BrokenPipeError, asyncio.CancelledError):
        if not stop.closed:
            raise
        _interrupted(session, to_drive, reporter.printed, why="stdout closed")
        raise BrokenPipeError from None
    found = steps.results(kept, outcomes, not_taken=Reason.TIMEOUT)
    for result in found:
        if result.job.id not in reporter.printed:
            reporter.report(session.ledger.require(result.job.id), result)
        elif result.error is not None and result.job.status is Status.FAILED:
            _error_detail(result)
    _resume_hints(found)
    display.close(display.state.summary(clock.now()))
    return storage.finish([result.job.id for result in found], steps.exit_code(found, waited=wait))


def _tracer() -> tracing.JobTracer | None:
    """Traces of this run's jobs, when the OpenTelemetry variables ask for them."""
    if not tracing.enabled():
        return None
    try:
        return tracing.start()
    except tracing.TracingUnavailable as error:
        output.warn(str(error))
        return None


@contextlib.contextmanager
def _closing(tracer: tracing.JobTracer | None) -> Iterator[None]:
    try:
        yield
    finally:
        if tracer is not None:
            tracer.close()


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


def entries(session: Session, planned: Sequence[plan.Planned]) -> list[Entry]:
    """Each planned job as the display starts it: its number, prompt, estimate and the render
    time the ledger has learned for its shape; a job resumed where it stands."""
    learned: dict[tuple[str, str | None, float], tuple[float | None, str]] = {}
    found = []
    for item in planned:
        job = session.ledger.require(item.job.id)
        shape = (job.model, job.resolution, job.output_seconds)
        if shape not in learned:
            seconds = schedule.expected_seconds(session.ledger.render_seconds(*shape))
            learned[shape] = (seconds, repr(shape))  # (one name per shape, shared by its jobs)
        found.append(_entry(job, item.action, *learned[shape]))
    return found


def _entry(job: Job, action: plan.Action, expected: float | None, shape: str) -> Entry:
    started = clock.parse(job.submitted_at) if job.submitted_at else None
    if action == plan.Action.REUSED:
        state = "reused"
    else:
        state = "rendering" if job.status is Status.RUNNING else str(job.status)
    return Entry(
        job_id=job.id,
        number=job.seq,
        subject=Brief.of(job).subject,
        estimate_usd=job.cost_estimate_usd,
        expected=expected,
        state=state,
        progress=float(job.progress or 0),
        started=started,
        reported_at=clock.parse(job.last_pending_at) if job.last_pending_at else started,
        shape=shape,
        settled=action not in plan.DRIVEN or job.status.final,
    )


def with_file(update: Update, job: Job) -> Update:
    """A ``complete`` event with what a person or a program wants of it: the file, its size and
    length, and what it cost (the estimate when the provider did not say)."""
    info = job.file_info or {}
    cost = ticks_to_usd(job.cost_ticks) if job.cost_ticks is not None else job.cost_estimate_usd
    data = {
        **update.data,
        "path": job.output_path,
        "shown": shown_path(job.output_path),
        "bytes": job.file_bytes,
        "seconds": info.get("duration") or job.video_duration,
        "cost_usd": None if cost is None else round(cost, 4),
        "cost_estimated": job.cost_ticks is None,
    }
    return replace(update, data=data)


def with_facts(update: Update, job: Job) -> Update:
    """A job's last word with its shape, polls, timings (ms) and the provider's error code: what
    a log store groups and charts by (README, "Progress events")."""
    data = {
        **update.data,
        "model": job.model,
        "mode": job.mode,
        "resolution": job.resolution,
        "polls": job.poll_count,
        "queued_ms": clock.ms_between(job.created_at, job.submitted_at),
        "render_ms": clock.ms_between(job.submitted_at, job.completed_at),
        "total_ms": clock.ms_between(job.created_at, job.downloaded_at or job.completed_at),
        "error_code": job.error_code,
    }
    return replace(update, data=data)


def _retrying(error: Exception, delay: float, attempt: int) -> Update:
    """A request the client is about to try again: an event of the run, not of one job."""
    message = sentences(str(error), f"retrying in {delay:.1f}s (attempt {attempt + 1})")
    data = {
        "error": str(error),
        "attempt": attempt + 1,
        "delay": round(delay, 2),
        "http_status": getattr(error, "status", None),
    }
    return Update(job_id="", kind=UpdateKind.RETRY, status="", label="", message=message, data=data)


def _announce(planned: Sequence[plan.Planned], display: Display) -> None:
    for item in planned:
        job = item.job
        if item.action == plan.Action.REUSED:
            paid = f" for {format_usd(ticks_to_usd(job.cost_ticks))}" if job.cost_ticks else ""
            display.note(
                f"#{job.seq} already rendered{paid} by an earlier run (same request): "
                f"{shown_path(job.output_path)}; {format_usd(0)} this run "
                "(for a new take add --force, or -n 2)"
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


def _interrupted(
    session: Session, job_ids: Sequence[str], said: set[str], why: str = "interrupted"
) -> None:
    jobs = [session.ledger.require(job_id) for job_id in dict.fromkeys(job_ids)]
    live = [job for job in jobs if job.status.live]
    if live:
        refs = " ".join(ids.short(job.id) for job in live)
        output.message(
            f"{why}: {len(live)} job(s) left resumable, nothing lost. "
            f"Resume with: imagine wait {refs}"
        )
    for job in jobs:
        if job.status is Status.UNKNOWN and job.id not in said:
            output.warn(job.error_message or f"#{job.seq} is unknown")


def _error_detail(result: steps.Result) -> None:
    """A refusal reported as a failed job gets its full error line too (the fix it names)."""
    if result.error is not None and str(result.error) != result.job.error_message:
        output.error(str(result.error))


def _resume_hints(found: Sequence[steps.Result]) -> None:
    """Jobs left unfinished, one line per reason, naming every one to paste into `imagine wait`."""
    groups: dict[str | None, list[Brief]] = {}
    for result in found:
        if result.job.status.live:
            groups.setdefault(result.reason, []).append(result.job)
    for reason, jobs in groups.items():
        numbers = " ".join(f"#{job.seq}" for job in jobs)
        refs = " ".join(ids.short(job.id) for job in jobs)
        statuses = {job.status for job in jobs}
        status = str(statuses.pop()) if len(statuses) == 1 else "unfinished"
        if reason is Reason.TIMEOUT:
            said = f"still {status} when the wait timed out; resume:"
        elif reason is Reason.UNREACHABLE:
            said = f"still {status} and safe in the ledger; resume:"
        else:
            said = f"{status}; finish with:"
        output.message(f"{numbers} {said} imagine wait {refs}")


def make_display(
    entries: Iterable[Entry],
    *,
    quiet: bool,
    progress: str | None = None,
    concurrency: int = 4,
    rps: float = 1.0,
    simulated: bool = False,
) -> Display:
    entries = list(entries)

    def state() -> RunState:
        made = RunState(entries, concurrency=concurrency, rps=rps, now=clock.now())
        made.simulated = simulated
        return made

    shown = _display(state(), quiet=quiet, progress=progress)
    if output.logging():  # its own state: a job's last word is logged once, as it is shown once
        return LoggedDisplay(shown, JsonDisplay(state(), emit=output.log_event))
    return shown


def _display(state: RunState, *, quiet: bool, progress: str | None) -> Display:
    if progress == "json":
        return JsonDisplay(state)
    if quiet or progress == "none":
        return NullDisplay(state)
    if progress == "plain" or not output.stderr_is_terminal():
        return PlainDisplay(state)
    from imagine.cli.live import LiveDisplay  # Rich's live view, only on a terminal

    return LiveDisplay(state)
