"""A storyboard as render requests: which panels go together (waves), what each costs, and the
request each panel makes once the panel it continues has its MP4.

A panel with continuity ``none`` needs nothing and renders in the first wave, alongside the other
independent ones; a chained panel (``last-frame``, ``extend``) can only be asked for once its parent's
video exists, so it renders one wave after its parent. Every panel is checked before anything is
sent: a chained one against a stand-in for the input it will get (an image of the parent's size, a
video of the parent's expected length), so that a rule of the API it would break (an extension of a
clip over 15 s, an extension on a model that has none) stops the whole file up front.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from imagine.api import contract
from imagine.config import Settings
from imagine.errors import UsageError
from imagine.ledger.store import Ledger
from imagine.lifecycle import Job
from imagine.spec import MediaInput, Mode, RenderSpec, validate
from imagine.storyboard.parse import Continuity, Panel, Storyboard, panel_duration
from imagine.workflow import entries
from imagine.workflow import plan as jobs_plan
from imagine.workflow.batchfile import BatchEntry, LineMode


@dataclass(frozen=True)
class Step:
    """One panel as planned: its wave, the panel it continues, and what it is expected to be."""

    panel: Panel
    wave: int  # 0 = renders at once; n = after the panel of wave n-1 it continues
    parent: int | None  # the index of the panel it continues
    spec: RenderSpec  # the request, or (for a chained panel) a stand-in with the parent's shape
    estimate_usd: float
    output_seconds: float  # the length of this panel's clip
    reused: Job | None = None  # an earlier job of the very same request, complete, its file there


@dataclass(frozen=True)
class BoardPlan:
    board: Storyboard
    steps: tuple[Step, ...]

    @property
    def waves(self) -> list[list[Step]]:
        found: dict[int, list[Step]] = {}
        for step in self.steps:
            found.setdefault(step.wave, []).append(step)
        return [found[wave] for wave in sorted(found)]

    @property
    def total_usd(self) -> float:
        """What the panels cost, rendered or not."""
        return sum(step.estimate_usd for step in self.steps)

    @property
    def to_pay_usd(self) -> float:
        """What the panels not rendered yet are expected to cost."""
        return sum(step.estimate_usd for step in self.steps if step.reused is None)


def panel_folder(board: Storyboard) -> str:
    """Where the panels' MP4s and sidecars go, relative to the project."""
    return f"renders/{board.slug}"


def output_template(board: Storyboard, panel: Panel) -> str:
    return f"{panel_folder(board)}/{panel.index:02d}-{{slug}}-{{short}}"


Reusable = Callable[[RenderSpec], Job | None]


def make_plan(
    board: Storyboard,
    settings: Settings,
    inputs: entries.Inputs,
    prices: Mapping[str, Mapping[str, float]],
    reusable: Reusable | None = None,
    templating: entries.Templating | None = None,
) -> BoardPlan:
    """Every panel checked and priced; raises a UsageError naming the first panel that cannot be.

    With ``reusable`` (what an earlier run rendered of a request), a panel already rendered is
    marked so, and a panel chained to it is planned as the very request it will make."""
    steps: list[Step] = []
    done: dict[int, Job] = {}
    for panel in board.panels:
        parent = steps[-1] if panel.chained else None
        parent_job = done.get(parent.panel.index) if parent is not None else None
        exact = parent is None or parent_job is not None
        try:
            if exact:
                spec = request_for(board, panel, settings, inputs, parent_job, templating).spec
            else:
                assert parent is not None
                spec = _stand_in(panel, settings, parent, templating)
            validate(spec)
        except UsageError as error:
            raise UsageError(f"{board.source.name}: panel {panel.index}: {error}") from None
        reused = reusable(spec) if exact and reusable is not None else None
        if reused is not None:
            done[panel.index] = reused
        steps.append(
            Step(
                panel=panel,
                wave=0 if parent is None else parent.wave + 1,
                parent=None if parent is None else parent.panel.index,
                spec=spec,
                estimate_usd=jobs_plan.estimate(spec, prices).usd,
                output_seconds=spec.output_seconds,
                reused=reused,
            )
        )
    return BoardPlan(board, tuple(steps))


def reusable_in(ledger: Ledger, base_url: str) -> Reusable:
    """The earlier job the engine would reuse for a request instead of rendering it, if any."""

    def find(spec: RenderSpec) -> Job | None:
        found = jobs_plan.find_existing(ledger, spec.fingerprint(base_url))
        if found is None or found.action is not jobs_plan.Action.REUSED:
            return None
        return ledger.get(found.job.id)

    return find


