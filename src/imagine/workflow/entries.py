"""From a batch file's entries to render requests, checked one by one.

An entry that cannot become a request (a missing image, a rule of the model) becomes a problem
with its line number, like a malformed line: the rest of the batch can go ahead without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from imagine.config import Settings
from imagine.errors import UsageError
from imagine.media.inputs import (
    JobFinder,
    VideoRules,
    image_input,
    keyframe_input,
    video_input,
    video_rules,
)
from imagine.project import render_template
from imagine.spec import MediaInput, Mode, RenderSpec, validate
from imagine.workflow.batchfile import BatchEntry, BatchFile, BatchProblem, LineMode, Result
from imagine.workflow.plan import Request, template_fields, variations
from imagine.workflow.promotion import shaped
from imagine.workflow.templating import Applied, Template


@dataclass
class Templating:
    """The templates a batch's lines may name (``template`` and ``vars`` fields), the command's own
    -t/--var as the lines' default, and --preview. ``settings_for`` layers a template's defaults
    between the config's and the command's flags; ``first_use`` is told of each template once."""

    project_file: Path | None
    settings_for: Callable[[Applied | None], Settings]
    name: str | None = None
    values: Mapping[str, str] = field(default_factory=dict)
    preview: bool = False
    first_use: Callable[[Template], None] = lambda template: None
    _found: dict[str, Template] | None = None
    _used: dict[str, Settings] = field(default_factory=dict)

    def apply(self, entry: BatchEntry) -> tuple[Applied | None, Settings | None]:
        """The line's template filled in, and the settings it brings (None: no template)."""
        from imagine.workflow import templating

        name = entry.template or self.name
        if name is None:
            if entry.vars:
                raise UsageError("vars fill a template's fields: add a template field")
            return None, None
        if self._found is None:
            self._found = templating.load(self.project_file)
        chosen = templating.choose(self._found, name, self.project_file)
        # The command's --var fill its own -t; a line naming another template brings its own.
        values = {**self.values, **dict(entry.vars)} if name == self.name else dict(entry.vars)
        applied = templating.apply(chosen, entry.prompt, values)
        if name not in self._used:
            self.first_use(chosen)
            self._used[name] = self.settings_for(applied)
        return applied, self._used[name]


@dataclass(frozen=True)
class Built:
    requests: tuple[tuple[int, Request], ...]  # (line number, request)
    problems: tuple[BatchProblem, ...]
    edits_without_consent: tuple[int, ...]  # line numbers of edits whose line gives no consent


class Inputs:
    """Inputs by what the file says, each read and checked once however many lines use it."""

    def __init__(self, find_job: JobFinder) -> None:
        self.find_job = find_job
        self._seen: dict[tuple[str, str], MediaInput] = {}

    def image(self, text: str, role: str) -> MediaInput:
        key = (role, text)
        if key not in self._seen:
            self._seen[key] = image_input(
                text, role, {"reference": "ref"}.get(role, role), self.find_job
            )
        return self._seen[key]

    def keyframe(self, text: str, at: float) -> MediaInput:
        key = ("keyframe", text)
        if key not in self._seen:
            self._seen[key] = keyframe_input(text, at, self.find_job, flag="keyframes")
        return replace(self._seen[key], at=at)

    def video(self, text: str, rules: VideoRules) -> MediaInput:
        key = (rules.purpose, text)
        if key not in self._seen:
            self._seen[key] = video_input(text, rules, self.find_job)
        return self._seen[key]


def build(
    batch: BatchFile,
    settings: Settings,
    find_job: JobFinder,
    templating: Templating | None = None,
) -> Built:
    return collect([*batch.entries, *batch.problems], settings, find_job, templating)


def collect(
    results: Iterable[Result],
    settings: Settings,
    find_job: JobFinder,
    templating: Templating | None = None,
) -> Built:
    """Every entry's requests, and every problem, of a file read line by line."""
    requests: list[tuple[int, Request]] = []
    problems: list[BatchProblem] = []
    unconsented: list[int] = []
    for item in stream(results, settings, find_job, templating):
        if isinstance(item, BatchProblem):
            problems.append(item)
            continue
        requests.extend((item.line, request) for request in item.requests)
        if item.needs_consent:
            unconsented.append(item.line)
    problems.sort(key=lambda problem: problem.line)
    return Built(tuple(requests), tuple(problems), tuple(unconsented))


@dataclass(frozen=True)
class Line:
    """The requests one good line makes (one per variation)."""

    line: int
    requests: list[Request]
    needs_consent: bool  # an edit whose line does not give consent itself


def stream(
    results: Iterable[Result],
    settings: Settings,
    find_job: JobFinder,
    templating: Templating | None = None,
) -> Iterator[Line | BatchProblem]:
    """Each line's requests, or its problem, as the lines come."""
    inputs = Inputs(find_job)
    for result in results:
        if isinstance(result, BatchProblem):
            yield result
            continue
        try:
            made = entry_requests(result, settings, inputs, templating)
        except UsageError as error:
            yield BatchProblem(result.line, str(error))
            continue
        yield Line(result.line, made, result.mode == LineMode.EDIT and not result.consent)


def entry_requests(
    entry: BatchEntry, settings: Settings, inputs: Inputs, templating: Templating | None = None
) -> list[Request]:
    """The requests one entry asks for (one per variation), each checked as `gen` would."""
    applied, with_template = templating.apply(entry) if templating else (None, None)
    settings = with_template or settings
    spec = _spec(entry, settings, inputs)
    preview = templating.preview if templating else False
    spec = shaped(spec, applied, settings, preview=preview)
    validate(spec)
    if entry.output:
        # A line's own name is checked with the line, so that a bad one skips only that line.
        render_template(entry.output, template_fields(spec, "0" * 26, 1, datetime.now()))
    return variations(spec, entry.output or settings.output, entry.n)


def _spec(entry: BatchEntry, settings: Settings, inputs: Inputs) -> RenderSpec:
    """The line's request: its own fields, the command's (``settings``) where it says nothing.
    Its keyframes, last frame, voices and storage go in whatever the mode: the rules are the spec's."""
    last = entry.last_frame
    keyframes = tuple(inputs.keyframe(image, at) for image, at in entry.keyframes)
    last_frame = inputs.image(last, "last_frame") if last else None
    mode = None if entry.mode == LineMode.GEN else Mode(entry.mode)
    video = None
    if mode is not None:
        assert entry.video is not None  # the parser requires it for edit and extend
        video = inputs.video(entry.video, video_rules(mode))
    image = inputs.image(entry.image, "image") if entry.image else None
    return RenderSpec.build(
        mode,
        defaults=settings,
        prompt=entry.prompt,
        model=entry.model,
        duration=entry.duration,
        aspect_ratio=entry.aspect,
        resolution=entry.resolution,
        generate_audio=entry.audio,
        image=image,
        references=tuple(inputs.image(ref, "reference") for ref in entry.refs),
        video=video,
        keyframes=keyframes,
        last_frame=last_frame,
        voices=entry.voices,
        store=entry.store,
    )
