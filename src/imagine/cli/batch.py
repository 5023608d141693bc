"""`imagine batch FILE`: many jobs from .txt, .jsonl or .csv (or stdin), paced, resumable, once."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, Any, NoReturn

import typer

from imagine.cli import completion as complete
from imagine.cli import options as opt
from imagine.cli import output
from imagine.cli.consent import ask_consent, consent_record
from imagine.cli.drive import Presentation, drive
from imagine.cli.rendering import (
    Flags,
    confirm_cost,
    execute,
    job_finder,
    print_bodies,
    print_dry_run_total,
    report_refused,
    say_refused,
    settings_with,
    warn_if_changed,
)
from imagine.config import Settings
from imagine.errors import ExitCode, UsageError
from imagine.session import Session
from imagine.spec import Mode
from imagine.workflow.batchfile import BatchProblem, BatchStream, LineMode, stream_batch
from imagine.workflow.entries import Line, Templating, collect, stream
from imagine.workflow.plan import Action, Planned, Request
from imagine.workflow.steps import Preview, preview, record
from imagine.workflow.templating import Applied, parse_vars


def batch(
    file: Annotated[
        str,
        typer.Argument(
            metavar="FILE",
            help="Jobs: .txt (a prompt a line, # comments), .jsonl or .csv (fields as gen's "
            "options); - reads stdin.",
            show_default=False,
        ),
    ],
    strict: Annotated[
        bool, typer.Option("--strict", help="Refuse the whole file if any line is bad.")
    ] = False,
    file_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            metavar="FMT",
            help="txt, jsonl or csv [default: by extension].",
            autocompletion=complete.batch_formats,
        ),
    ] = None,
    concurrency: opt.Concurrency = None,
    rps: opt.Rps = None,
    duration: opt.Duration = None,
    aspect: opt.Aspect = None,
    resolution: opt.Resolution = None,
    model: opt.Model = None,
    no_audio: opt.NoAudio = False,
    template: opt.Template = None,
    var: opt.Var = None,
    preview: opt.Preview = False,
    output_template: opt.Output = None,
    consent: Annotated[
        bool, typer.Option("--consent", help="Confirm consent for every edit in the file.")
    ] = False,
    project: opt.ProjectDir = None,
    no_wait: opt.NoWait = False,
    timeout: opt.Timeout = None,
    json_output: opt.Json = False,
    quiet: opt.Quiet = False,
    progress: opt.Progress = None,
    yes: opt.Yes = False,
    max_cost: opt.MaxCost = None,
    force: opt.Force = False,
    dry_run: opt.DryRun = False,
    dry_run_full: opt.DryRunFull = False,
    sim: opt.Sim = False,
    base_url: opt.BaseUrl = None,
    policy_level: opt.Policy = None,
) -> None:
    """Render every job in a file; run it again and only what is missing is rendered.

    Options given here are defaults for the lines; a line's own fields win.
    Example: imagine batch prompts.txt -d 4 -c 8
    """
    text = sys.stdin.read() if file == "-" else None
    parsed = stream_batch(file, text=text, fmt=file_format)
    with Session(project_dir=project, base_url=base_url, use_sim=sim) as session:

        def settings_for(applied: Applied | None) -> Settings:
            return settings_with(
                session,
                template=applied,
                max_cost_usd=max_cost,
                no_audio=no_audio,
                policy=policy_level,
                duration=duration,
                aspect=aspect,
                resolution=resolution,
                model=model,
                output=output_template,
            )

        settings = settings_for(None)
        templating = Templating(
            project_file=session.project.config_file,
            settings_for=settings_for,
            name=template,
            values=parse_vars(var),
            preview=preview,
            first_use=lambda chosen: warn_if_changed(
                session, chosen, dry_run=dry_run or dry_run_full
            ),
        )
        if (dry_run or dry_run_full) and not strict:
            problems, refused = _dry_run(session, parsed, settings, templating, full=dry_run_full)
            _end(parsed, problems, ExitCode.POLICY if refused else ExitCode.OK)
        if dry_run or dry_run_full:  # (--strict: the whole file checked, then printed)
            problems, code = _checked_at_once(
                session, parsed, settings, templating, strict=strict,
                flags=Flags(dry_run=dry_run, dry_run_full=dry_run_full),
            )  # fmt: skip
            _end(parsed, problems, code)
        flags = Flags(
            no_wait=no_wait,
            timeout=timeout,
            json=json_output,
            quiet=quiet,
            progress=progress,
            yes=yes,
            force=force,
        )
        again = stream_batch(file, text=text, fmt=file_format)  # (the file read a second time)
        run = _Streamed(session, parsed, settings, templating, flags)
        code = run.go(again, strict=strict, consent=consent, rps=rps, concurrency=concurrency)
        problems = run.problems()
    _end(parsed, problems, code)


def _checked_at_once(
    session: Session,
    parsed: BatchStream,
    settings: Settings,
    templating: Templating,
    *,
    strict: bool,
    flags: Flags,
) -> tuple[list[BatchProblem], ExitCode]:
    """A --strict dry run: every line checked first, then every body printed."""
    built = collect(parsed.results, settings, job_finder(session), templating)
    problems = list(built.problems)
    skipped = {problem.line for problem in problems}
    requests = [request for line, request in built.requests if line not in skipped]
    _print_problems(parsed, problems)
    if strict and problems:
        raise UsageError(
            f"{len(problems)} bad line(s) in {parsed.name}: nothing submitted (--strict)"
        )
    code = ExitCode.OK
    if requests:
        code = execute(session, requests, settings, flags)  # (a dry run: no consent asked)
    return problems, code


FIRST_CHUNK = 16  # requests recorded before the engine starts: the first is sent at once
CHUNK = 256  # requests checked and recorded together while the engine runs on the ones before
CONSENT_NEEDED = "editing a video needs consent: add consent=true to the line, or pass --consent"
CONSENT_BY_FLAG = "the admin policy requires consent for edits on the command line: pass --consent"


class _Streamed:
    """A batch run that streams: lines are read, checked and recorded a chunk at a time while
    the engine already sends the jobs recorded before them, so the first job of any file goes
    out at once and memory does not grow with the file.

    What must hold for the whole file before anything is sent is settled by a first pass:
    - always, the lines are parsed (cheap) to count the edits: their consent is asked first;
    - a full check of every line (requests built, output folders proven, estimates summed, no
      ledger work: about a twentieth of the cost of recording) when the whole file's cost or
      correctness decides whether to start at all: --strict, a max_cost_usd, or a cost that
      may need confirming (confirm_above_usd: without --yes, outside the simulator).
    With --yes (or --sim) and no max_cost_usd, only the cheap pass runs; the spending caps
    (budgets) are still checked as each job is sent."""

    def __init__(
        self,
        session: Session,
        parsed: BatchStream,
        settings: Settings,
        templating: Templating,
        flags: Flags,
    ) -> None:
        self.session = session
        self.parsed = parsed
        self.settings = settings
        self.templating = templating
        self.flags = flags
        self._problems: dict[int, BatchProblem] = {}  # by line: each said once, when met
        self.read_to_end = False
        self.refused = 0  # requests a local policy rule refused (recorded blocked, never sent)
        # Under an admin file's require_consent_for_edits, a line's own consent is not enough.
        self.file_consent = not session.settings.require_consent_for_edits

    def problems(self) -> list[BatchProblem]:
        return sorted(self._problems.values(), key=lambda problem: problem.line)

    def go(
        self,
        again: BatchStream,
        *,
        strict: bool,
        consent: bool,
        rps: float | None,
        concurrency: int | None,
    ) -> ExitCode:
        session, flags = self.session, self.flags
        session.require_credentials()
        full = (
            strict or self.settings.max_cost_usd is not None or not (flags.yes or session.use_sim)
        )
        if full:
            total, requests, edits, unconsented = self._check_all()
        else:
            total, requests = 0.0, None
            edits, unconsented = _count_edits(self.parsed)
        if strict and self._problems:
            raise UsageError(
                f"{len(self._problems)} bad line(s) in {self.parsed.name}: "
                "nothing submitted (--strict)"
            )
        agreed = _consent(edits, unconsented, consent, file_consent=self.file_consent)
        if full:
            if requests == 0:
                return self._nothing()
            if self._problems and not flags.quiet:
                output.message(
                    f"going ahead with the {requests} job(s) of the good lines; "
                    f"the {len(self._problems)} bad line(s) are skipped"
                )
            checked = Preview((), total, session.base_url)
            confirm_cost(
                checked, self.settings, yes=flags.yes, simulated=session.use_sim, session=session
            )
        chunks = self._recorded(again, agreed)
        first = next(chunks, None)
        if first is None:
            return ExitCode.POLICY if self.refused else self._nothing()
        code = drive(
            session,
            first,
            wait=not flags.no_wait,
            timeout=flags.timeout,
            show=Presentation(json=flags.json, quiet=flags.quiet, progress=flags.progress),
            rps=rps,
            concurrency=concurrency,
            more=chunks,
        )
        if not self.read_to_end:
            output.message(
                f"--timeout ran out before {self.parsed.name} was read to the end: its later "
                "lines were not recorded; run the same command again to send them"
            )
            code = code if code != ExitCode.OK else ExitCode.TIMEOUT
        # A refused request is the run's outcome unless something worse happened to the others.
        if self.refused and code in (ExitCode.OK, ExitCode.JOB_FAILED):
            code = ExitCode.POLICY
        return code

    def _nothing(self) -> ExitCode:
        if not self._problems and not self.flags.quiet:
            output.message(f"{self.parsed.name}: no jobs in the file")
        return ExitCode.OK

    def _said(self, problem: BatchProblem) -> None:
        if problem.line not in self._problems:
            self._problems[problem.line] = problem
            _print_problems(self.parsed, [problem])

    def _lines(self, parsed: BatchStream) -> Iterator[Line | BatchProblem]:
        return stream(parsed.results, self.settings, job_finder(self.session), self.templating)

    def _check_all(self) -> tuple[float, int, int, list[int]]:
        """Every line checked, nothing recorded: the estimated total, the jobs, the edits and
        the edit lines that do not give consent themselves."""
        total, requests, edits = 0.0, 0, 0
        unconsented: list[int] = []
        for lines in _grouped(self._lines(self.parsed), self._said, CHUNK):
            checked = self._checked(lines)
            total += checked.total_usd
            requests += len(checked.requests)
            for line in lines:
                if line.line not in self._problems:
                    edits += sum(1 for request in line.requests if request.spec.mode is Mode.EDIT)
                    if line.needs_consent:
                        unconsented.append(line.line)
        return total, requests, edits, unconsented

    def _recorded(
        self, again: BatchStream, agreed: dict[str, Any] | None
    ) -> Iterator[list[Planned]]:
        """The file's jobs recorded a chunk at a time, as the engine asks for them (the first
        chunk is small, so that the first job is sent at once)."""
        lines = self._lines(again)
        for group in _grouped(lines, self._said, CHUNK, first=FIRST_CHUNK):
            good = []
            for line in group:
                edit = any(request.spec.mode is Mode.EDIT for request in line.requests)
                if agreed is None and (line.needs_consent or (edit and not self.file_consent)):
                    message = CONSENT_NEEDED if self.file_consent else CONSENT_BY_FLAG
                    self._said(BatchProblem(line.line, message))
                elif line.line not in self._problems:
                    good.append(line)
            checked = self._checked(good)
            if not (checked.requests or checked.refused):
                continue
            planned = record(
                self.session,
                checked,
                force=self.flags.force,
                consent=agreed,
                settings=self.settings,
            )
            refused = [item for item in planned if item.action is Action.REFUSED]
            if refused:
                report_refused(self.session, refused, json=self.flags.json)
                self.refused += len(refused)
            rest = [item for item in planned if item.action is not Action.REFUSED]
            if rest:
                yield rest
        self.read_to_end = True

    def _checked(self, lines: list[Line]) -> Preview:
        """The lines' requests checked as one (render.preview: validity, output folders, any
        local rule); a chunk that fails is checked line by line, and its bad lines said."""
        try:
            level = self.settings.policy
            return preview(self.session, [r for line in lines for r in line.requests], level=level)
        except UsageError:
            good: list[Request] = []
            for line in lines:
                try:
                    preview(self.session, line.requests, level=self.settings.policy)
                except UsageError as error:
                    self._said(BatchProblem(line.line, str(error)))
                else:
                    good.extend(line.requests)
            return preview(self.session, good, level=self.settings.policy)


def _grouped(
    items: Iterable[Line | BatchProblem],
    on_problem: Callable[[BatchProblem], None],
    size: int,
    *,
    first: int | None = None,
) -> Iterator[list[Line]]:
    """Good lines in groups of about ``size`` requests (the first of ``first``); problems are
    handed on as they are met."""
    group: list[Line] = []
    count, limit = 0, first or size
    for item in items:
        if isinstance(item, BatchProblem):
            on_problem(item)
            continue
        group.append(item)
        count += len(item.requests)
        if count >= limit:
            yield group
            group, count, limit = [], 0, size
    if group:
        yield group


def _count_edits(parsed: BatchStream) -> tuple[int, list[int]]:
    """The edit lines of a file, parsed only, and those that do not give consent themselves."""
    edits, unconsented = 0, []
    for result in parsed.results:
        if isinstance(result, BatchProblem) or result.mode != LineMode.EDIT:
            continue
        edits += result.n
        if not result.consent:
            unconsented.append(result.line)
    return edits, unconsented


def _consent(
    edits: int, unconsented: list[int], given: bool, *, file_consent: bool = True
) -> dict[str, Any] | None:
    """One consent for the file's edits, asked before anything is sent: --consent, every edit
    line saying so, or one yes on a terminal. None: the edit lines without consent are skipped
    (each said as its line is met)."""
    if not edits:
        return None
    if given:
        return consent_record("flag")
    if not unconsented and file_consent:
        return consent_record("file")
    if output.stdin_is_terminal():
        return ask_consent(False, count=edits)
    return None


DRY_RUN_CHUNK = 64  # requests checked together: the first is printed at once, and checks shared


def _end(parsed: BatchStream, problems: list[BatchProblem], code: ExitCode) -> NoReturn:
    if problems:
        output.message(
            f"{len(problems)} bad line(s) of {parsed.name} skipped (listed above): fix them and "
            "run the same command again (finished jobs are not rendered twice)"
        )
        if code == ExitCode.OK:
            code = ExitCode.USAGE
    raise typer.Exit(int(code))


def _dry_run(
    session: Session,
    parsed: BatchStream,
    settings: Settings,
    templating: Templating,
    *,
    full: bool,
) -> tuple[list[BatchProblem], int]:
    """Each line's bodies printed as soon as the line is read (a long file starts at once, and
    `| head` sees its first lines first); its mistakes said in their place."""
    problems: list[BatchProblem] = []
    pending: list[Request] = []
    total = 0.0
    refused = 0

    def flush() -> None:
        nonlocal total, refused
        if pending:
            checked = preview(session, pending, dry_run=True, level=settings.policy)
            print_bodies(checked, full=full)
            say_refused(checked)
            refused += len(checked.refused)
            total += checked.total_usd
            pending.clear()

    for item in stream(parsed.results, settings, job_finder(session), templating):
        if isinstance(item, BatchProblem):
            flush()  # in file order
            problems.append(item)
            _print_problems(parsed, [item])
            continue
        pending.extend(item.requests)
        if len(pending) >= DRY_RUN_CHUNK:
            flush()
    flush()
    print_dry_run_total(total)
    return problems, refused


def _print_problems(parsed: BatchStream, problems: list[BatchProblem]) -> None:
    for problem in problems:
        output.error(f"{parsed.name}:{problem.line}: {problem.message}")
