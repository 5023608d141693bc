"""Options shared by several commands; their names are part of the command-line contract."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from imagine.api import contract
from imagine.cli import completion as complete
from imagine.cli import output
from imagine.cli.complete_words import PROGRESS_MODES
from imagine.errors import UsageError

MAX_STDIN_PROMPT = 64 * 1024  # characters; a prompt is a paragraph, not a file


def prompt_or_stdin(value: str | None) -> str | None:
    """``-`` means stdin for a prompt, as it does for `imagine batch -`."""
    if value != "-":
        return value
    import sys

    text = sys.stdin.read(MAX_STDIN_PROMPT + 1)
    if len(text) > MAX_STDIN_PROMPT:
        raise UsageError(
            f"the prompt on stdin is over {MAX_STDIN_PROMPT} characters: "
            "for many prompts use imagine batch -"
        )
    prompt = text.strip()
    if not prompt:
        raise UsageError("no prompt on stdin: pipe one in (echo 'a red fox' | imagine gen -)")
    return prompt


def finite(value: float | None) -> float | None:
    """Refuse NaN and infinity, which pass every min= check (NaN compares false with all)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number: give one such as 2.5")
    return value


Duration = Annotated[
    int | None,
    typer.Option(
        "-d",
        "--duration",
        metavar="SECONDS",
        help="Seconds of video, 1-15 [default: 8].",
        autocompletion=complete.durations,
    ),
]
Aspect = Annotated[
    str | None,
    typer.Option(
        "-a",
        "--aspect",
        metavar="RATIO",
        help=f"Aspect ratio: {', '.join(contract.ASPECT_RATIOS)} [default: 16:9].",
        autocompletion=complete.aspects,
    ),
]
Resolution = Annotated[
    str | None,
    typer.Option(
        "-r",
        "--resolution",
        metavar="RES",
        help="480p, 720p or 1080p (1080p on grok-imagine-video-1.5) [default: 480p].",
        autocompletion=complete.resolutions,
    ),
]
Model = Annotated[
    str | None,
    typer.Option(
        "-m",
        "--model",
        metavar="MODEL",
        help="Model [default: grok-imagine-video].",
        autocompletion=complete.models,
    ),
]
NoAudio = Annotated[bool, typer.Option("--no-audio", help="Ask for a silent video.")]
Variations = Annotated[
    int,
    typer.Option(
        "-n",
        "--variations",
        metavar="N",
        min=1,
        max=16,
        help="How many takes to render; their names carry take1, take2…",
    ),
]
Output = Annotated[
    str | None,
    typer.Option(
        "-o",
        "--output",
        metavar="TEMPLATE",
        help="Output path template relative to the project, e.g. 'clips/{date}-{slug}'; "
        "fields {date} {time} {slug} {id} {short} {seq} {n} {model} {mode} {duration} "
        "{resolution} {aspect}; .mp4 is added.",
    ),
]
ProjectDir = Annotated[
    Path | None,
    typer.Option(
        "--project",
        metavar="DIR",
        help="Project folder [default: nearest folder with imagine.toml, else the current one].",
    ),
]
NoWait = Annotated[
    bool,
    typer.Option(
        "--no-wait", help="Submit, print the job id and return; finish later with `imagine wait`."
    ),
]
Json = Annotated[
    bool, typer.Option("--json", help="Print one JSON object per job (the sidecar's shape).")
]
Quiet = Annotated[
    bool, typer.Option("-q", "--quiet", help="No progress or messages, only results and errors.")
]


def _progress_mode(value: str | None) -> str | None:
    if value is not None and value not in PROGRESS_MODES:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(PROGRESS_MODES)}")
    # From here on (bad batch lines, errors, the end of the run) messages are events too.
    output.events_on_stderr(value == "json")
    return value


