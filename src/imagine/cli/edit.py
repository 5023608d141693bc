"""`imagine edit VIDEO PROMPT` (video→video) and `imagine extend VIDEO PROMPT` (continue a clip)."""

from __future__ import annotations

from typing import Annotated

import typer

from imagine.cli import completion as complete
from imagine.cli import options as opt
from imagine.cli import output
from imagine.cli.consent import ask_consent
from imagine.cli.rendering import Flags, execute, job_finder, settings_with, use_template
from imagine.media.inputs import EDIT_RULES, EXTEND_RULES, video_input
from imagine.session import Session
from imagine.spec import Mode, RenderSpec, duration_for
from imagine.workflow.plan import variations as take_variations
from imagine.workflow.promotion import shaped

Video = Annotated[
    str,
    typer.Argument(
        metavar="VIDEO",
        help="An MP4 file, an https URL, or a job (id, @last, @N).",
        show_default=False,
        autocompletion=complete.video,
    ),
]
Prompt = Annotated[
    str,
    typer.Argument(
        metavar="PROMPT",
        show_default=False,
        help="What to change, or what happens next; - reads it from stdin.",
        callback=opt.prompt_or_stdin,
    ),
]


def edit(
    video: Video,
    prompt: Prompt,
    consent: Annotated[
        bool,
        typer.Option(
            "--consent",
            help="Confirm you own the video or have consent to edit it "
            "(recorded in the ledger and the audit log).",
        ),
    ] = False,
    model: opt.Model = None,
    no_audio: opt.NoAudio = False,
    variations: opt.Variations = 1,
    template: opt.Template = None,
    var: opt.Var = None,
    output_template: opt.Output = None,
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
    """Edit a video (up to 8.7 s) with an instruction; the result keeps its length.

    Example: imagine edit clip.mp4 "make it snow" --consent
    """
    with Session(project_dir=project, base_url=base_url, use_sim=sim) as session:
        applied = use_template(session, template, var, prompt, dry_run=dry_run or dry_run_full)
        settings = settings_with(
            session,
            max_cost_usd=max_cost,
            template=applied,
            no_audio=no_audio,
            model=model,
            output=output_template,
            policy=policy_level,
        )
        source = video_input(video, EDIT_RULES, job_finder(session))
        spec = RenderSpec.build(Mode.EDIT, defaults=settings, prompt=prompt, video=source)
        spec = shaped(spec, applied, settings, preview=False)
        requests = take_variations(spec, settings.output, variations)
        flags = Flags(
            no_wait=no_wait,
            timeout=timeout,
            json=json_output,
            quiet=quiet,
            progress=progress,
            yes=yes,
            force=force,
            dry_run=dry_run,
            dry_run_full=dry_run_full,
        )
        code = execute(session, requests, settings, flags, consent=lambda: ask_consent(consent))
    raise typer.Exit(int(code))


def extend(
    video: Video,
    prompt: Prompt,
    duration: Annotated[
        int | None,
        typer.Option(
            "-d",
            "--duration",
            metavar="SECONDS",
            help="Seconds to add, 1-15 (2-10 documented) [default: 6].",
            autocompletion=complete.durations,
        ),
    ] = None,
    model: opt.Model = None,
    no_audio: opt.NoAudio = False,
    variations: opt.Variations = 1,
    template: opt.Template = None,
    var: opt.Var = None,
    preview: opt.Preview = False,
    output_template: opt.Output = None,
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
    """Continue a clip (2-15 s) from its last frame; the result is the original plus the new part.

    Example: imagine extend @last "the fox leaps over the stream" -d 4
    """
    with Session(project_dir=project, base_url=base_url, use_sim=sim) as session:
        applied = use_template(session, template, var, prompt, dry_run=dry_run or dry_run_full)
        settings = settings_with(
            session,
            max_cost_usd=max_cost,
            template=applied,
            no_audio=no_audio,
            policy=policy_level,
            model=model,
            output=output_template,
            # (the default too is checked against the admin's locks, as -d would be)
            duration=duration_for(Mode.EXTEND, duration),
        )
        if not 2 <= settings.duration <= 10 and not quiet:
            output.warn(
                f"-d {settings.duration}: the documented range for extensions is 2-10 s; "
                "the API accepts 1-15"
            )
        source = video_input(video, EXTEND_RULES, job_finder(session))
        spec = RenderSpec.build(
            Mode.EXTEND, defaults=settings, prompt=prompt, duration=settings.duration, video=source
        )
        spec = shaped(spec, applied, settings, preview=preview)
        requests = take_variations(spec, settings.output, variations)
        flags = Flags(
            no_wait=no_wait,
            timeout=timeout,
            json=json_output,
            quiet=quiet,
            progress=progress,
            yes=yes,
            force=force,
            dry_run=dry_run,
            dry_run_full=dry_run_full,
        )
        code = execute(session, requests, settings, flags)
    raise typer.Exit(int(code))
