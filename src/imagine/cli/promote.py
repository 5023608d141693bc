"""`imagine promote JOB`: the final render of a --preview, linked to it both ways."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from imagine.cli import completion as complete
from imagine.cli import options as opt
from imagine.cli import output
from imagine.cli.rendering import Flags, execute, job_finder, settings_with
from imagine.config import parse_value
from imagine.money.pricing import format_usd
from imagine.session import SIM_BASE_URL, Session
from imagine.spec import validate
from imagine.workflow import promotion as core
from imagine.workflow.plan import Planned, Request, estimate


def promote(
    job: Annotated[
        str,
        typer.Argument(
            metavar="JOB",
            help="The preview: an id, a unique id prefix, @last or @N.",
            show_default=False,
            autocompletion=complete.jobs,
        ),
    ],
    resolution: opt.Resolution = None,
    duration: opt.Duration = None,
    model: opt.Model = None,
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
    dry_run_full: opt.DryRunFull = False,
    sim: opt.Sim = False,
    base_url: opt.BaseUrl = None,
) -> None:
    """Render the final version of a --preview: same prompt, template version, inputs and options.

    The final has the duration and resolution the preview stood in for (what -d and -r said, or
    the template's or config's defaults) unless -r, -d or -m change them; it goes to the API the
    preview went to unless --sim or --base-url say otherwise. Promoting twice renders once.
    Example: imagine gen -n 4 --preview "a fox in snow" && imagine promote @3 -r 720p
    """
    with Session(project_dir=project) as lookup:
        preview = lookup.ledger.resolve(job)
    if not sim and not base_url:
        sim = preview.base_url == SIM_BASE_URL
        base_url = None if sim else preview.base_url
    with Session(project_dir=project, base_url=base_url, use_sim=sim) as session:
        changes = core.Changes(
            duration=_flag("duration", duration, "-d/--duration"),
            resolution=_flag("resolution", resolution, "-r/--resolution"),
            model=_flag("model", model, "-m/--model"),
        )
        spec = core.final_spec(preview, changes, job_finder(session))
        validate(spec)  # (before its cost is shown: a request the API refuses costs nothing)
        settings = settings_with(session, output=output_template)
        if not quiet:
            cost = estimate(spec, settings.prices).usd
            shape = f"{spec.resolution or 'as its input'}, {spec.output_seconds:g} s"
            output.message(
                f"final of preview #{preview.seq}: {spec.model}, {shape}; "
                f"estimated cost {format_usd(cost)}"
            )

        def linked(planned: list[Planned]) -> None:
            for item in planned:
                core.link(session.ledger, preview, session.ledger.require(item.job.id))

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
        requests = [Request(spec, settings.output)]
        code = execute(session, requests, settings, flags, on_recorded=linked)
    raise typer.Exit(int(code))


def _flag(key: str, value: object, flag: str) -> Any:
    return None if value is None else parse_value(key, value, source=flag)
