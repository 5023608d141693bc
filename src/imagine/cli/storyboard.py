"""`imagine storyboard FILE`: panels rendered as jobs in waves, then stitched into one film."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from imagine.cli import options as opt
from imagine.cli import output
from imagine.cli.drive import Presentation, drive
from imagine.cli.output import shown_path
from imagine.cli.rendering import confirm_cost, job_finder, print_dry_run_total, warn_if_changed
from imagine.errors import ExitCode
from imagine.lifecycle import Job, Status
from imagine.money.pricing import format_usd
from imagine.session import Session
from imagine.spec import recorded
from imagine.storyboard import boards
from imagine.storyboard.film import Film, assemble
from imagine.storyboard.parse import Storyboard, read_storyboard
from imagine.storyboard.waves import (
    BoardPlan,
    Step,
    make_plan,
    panel_folder,
    request_for,
    reusable_in,
)
from imagine.workflow import entries
from imagine.workflow.steps import Preview, preview, record


def storyboard(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE",
            help="The storyboard: .toml (a title, defaults, then panels) or .jsonl (a header "
            "line, then a panel a line).",
            show_default=False,
        ),
    ],
    concurrency: opt.Concurrency = None,
    rps: opt.Rps = None,
    project: opt.ProjectDir = None,
    timeout: opt.Timeout = None,
    json_output: opt.Json = False,
    quiet: opt.Quiet = False,
    progress: opt.Progress = None,
    yes: opt.Yes = False,
    force: opt.Force = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the plan (panels, chains, waves), the requests and the total "
            "estimate; send nothing, needs no key.",
        ),
    ] = False,
    sim: opt.Sim = False,
    base_url: opt.BaseUrl = None,
) -> None:
    """Render a storyboard's panels as jobs, with continuity, and stitch them into one MP4.

    Independent panels render at once; a panel that continues another (last-frame, extend)
    renders once that one is finished. Run it again after changing a panel and only that panel,
    and the panels chained after it, are rendered again. Writes renders/<title>/ (the panels),
    renders/<title>.mp4 (the film), .vtt (captions) and .json (the storyboard sidecar).

    Example: imagine storyboard lighthouse.toml --sim
    """
    with Session(project_dir=project, base_url=base_url, use_sim=sim) as session:
        settings = session.settings
        board = read_storyboard(file, default_duration=settings.duration)
        inputs = entries.Inputs(job_finder(session))
        reusable = None if force else reusable_in(session.ledger, session.base_url)
        templating = entries.Templating(
            project_file=session.project.config_file,
            settings_for=lambda applied: (
                settings.with_overrides(**applied.template.defaults) if applied else settings
            ),
            first_use=lambda chosen: warn_if_changed(session, chosen, dry_run=dry_run),
        )
        planned = make_plan(board, settings, inputs, settings.prices, reusable, templating)
        _check_rules(session, planned)
        if dry_run:
            _print_plan(planned, session.base_url)
            raise typer.Exit(int(ExitCode.OK))
        session.require_credentials()
        confirm_cost(
            Preview((), planned.to_pay_usd, session.base_url),
            settings,
            yes=yes,
            simulated=session.use_sim,
            session=session,
        )
        show = Presentation(json=json_output, quiet=quiet, progress=progress)
        jobs, actions, code = _render(
            session, planned, inputs, show, force, timeout, rps, concurrency, templating
        )
        board_id = boards.save(
            session.ledger,
            title=board.title,
            slug=board.slug,
            project_dir=session.project.root,
            file_path=file.resolve(),
            panels=sorted(jobs.items()),
        )
        _check_all_rendered(board, jobs, code)
        if not quiet:
            output.message(f"stitching {len(board.panels)} panel(s) into renders/{board.slug}.mp4")
        film = assemble(session.project, board, jobs, board_id=board_id, actions=actions)
    _report(board, film, json_output=json_output, quiet=quiet)


def _check_all_rendered(board: Storyboard, jobs: dict[int, Job], code: ExitCode) -> None:
    """End the command (with the run's exit status) unless every panel has its video."""
    missing = [
        panel.index
        for panel in board.panels
        if panel.index not in jobs or jobs[panel.index].status is not Status.COMPLETE
    ]
    if not missing:
        return
    names = ", ".join(str(index) for index in missing)
    output.error(
        f"{board.title}: panel(s) {names} not rendered, so the film is not stitched; "
        "see the messages above, then run the same command again (finished panels are not "
        "rendered twice, unfinished ones are picked up)"
    )
    raise typer.Exit(int(code if code != ExitCode.OK else ExitCode.JOB_FAILED))


def _report(board: Storyboard, film: Film, *, json_output: bool, quiet: bool) -> None:
    """The film's path (or with --json the storyboard sidecar) on stdout, a summary on stderr."""
    if json_output:
        output.json_line(film.document)
    else:
        output.data(shown_path(str(film.stitched.path)))
    if not quiet:
        captions = f", captions {shown_path(str(film.captions))}" if film.captions else ""
        output.message(
            f"{board.title}: {film.stitched.duration:.2f} s, {len(board.panels)} panel(s), "
            f"{format_usd(film.total_usd)} in all{captions}; "
            f"sidecar {shown_path(str(film.sidecar))}"
        )


def _render(
    session: Session,
    planned: BoardPlan,
    inputs: entries.Inputs,
    show: Presentation,
    force: bool,
    timeout: float | None,
    rps: float | None,
    concurrency: int | None,
    templating: entries.Templating | None = None,
) -> tuple[dict[int, Job], dict[int, str], ExitCode]:
    """Each wave recorded and driven in turn; the panels' jobs, what this run did with each,
    and the worst exit status. A panel whose parent did not finish is not asked for, and
    ``timeout`` bounds the whole run, not each wave."""
    board = planned.board
    jobs: dict[int, Job] = {}
    actions: dict[int, str] = {}
    code = ExitCode.OK
    deadline = None if timeout is None else time.monotonic() + timeout
    for wave in planned.waves:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            names = ", ".join(
                str(s.panel.index) for s in planned.steps if s.panel.index not in jobs
            )
            output.warn(f"the time is up (--timeout): panel(s) {names} not sent")
            return jobs, actions, code if code != ExitCode.OK else ExitCode.TIMEOUT
        ready = [step for step in wave if _parent_done(step, jobs)]
        for step in wave:
            if step not in ready:
                output.warn(
                    f"panel {step.panel.index} skipped: panel {step.parent}, which it continues, "
                    "did not finish"
                )
        if not ready:
            continue
        requests = [
            request_for(
                board, step.panel, session.settings, inputs, _parent(step, jobs), templating
            )
            for step in ready
        ]
        checked = preview(session, requests)
        if checked.refused:  # (a panel's input changed what it asks since the plan was checked)
            for refusal in checked.refused:
                output.error(refusal.hit.message)
            output.warn("the film stops here: nothing more is sent")
            return jobs, actions, ExitCode.POLICY
        recorded_jobs = record(session, checked, force=force)
        wave_code = drive(
            session,
            recorded_jobs,
            wait=True,
            timeout=left,
            show=show,
            rps=rps,
            concurrency=concurrency,
        )
        if code == ExitCode.OK:
            code = wave_code
        for step, item in zip(ready, recorded_jobs, strict=True):
            jobs[step.panel.index] = session.ledger.require(item.job.id)
            actions[step.panel.index] = str(item.action)
    return jobs, actions, code


def _check_rules(session: Session, planned: BoardPlan) -> None:
    """Every panel's prompt, as it will be sent (through its template), against the policy
    rules before any panel is sent: a film with a refused panel is not made at all (exit 5, the
    neutral line per panel, never the prompt)."""
    rules = session.rules(session.settings.policy)
    refused = []
    for step in planned.steps:
        hit = rules.check(step.spec.prompt).blocked_by
        if hit is not None:
            refused.append(step.panel.index)
            output.error(f"panel {step.panel.index}: {hit.message}")
    if refused:
        output.message("nothing sent: change the refused panel(s) and run again")
        raise typer.Exit(int(ExitCode.POLICY))


def _parent(step: Step, jobs: dict[int, Job]) -> Job | None:
    return jobs.get(step.parent) if step.parent is not None else None


def _parent_done(step: Step, jobs: dict[int, Job]) -> bool:
    if step.parent is None:
        return True
    parent = jobs.get(step.parent)
    return parent is not None and parent.status is Status.COMPLETE


def _print_plan(planned: BoardPlan, base_url: str) -> None:
    """The plan on stderr, each panel's request body on stdout (a chained panel's with a stand-in
    for the input it will get)."""
    board = planned.board
    waves = planned.waves
    output.message(
        f"storyboard {board.title!r}: {len(board.panels)} panel(s) in {len(waves)} wave(s) → "
        f"{panel_folder(board)}/ and renders/{board.slug}.mp4"
    )
    for number, wave in enumerate(waves, start=1):
        output.message(f"wave {number}:")
        for step in wave:
            output.message(f"  {_describe(step)}")
            output.message(f"  POST {base_url}{step.spec.route}")
            output.json_line(recorded(step.spec.body()))
    reused = [step for step in planned.steps if step.reused is not None]
    if reused:
        output.message(
            f"{len(reused)} panel(s) already rendered (reused, not paid again); "
            f"all panels together: {format_usd(planned.total_usd)}"
        )
    print_dry_run_total(planned.to_pay_usd)


def _describe(step: Step) -> str:
    panel = step.panel
    follows = (
        f"{panel.continuity} of panel {step.parent}" if step.parent is not None else "independent"
    )
    caption = f", caption {panel.caption!r}" if panel.caption else ""
    cost = (
        f"already rendered as #{step.reused.seq}"
        if step.reused is not None
        else f"about {format_usd(step.estimate_usd)}"
    )
    prompt = panel.prompt if len(panel.prompt) <= 50 else panel.prompt[:47] + "..."
    return (
        f"panel {panel.index}: {prompt!r} — {step.spec.mode}, {follows}, "
        f"{step.output_seconds:g} s clip, then {panel.transition}{caption}, {cost}"
    )
