"""`imagine gen [PROMPT]`: text→video, image→video (--image) and reference→video (--ref)."""

from __future__ import annotations

from typing import Annotated

import typer

from imagine import storage
from imagine.cli import options as opt
from imagine.cli.rendering import Flags, execute, job_finder, settings_with, use_template
from imagine.keyframes import split_keyframe, voice_id
from imagine.media.inputs import image_input, keyframe_input
from imagine.session import Session
from imagine.spec import RenderSpec
from imagine.workflow.plan import variations as take_variations
from imagine.workflow.promotion import shaped


def gen(
    prompt: Annotated[
        str | None,
        typer.Argument(
            metavar="PROMPT",
            help="What to render (optional with --image); - reads it from stdin.",
            show_default=False,
            callback=opt.prompt_or_stdin,
        ),
    ] = None,
    image: Annotated[
        str | None,
        typer.Option(
            "--image",
            "-i",
            metavar="PATH|URL|JOB",
            help="First frame: a JPEG/PNG/WebP file, an https URL, or a job (its last frame).",
        ),
    ] = None,
    ref: Annotated[
        list[str] | None,
        typer.Option(
            "--ref",
            metavar="PATH|URL|JOB",
            help="A reference image, used as <IMAGE_1>, <IMAGE_2>… in the prompt (repeat, up to 14).",
        ),
    ] = None,
    keyframe: opt.Keyframe = None,
    last_frame: opt.LastFrame = None,
    voice: opt.Voice = None,
    store: opt.Store = False,
    store_public: opt.StorePublic = False,
    store_expires: opt.StoreExpires = None,
    duration: opt.Duration = None,
    aspect: opt.Aspect = None,
    resolution: opt.Resolution = None,
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
    """Render a video from a prompt (and images), wait for it and save it with its sidecar.

    Example: imagine gen "a red fox running through snow" -d 6 -a 9:16
    """
    with Session(project_dir=project, base_url=base_url, use_sim=sim) as session:
        applied = use_template(session, template, var, prompt, dry_run=dry_run or dry_run_full)
        settings = settings_with(
            session,
            max_cost_usd=max_cost,
            template=applied,
            no_audio=no_audio,
            policy=policy_level,
            duration=duration,
            aspect=aspect,
            resolution=resolution,
            model=model,
            output=output_template,
        )
        find = job_finder(session)
        first = image_input(image, "image", "--image", find) if image else None
        refs = tuple(image_input(item, "reference", "--ref", find) for item in ref or ())
        keyframes = tuple(keyframe_input(*split_keyframe(item), find) for item in keyframe or ())
        last = image_input(last_frame, "last_frame", "--last-frame", find) if last_frame else None
        spec = RenderSpec.build(
            defaults=settings,
            prompt=prompt,
            image=first,
            references=refs,
            keyframes=keyframes,
            last_frame=last,
            voices=tuple(voice_id(item) for item in voice or ()),
            store=storage.options(store, store_public, store_expires),
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