def request_for(
    board: Storyboard,
    panel: Panel,
    settings: Settings,
    inputs: entries.Inputs,
    parent: Job | None,
    templating: entries.Templating | None = None,
) -> jobs_plan.Request:
    """The request a panel makes; a chained panel's ``parent`` is the finished job it continues.
    A panel's ``template`` (and ``vars``) fill its prompt as `gen -t` does (``templating``)."""
    entry = _entry(panel, settings, parent, board.source.parent)
    made = entries.entry_requests(entry, settings, inputs, templating)
    return jobs_plan.Request(made[0].spec, output_template(board, panel))


def _entry(panel: Panel, settings: Settings, parent: Job | None, folder: Path) -> BatchEntry:
    options = panel.options
    common = {
        "line": panel.index,
        "prompt": panel.prompt,
        "duration": panel_duration(panel, settings.duration),
        "model": options.get("model"),
        "audio": options.get("audio"),
        "template": options.get("template"),
        "vars": tuple(sorted(dict(options.get("vars") or {}).items())),
    }
    if panel.continuity is Continuity.EXTEND:
        assert parent is not None
        return BatchEntry(mode=LineMode.EXTEND, video=parent.id, **common)  # type: ignore[arg-type]
    image = (
        parent.id
        if panel.continuity is Continuity.LAST_FRAME and parent
        else _beside(folder, panel.image)
    )
    return BatchEntry(
        mode=LineMode.GEN,
        image=image,
        aspect=options.get("aspect"),
        resolution=options.get("resolution"),
        **common,  # type: ignore[arg-type]
    )


def _beside(folder: Path, image: str | None) -> str | None:
    """A panel's image file named relative to the storyboard file is found there (a URL, a job
    reference or a file not there is taken as it is written, as `gen --image` takes it)."""
    if image is None or "://" in image or image.startswith(("@", "data:")):
        return image
    candidate = folder / Path(image).expanduser()
    return str(candidate) if candidate.is_file() else image


def _stand_in(
    panel: Panel, settings: Settings, parent: Step, templating: entries.Templating | None
) -> RenderSpec:
    """A chained panel's request with a stand-in for the input it will be given (its prompt as
    it will be sent: through its template, if it names one)."""
    width, height = _size(parent.spec)
    prompt = panel.prompt
    if templating is not None:
        entry = BatchEntry(
            line=panel.index,
            mode=LineMode.GEN,
            prompt=panel.prompt,
            template=panel.options.get("template"),
            vars=tuple(sorted(dict(panel.options.get("vars") or {}).items())),
        )
        applied, _ = templating.apply(entry)
        prompt = applied.prompt_sent if applied is not None else prompt
    model, audio = panel.options.get("model"), panel.options.get("audio")
    duration = panel_duration(panel, settings.duration)
    source = f"panel {parent.panel.index}"
    if panel.continuity is Continuity.EXTEND:
        seconds = parent.output_seconds
        low, high = contract.EXTENSION_INPUT_SECONDS
        if not low <= seconds <= high:
            raise UsageError(
                f"extend: {contract.MSG_EXTENSION_INPUT.format(seconds=seconds)} Panel "
                f"{parent.panel.index}'s clip will be {seconds:g} s: shorten the chain or cut it "
                'with continuity = "none" or "last-frame"'
            )
        video = MediaInput(
            "video",
            source,
            "job",
            "url",
            f"<the video of {source}, once rendered>",
            seconds=seconds,
            width=width,
            height=height,
        )
        return RenderSpec.build(
            Mode.EXTEND,
            defaults=settings,
            prompt=prompt,
            model=model,
            duration=duration,
            generate_audio=audio,
            video=video,
        )
    image = MediaInput(
        "image",
        source,
        "job",
        "url",
        f"<the last frame of {source}, once rendered>",
        width=width,
        height=height,
    )
    return RenderSpec.build(
        defaults=settings,
        prompt=prompt,
        model=model,
        duration=duration,
        aspect_ratio=panel.options.get("aspect"),
        resolution=panel.options.get("resolution"),
        generate_audio=audio,
        image=image,
    )


def _size(spec: RenderSpec) -> tuple[int, int]:
    if spec.resolution and spec.aspect_ratio:
        return contract.output_size(spec.resolution, spec.aspect_ratio)
    source = spec.video
    return (source.width or 848, source.height or 480) if source else (848, 480)