Progress = Annotated[
    str | None,
    typer.Option(
        "--progress",
        metavar="MODE",
        help="Progress display: auto, plain, json (NDJSON events on stderr) or none.",
        autocompletion=complete.progress_modes,
        callback=_progress_mode,
    ),
]
Yes = Annotated[bool, typer.Option("-y", "--yes", help="Do not ask for confirmation.")]
# Read as text and checked as the max_cost_usd setting is: -5, abc, nan and inf get its one line.
MaxCost = Annotated[
    str | None,
    typer.Option(
        "--max-cost",
        metavar="USD",
        help="Refuse this command if its estimate is above USD [default: max_cost_usd].",
    ),
]
Force = Annotated[
    bool, typer.Option("--force", help="Render anew even if the same request was rendered before.")
]
DryRun = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Print the exact request body and cost; send nothing, needs no key. "
        "Inline media is shown as its length and sha256.",
    ),
]
DryRunFull = Annotated[
    bool,
    typer.Option(
        "--dry-run-full", help="Like --dry-run, with inline media in full (every base64 byte)."
    ),
]
Sim = Annotated[
    bool,
    typer.Option("--sim", help="Run against an in-process simulator (no key, no cost)."),
]
BaseUrl = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        metavar="URL",
        envvar="IMAGINE_BASE_URL",
        help="API root [default: https://api.x.ai]; routes are appended as /v1/....",
    ),
]
Timeout = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        min=0,
        callback=finite,
        help="Stop waiting after this many seconds (exit 6; resumable).",
    ),
]
Template = Annotated[
    str | None,
    typer.Option(
        "-t",
        "--template",
        metavar="NAME",
        help="Prompt template from [templates.NAME] in imagine.toml or the user config "
        "(see `imagine templates`); its options are defaults that flags override.",
        autocompletion=complete.templates,
    ),
]
Var = Annotated[
    list[str] | None,
    typer.Option(
        "--var",
        metavar="KEY=VALUE",
        help="Fill a named field of the template (repeat for several).",
    ),
]
Preview = Annotated[
    bool,
    typer.Option(
        "--preview",
        help="A short, cheap render first (settings preview_resolution, preview_duration: "
        "480p, 3 s); render the final with `imagine promote JOB`.",
    ),
]
Keyframe = Annotated[
    list[str] | None,
    typer.Option(
        "--keyframe",
        metavar="IMAGE@SECONDS",
        help="An image the clip passes through at SECONDS (file, URL or job; repeat, up to 4; "
        "grok-imagine-video-1.5).",
    ),
]
LastFrame = Annotated[
    str | None,
    typer.Option(
        "--last-frame",
        metavar="PATH|URL|JOB",
        help="An image the clip ends on (grok-imagine-video-1.5); a job means its last frame.",
    ),
]
Voice = Annotated[
    list[str] | None,
    typer.Option(
        "--voice",
        metavar="ID",
        help="A preset voice for reference→video, e.g. ara (repeat, up to 3; "
        "grok-imagine-video-1.5).",
    ),
]
Store = Annotated[
    bool,
    typer.Option(
        "--store", help="Ask xAI to keep the video in its Files API too (recorded as file_output)."
    ),
]
StorePublic = Annotated[
    bool,
    typer.Option("--store-public", help="Give the stored file a public URL (implies --store)."),
]
StoreExpires = Annotated[
    str | None,
    typer.Option(
        "--store-expires",
        metavar="DURATION",
        help="Keep the stored file this long, e.g. 7d, 12h, 3600 (at most 30d; 1h or more "
        "with --store-public; implies --store).",
    ),
]
Policy = Annotated[
    str | None,
    typer.Option(
        "--policy",
        metavar="LEVEL",
        help="Prompt rules: standard, or strict (adds age-appropriate rules; never lowers).",
        autocompletion=complete.policy_levels,
    ),
]
Concurrency = Annotated[
    int | None,
    typer.Option(
        "-c",
        "--concurrency",
        min=1,
        metavar="N",
        help="Renders in flight at once, across processes [default: 4].",
    ),
]
Rps = Annotated[
    float | None,
    typer.Option(
        "--rps",
        min=0.001,
        metavar="R",
        callback=finite,
        help="Job starts per second per model [default: 1].",
    ),
]
