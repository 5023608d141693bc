"""`imagine batch FILE`: many jobs from .txt, .jsonl or .csv (or stdin), paced, resumable, once."""

from __future__ import annotations

import sys
from typing import Annotated, Any, NoReturn

import typer

from imagine.batch import Built, Templating, collect, stream
from imagine.batchfile import BatchProblem, BatchStream, stream_batch
from imagine.cli import options as opt
from imagine.cli import output
from imagine.cli.edit import ask_consent, consent_record
from imagine.cli.render import (
    Flags,
    execute,
    job_finder,
    print_bodies,
    print_dry_run_total,
    say_refused,
    settings_with,
    warn_if_changed,
)
from imagine.config import Settings
from imagine.errors import ExitCode, UsageError
from imagine.plan import Request
from imagine.render import preview
from imagine.session import Session
from imagine.spec import Mode
from imagine.templates import Applied, parse_vars


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
        typer.Option("--format", metavar="FMT", help="txt, jsonl or csv [default: by extension]."),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "-c",
            "--concurrency",
            min=1,
            metavar="N",
            help="Renders in flight at once, across processes [default: 4].",
        ),
    ] = None,
    rps: Annotated[
        float | None,
        typer.Option(
            "--rps",
            min=0.001,
            metavar="R",
            callback=opt.finite,
            help="Job starts per second per model [default: 1].",
        ),
    ] = None,
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
        built = collect(parsed.results, settings, job_finder(session), templating)
        problems = list(built.problems)
        file_consent = not session.settings.require_consent_for_edits
        agreed = _edit_consent(
            built, consent, problems, dry_run=dry_run or dry_run_full, file_consent=file_consent
        )
        skipped = {problem.line for problem in problems}
        requests = [request for line, request in built.requests if line not in skipped]
        # Every bad line is said before anything is sent, so that a run can be stopped (Ctrl-C)
        # before it spends on a file with mistakes; the summary at the end points back here.
        _print_problems(parsed, problems)
        if strict and problems:
            raise UsageError(
                f"{len(problems)} bad line(s) in {parsed.name}: nothing submitted (--strict)"
            )
        if problems and requests and not quiet:
            output.message(
                f"going ahead with the {len(requests)} job(s) of the good lines; "
                f"the {len(problems)} bad line(s) are skipped"
            )
        code = ExitCode.OK
        if requests:
            flags = Flags(
                no_wait, timeout, json_output, quiet, progress, yes, force, dry_run, dry_run_full
            )
            code = execute(
                session,
                requests,
                settings,
                flags,
                consent=(lambda: agreed) if agreed else None,
                rps=rps,
                concurrency=concurrency,
            )
        elif not problems and not quiet:
            output.message(f"{parsed.name}: no jobs in the file")
    _end(parsed, problems, code)


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


def _edit_consent(
    built: Built,
    given: bool,
    problems: list[BatchProblem],
    *,
    dry_run: bool,
    file_consent: bool = True,
) -> dict[str, Any] | None:
    """One consent for the file's edits: --consent, every edit line saying so, or one yes.
    Under an admin file's require_consent_for_edits, the lines' own word is not enough."""
    edits = sum(1 for _, request in built.requests if request.spec.mode is Mode.EDIT)
    if not edits or dry_run:
        return None
    if given:
        return consent_record("flag")
    if not built.edits_without_consent and file_consent:
        return consent_record("file")
    if output.stdin_is_terminal():
        return ask_consent(False, count=edits)
    lines = built.edits_without_consent if file_consent else _edit_lines(built)
    problems.extend(
        BatchProblem(
            line,
            "editing a video needs consent: add consent=true to the line, or pass --consent"
            if file_consent
            else "the admin policy requires consent for edits on the command line: pass --consent",
        )
        for line in lines
    )
    problems.sort(key=lambda problem: problem.line)
    return None


def _edit_lines(built: Built) -> list[int]:
    return sorted({line for line, request in built.requests if request.spec.mode is Mode.EDIT})


def _print_problems(parsed: BatchStream, problems: list[BatchProblem]) -> None:
    for problem in problems:
        output.error(f"{parsed.name}:{problem.line}: {problem.message}")
