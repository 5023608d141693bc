"""RenderSpec.build, the one way a request is made: what each kind of request takes, keeps and
defaults, pinned as tables at the rule's one home (spec.py), and the commands that go through it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from imagine.api import contract
from imagine.cli.rendering import Flags
from imagine.errors import UsageError
from imagine.spec import MediaInput, Mode, RenderSpec, duration_for
from imagine.storyboard.parse import Continuity, Panel, panel_duration
from tests.helpers import Cli, read_jobs, sim_stats


@dataclass(frozen=True)
class Settings:
    """Defaults unlike any built-in value, so that a value taken from them is told apart."""

    model: str = contract.MODEL_15
    duration: int = 11
    aspect: str = "1:1"
    resolution: str = "720p"
    audio: bool = False
    user: str | None = "someone"


DEFAULTS = Settings()
IMAGE = MediaInput("image", "still.png", "file", "data_url", "data:image/png;base64,AA==")
REF = MediaInput("reference", "ref.png", "file", "data_url", "data:image/png;base64,AQ==")
VIDEO = MediaInput("video", "clip.mp4", "file", "data_url", "data:video/mp4;base64,AA==")


def _build(mode: Mode | None, **given: Any) -> RenderSpec:
    video = VIDEO if mode in (Mode.EDIT, Mode.EXTEND) else None
    return RenderSpec.build(mode, defaults=DEFAULTS, prompt="a fox", video=video, **given)


# -- what each kind takes when it says nothing -----------------------------------------------

# mode -> (duration, aspect_ratio, resolution) of a request that gives none of them
DEFAULTED = {
    None: (11, "1:1", "720p"),  # a generation: the settings'
    Mode.EXTEND: (contract.EXTENSION_DEFAULT_DURATION, None, None),  # 6 s added, whatever they say
    Mode.EDIT: (None, None, None),  # keeps its input's length, aspect and resolution
}


@pytest.mark.parametrize("mode", list(DEFAULTED))
def test_each_kind_takes_its_own_defaults(mode: Mode | None) -> None:
    spec = _build(mode)
    assert (spec.duration, spec.aspect_ratio, spec.resolution) == DEFAULTED[mode]
    # Model, audio and the end user come from the settings for every kind.
    assert (spec.model, spec.generate_audio, spec.user) == (contract.MODEL_15, False, "someone")


# mode -> what a request may give, and what it is then: given values win over the defaults
ACCEPTED = {
    None: {"duration": 4, "aspect_ratio": "9:16", "resolution": "480p"},
    Mode.EXTEND: {"duration": 3},
    Mode.EDIT: {},
}


@pytest.mark.parametrize("mode", list(ACCEPTED))
def test_what_a_kind_is_given_wins_over_the_defaults(mode: Mode | None) -> None:
    given = {**ACCEPTED[mode], "model": contract.BASE_MODEL, "generate_audio": True}
    spec = _build(mode, **given)
    assert {key: getattr(spec, key) for key in given} == given


# -- what an edit and an extension keep of their input, and so refuse ------------------------

REFUSED = [
    (Mode.EDIT, "duration", 4, "an edit keeps its input's length: drop -d/--duration"),
    (Mode.EDIT, "aspect_ratio", "1:1", "an edit keeps its input's aspect ratio: drop -a/--aspect"),
    (Mode.EDIT, "resolution", "720p", "an edit keeps its input's resolution: drop -r/--resolution"),
    (
        Mode.EXTEND,
        "aspect_ratio",
        "1:1",
        "an extension keeps its input's aspect ratio: drop -a/--aspect",
    ),
    (
        Mode.EXTEND,
        "resolution",
        "720p",
        "an extension keeps its input's resolution: drop -r/--resolution",
    ),
]


@pytest.mark.parametrize(("mode", "field", "value", "message"), REFUSED)
def test_what_an_edit_or_extension_keeps_is_refused_with_the_flag_to_drop(
    mode: Mode, field: str, value: Any, message: str
) -> None:
    with pytest.raises(UsageError) as refused:
        _build(mode, **{field: value})
    assert str(refused.value) == message


def test_the_body_of_each_kind_sends_only_what_it_takes() -> None:
    bodies = {mode: _build(mode).body() for mode in DEFAULTED}
    sent = {
        mode: {"duration", "aspect_ratio", "resolution"} & set(body)
        for mode, body in bodies.items()
    }
    assert sent == {
        None: {"duration", "aspect_ratio", "resolution"},
        Mode.EXTEND: {"duration"},
        Mode.EDIT: set(),
    }


# -- which generation a request is -----------------------------------------------------------

GENERATION_MODES = [
    ({}, Mode.TEXT),
    ({"image": IMAGE}, Mode.IMAGE),
    ({"references": (REF,)}, Mode.REFERENCE),
    ({"image": IMAGE, "references": (REF,)}, Mode.REFERENCE),  # (validate refuses it on the base)
]


@pytest.mark.parametrize(("inputs", "mode"), GENERATION_MODES)
@pytest.mark.parametrize("asked", [None, Mode.TEXT, Mode.IMAGE, Mode.REFERENCE])
def test_a_generation_is_text_image_or_reference_by_its_inputs(
    inputs: dict[str, Any], mode: Mode, asked: Mode | None
) -> None:
    spec = RenderSpec.build(asked, defaults=DEFAULTS, prompt="a fox", **inputs)
    assert spec.mode is mode and spec.route == contract.ROUTE_GENERATIONS


# -- what is a bug in the caller, not the user's mistake (exit 70) ---------------------------


def test_a_video_belongs_to_an_edit_or_extension_only() -> None:
    with pytest.raises(ValueError, match="takes no video"):
        RenderSpec.build(defaults=DEFAULTS, prompt="a fox", video=VIDEO)
    for mode in (Mode.EDIT, Mode.EXTEND):
        with pytest.raises(ValueError, match="needs a video"):
            RenderSpec.build(mode, defaults=DEFAULTS, prompt="a fox")


def test_without_defaults_every_value_must_be_given() -> None:
    with pytest.raises(ValueError, match="no aspect given"):
        RenderSpec.build(
            defaults=None, prompt="a fox", model=contract.BASE_MODEL, duration=4, resolution="480p"
        )
    spec = RenderSpec.build(
        Mode.EXTEND,
        defaults=None,
        prompt="more",
        model=contract.BASE_MODEL,
        generate_audio=False,
        video=VIDEO,
    )
    assert (spec.duration, spec.user) == (contract.EXTENSION_DEFAULT_DURATION, None)


def test_flags_are_given_by_name() -> None:
    with pytest.raises(TypeError):
        Flags(True, 5.0)  # type: ignore[misc]
    assert Flags(no_wait=True, timeout=5.0).timeout == 5.0


# -- the duration rule, used by storyboard panels as by requests -----------------------------

DURATIONS = [
    (Mode.TEXT, None, 11, 11),
    (Mode.TEXT, 4, 11, 4),
    (Mode.IMAGE, None, 11, 11),
    (Mode.EXTEND, None, 11, contract.EXTENSION_DEFAULT_DURATION),
    (Mode.EXTEND, 2, 11, 2),
    (Mode.EDIT, None, 11, None),
]


@pytest.mark.parametrize(("mode", "given", "default", "seconds"), DURATIONS)
def test_duration_per_mode(mode: Mode, given: int | None, default: int, seconds: int) -> None:
    assert duration_for(mode, given, default) == seconds


@pytest.mark.parametrize(
    ("continuity", "options", "seconds"),
    [
        (Continuity.NONE, {}, 11),
        (Continuity.LAST_FRAME, {}, 11),
        (Continuity.EXTEND, {}, contract.EXTENSION_DEFAULT_DURATION),
        (Continuity.EXTEND, {"duration": 3}, 3),
    ],
)
def test_a_panel_renders_the_seconds_its_request_would(
    continuity: Continuity, options: dict[str, Any], seconds: int
) -> None:
    panel = Panel(index=2, prompt="more", continuity=continuity, options=options)
    assert panel_duration(panel, 11) == seconds


# -- through the commands --------------------------------------------------------------------


def test_promoting_an_extension_preview_with_a_resolution_is_refused_and_sends_nothing(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    env = {"XAI_API_KEY": sim.api_key}
    assert cli.gen(sim, "a red fox", "-d", "2").exit_code == 0
    extended = cli.run("extend", "@1", "it leaps", "--preview", "--base-url", sim.url, env=env)
    assert extended.exit_code == 0, extended.stderr
    refused = cli.run("promote", "@2", "-r", "720p", env=env)
    assert refused.exit_code == 2
    assert "an extension keeps its input's resolution: drop -r/--resolution" in refused.stderr
    assert sim_stats(sim)["submissions"] == 2 and len(read_jobs(imagine_home)) == 2
    final = cli.run("promote", "@2", "--dry-run")
    body = json.loads(final.stdout)
    # The final adds the 6 s the preview stood in for, at the input's own shape.
    assert (body["duration"], "resolution" in body, "aspect_ratio" in body) == (6, False, False)


def test_an_extension_without_d_adds_six_seconds_whatever_the_template_says(
    cli: Cli, sim: Any, project: Path
) -> None:
    (project / "imagine.toml").write_text(
        '[templates.long]\nversion = 1\ntext = "{prompt}, slowly"\nduration = 10\n'
    )
    assert cli.gen(sim, "a red fox", "-d", "2").exit_code == 0
    result = cli.run("extend", "@1", "it leaps", "-t", "long", "--dry-run")
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert (body["duration"], body["prompt"]) == (6, "it leaps, slowly")


def test_the_final_of_a_preview_keeps_its_keyframes_voices_and_storage(
    cli: Cli, sim: Any, project: Path
) -> None:
    from imagine.media.synth import write_image

    write_image(project / "k.png", width=320, height=240, fmt="png", seed=1)
    m15 = ("-m", contract.MODEL_15, "--preview")
    keyed = cli.gen(sim, "a fox", *m15, "--keyframe", "k.png@2", "--store", "--store-public")
    assert keyed.exit_code == 0, keyed.stderr
    voiced = cli.gen(sim, "<IMAGE_1> says hello", *m15, "--ref", "k.png", "--voice", "ara")
    assert voiced.exit_code == 0, voiced.stderr
    finals = [json.loads(cli.run("promote", job, "--dry-run").stdout) for job in ("@1", "@2")]
    assert [frame["timestamp_s"] for frame in finals[0]["keyframes"]] == [2.0]
    assert finals[0]["storage_options"] == {"public_url": True}
    assert finals[1]["reference_audios"] == [{"voice_id": "ara"}]
    assert finals[0]["duration"] == finals[1]["duration"] == contract.DEFAULT_DURATION
