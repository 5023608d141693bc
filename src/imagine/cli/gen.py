"""`imagine gen PROMPT`: text→video."""

from __future__ import annotations

from typing import Annotated

import typer

from imagine.cli import options as opt
from imagine.cli import output
from imagine.cli.run import Presentation, drive
from imagine.config import Settings
from imagine.pricing import format_usd
from imagine.render import Preview, preview, record
from imagine.session import Session
from imagine.spec import TEXT, RenderSpec


def gen(
    prompt: Annotated[
        str, typer.Argument(metavar="PROMPT", help="What to render.", show_default=False)
    ],
    duration: opt.Duration = None,
    aspect: opt.Aspect = None,
    resolution: opt.Resolution = None,
    model: opt.Model = None,
    no_audio: opt.NoAudio = False,
    variations: opt.Variations = 1,
    output_template: opt.Output = None,
    project: opt.ProjectDir = None,
    no_wait: opt.NoWait = False,
    timeout: opt.Timeout = None,
    json_output: opt.Json = False,
    quiet: opt.Quiet = False,
    progress: opt.Progress = None,
    yes: opt.Yes = False,
    force: opt.Force = False,
    dry_run: opt.DryRun = False,
    sim: opt.Sim = False,
    base_url: opt.BaseUrl = None,
) -> None:
    """Render a video from a text prompt, wait for it and save it with its sidecar.

    Example: imagine gen "a red fox running through snow" -d 6 -a 9:16
    """
    with Session(project_dir=project, base_url=base_url, use_sim=sim) as session:
        settings = _settings(
            session, duration, aspect, resolution, model, no_audio, output_template
        )
        specs = [
            RenderSpec(
                mode=TEXT,
                model=settings.model,
                prompt=prompt,
                duration=settings.duration,
                aspect_ratio=settings.aspect,
                resolution=settings.resolution,
                generate_audio=settings.audio,
                variation=n,
            )
            for n in range(1, variations + 1)
        ]
        if not dry_run:
            session.require_credentials()
        checked = preview(session, specs, settings.output, dry_run=dry_run)
        if dry_run:
            print_dry_run(checked)
            return
        confirm_cost(checked, settings, yes=yes, quiet=quiet)
        planned = record(session, checked, settings.output, force=force)
        show = Presentation(json=json_output, quiet=quiet, progress=progress)
        code = drive(session, planned, wait=not no_wait, timeout=timeout, show=show)
    raise typer.Exit(int(code))


def _settings(
    session: Session,
    duration: int | None,
    aspect: str | None,
    resolution: str | None,
    model: str | None,
    no_audio: bool,
    output_template: str | None,
) -> Settings:
    from imagine.config import parse_value

    given = {
        "duration": duration,
        "aspect": aspect,
        "resolution": resolution,
        "model": model,
        "output": output_template,
    }
    flags = {
        "duration": "-d/--duration",
        "aspect": "-a/--aspect",
        "resolution": "-r/--resolution",
        "model": "-m/--model",
        "output": "-o/--output",
    }
    checked = {
        key: parse_value(key, value, source=flags[key])
        for key, value in given.items()
        if value is not None
    }
    if no_audio:
        checked["audio"] = False
    return session.settings.with_overrides(**checked)


def print_dry_run(checked: Preview) -> None:
    """The exact bodies on stdout (one JSON object per request), the route and cost on stderr."""
    for spec, body in zip(checked.specs, checked.bodies(), strict=True):
        output.message(f"POST {checked.base_url}{spec.route}")
        output.json_line(body)
    output.message(f"dry run: nothing sent; estimated cost {format_usd(checked.total_usd)}")


def confirm_cost(checked: Preview, settings: Settings, *, yes: bool, quiet: bool) -> None:
    """On a terminal, ask before spending more than confirm_above_usd; scripts are never asked."""
    from imagine.policy import check_budget, needs_confirmation

    check_budget(checked.total_usd, settings)
    if yes or not needs_confirmation(checked.total_usd, settings):
        return
    if not output.stdin_is_terminal():
        return
    question = f"This will cost about {format_usd(checked.total_usd)}. Render?"
    if not typer.confirm(question, default=False, err=True):
        output.message("nothing rendered")
        raise typer.Exit(0)
