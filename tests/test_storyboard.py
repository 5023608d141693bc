"""`imagine storyboard`: panels as jobs through the simulator, continuity, waves, re-runs that
render only what changed, the stitched film (picture and sound), refusals before anything is sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from imagine.media.synth import write_clip, write_image
from imagine.storyboard.parse import Transition, TransitionKind
from imagine.storyboard.stitch import Clip, stitch
from tests.helpers import Cli, read_jobs, sim_stats

THREE_PANELS = """\
title = "Lighthouse at Night"

[defaults]
duration = 3

[[panel]]
prompt = "a lighthouse at dusk, waves below"
transition = "crossfade:0.5"
caption = "Dusk"

[[panel]]
prompt = "the beam sweeps over the sea"
continuity = "last-frame"
caption = "Night <falls>"

[[panel]]
prompt = "a ship's lights appear on the horizon"
continuity = "extend"
duration = 2
"""
FILM = 3 + 3 + 2 - 0.5  # the extension adds 2 s; the crossfade overlaps half a second


def _run(cli: Cli, sim: Any, *args: str) -> Any:
    return cli.run(
        "storyboard", *args, "--base-url", sim.url, "--rps", "50", env={"XAI_API_KEY": sim.api_key}
    )


def _board(folder: Path, text: str = THREE_PANELS, name: str = "board.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def _sound(path: Path) -> tuple[Any, int]:
    """The film's first audio channel as floats, and its sample rate."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = [frame.to_ndarray()[0] for frame in container.decode(stream)]
        return np.concatenate(chunks), stream.rate


def _rms(samples: Any, rate: int, start: float, end: float) -> float:
    window = samples[int(start * rate) : int(end * rate)]
    return float(np.sqrt(np.mean(window.astype(np.float64) ** 2)))


def test_three_panels_become_one_film_with_continuity_crossfade_and_captions(
    cli: Cli, sim: Any, project: Path
) -> None:
    result = _run(cli, sim, str(_board(project)))
    assert result.exit_code == 0, result.stderr
    film = project / "renders" / "lighthouse-at-night.mp4"
    assert result.stdout.splitlines()[-1] == "renders/lighthouse-at-night.mp4"

    with av.open(str(film)) as container:
        video = container.streams.video[0]
        assert (video.codec_context.name, container.streams.audio[0].codec_context.name) == (
            "h264",
            "aac",
        )
        assert container.duration / 1_000_000 == pytest.approx(FILM, abs=0.1)
        frames = sum(1 for _ in container.decode(video))
    assert frames == round(FILM * 24)

    # Sound all the way through: no silent gap inside the crossfade (0.5 s from 2.5 s) nor at
    # the cut into the extension (5.5 s).
    samples, rate = _sound(film)
    for start in np.arange(0.1, FILM - 0.2, 0.05):
        assert _rms(samples, rate, start, start + 0.05) > 0.05, f"silence at {start:.2f} s"

    # Each panel is a job: text, image→video from panel 1's last frame, extension of panel 2.
    jobs = read_jobs(cli_home(project))
    assert [row["mode"] for row in jobs] == ["text", "image", "extend"]
    assert json.loads(jobs[1]["inputs_json"])[0]["job_id"] == jobs[0]["id"]
    assert json.loads(jobs[2]["inputs_json"])[0]["job_id"] == jobs[1]["id"]
    assert all(
        Path(row["output_path"]).parent == project / "renders" / "lighthouse-at-night"
        for row in jobs
    )
    assert all(Path(row["output_path"]).with_suffix(".json").exists() for row in jobs)

    sidecar = json.loads((project / "renders" / "lighthouse-at-night.json").read_text())
    assert [panel["job"]["id"] for panel in sidecar["panels"]] == [row["id"] for row in jobs]
    assert [panel["film"]["start"] for panel in sidecar["panels"]] == [0.0, 2.5, 5.5]
    assert sidecar["film"]["duration"] == pytest.approx(FILM)
    assert sidecar["total_cost_usd"] == pytest.approx(sum(p["cost_usd"] for p in sidecar["panels"]))
    assert sidecar["total_cost_usd"] > 0

    # Captions beside the film, timed to it: a crossfade's middle separates two cues.
    vtt = (project / "renders" / "lighthouse-at-night.vtt").read_text()
    assert vtt.startswith("WEBVTT\n")
    assert "00:00:00.000 --> 00:00:02.750\nDusk" in vtt
    assert "00:00:02.750 --> 00:00:05.500\nNight &lt;falls&gt;" in vtt

    shown = cli.run("show", "lighthouse-at-night")
    assert shown.exit_code == 0, shown.stderr
    assert "Lighthouse at Night" in shown.stdout
    assert all(f"#{row['seq']} complete" in shown.stdout for row in jobs)
    document = json.loads(cli.run("show", sidecar["id"][:10], "--json").stdout)
    assert [panel["job"]["id"] for panel in document["panels"]] == [row["id"] for row in jobs]


def cli_home(project: Path) -> Path:
    return project.parent / "home"


def test_a_changed_panel_renders_again_with_the_panels_chained_after_it(
    cli: Cli, sim: Any, project: Path
) -> None:
    # Short panels (panel 2 is extended, so it needs two seconds): what is sent again is the point
    # here, not the film's length, which the test above checks; each run stitches the film anew.
    short = (
        THREE_PANELS.replace("duration = 3", "duration = 1")
        .replace("duration = 2", "duration = 1")
        .replace('continuity = "last-frame"', 'continuity = "last-frame"\nduration = 2')
    )
    four = short + '\n[[panel]]\nprompt = "dawn over the rocks"\n'
    board = _board(project, four)
    first = _run(cli, sim, str(board))
    assert first.exit_code == 0, first.stderr
    assert sim_stats(sim)["submissions"] == 4

    again = _run(cli, sim, str(board))  # nothing changed: nothing sent, the film made again
    assert again.exit_code == 0, again.stderr
    assert sim_stats(sim)["submissions"] == 4

    planned = _run(cli, sim, str(board), "--dry-run")
    assert "4 panel(s) already rendered" in planned.stderr
    assert "estimated cost $0.00" in planned.stderr

    board.write_text(four.replace("sweeps over the sea", "sweeps over a stormy sea"))
    planned = _run(cli, sim, str(board), "--dry-run")
    assert "2 panel(s) already rendered" in planned.stderr
    assert "panel 1: 'a lighthouse at dusk, waves below' — text, independent" in planned.stderr
    assert "already rendered as #1" in planned.stderr
    assert sim_stats(sim)["submissions"] == 4
    changed = _run(cli, sim, str(board))
    assert changed.exit_code == 0, changed.stderr
    stats = sim_stats(sim)
    # Panel 2 and the extension of it; panel 1 and the independent panel 4 are reused.
    assert stats["submissions"] == 6 and stats["duplicate_bodies"] == 0
    jobs = read_jobs(cli_home(project))
    assert [row["prompt"] for row in jobs[4:]] == [
        "the beam sweeps over a stormy sea",
        "a ship's lights appear on the horizon",
    ]
    sidecar = json.loads((project / "renders" / "lighthouse-at-night.json").read_text())
    assert [panel["job"]["this_run"] for panel in sidecar["panels"]] == [
        "reused",
        "new",
        "new",
        "reused",
    ]
    assert sidecar["panels"][1]["job"]["id"] == jobs[4]["id"]


def test_dry_run_shows_the_plan_and_sends_nothing(cli: Cli, sim: Any, project: Path) -> None:
    result = cli.run("storyboard", str(_board(project)), "--dry-run", "--base-url", sim.url)
    assert result.exit_code == 0, result.stderr
    bodies = [json.loads(line) for line in result.stdout.splitlines()]
    assert [body["prompt"] for body in bodies] == [
        "a lighthouse at dusk, waves below",
        "the beam sweeps over the sea",
        "a ship's lights appear on the horizon",
    ]
    assert bodies[1]["image"] == {"url": "<the last frame of panel 1, once rendered>"}
    assert "3 panel(s) in 3 wave(s)" in result.stderr
    assert "last-frame of panel 1" in result.stderr and "extend of panel 2" in result.stderr
    assert "dry run: nothing sent; estimated cost $" in result.stderr
    assert sim_stats(sim)["submissions"] == 0
    assert read_jobs(cli_home(project)) == []


def test_jsonl_storyboards_render_like_toml(cli: Cli, sim: Any, project: Path) -> None:
    lines = [
        {"title": "Two Shots", "defaults": {"duration": 2, "audio": False}},
        {"prompt": "a red kite", "transition": "fade-to-black:0.5"},
        {"prompt": "a blue kite", "caption": "Later"},
    ]
    board = _board(project, "\n".join(map(json.dumps, lines)) + "\n", "board.jsonl")
    result = _run(cli, sim, str(board))
    assert result.exit_code == 0, result.stderr
    with av.open(str(project / "renders" / "two-shots.mp4")) as container:
        assert container.duration / 1_000_000 == pytest.approx(4.0, abs=0.1)
    assert sim_stats(sim)["submissions"] == 2


BAD = [
    (
        THREE_PANELS.replace('caption = "Dusk"', 'captoin = "Dusk"'),
        "board.toml:9: panel 1 captoin: unknown key: did you mean 'caption'?",
    ),
    (
        THREE_PANELS.replace('"crossfade:0.5"', '"dissolve:0.5"'),
        "board.toml:8: panel 1 transition: 'dissolve:0.5' is not a transition",
    ),
    (
        THREE_PANELS.replace('"crossfade:0.5"', '"crossfade:3.5"'),
        "board.toml:8: panel 1 transition: crossfade:3.5 is longer than panel 1 (3 s)",
    ),
    (
        THREE_PANELS.replace(
            'prompt = "a lighthouse at dusk, waves below"', 'prompt = "a"\ncontinuity = "extend"'
        ),
        "board.toml:8: panel 1 continuity: the first panel has no panel before it",
    ),
    (
        THREE_PANELS.replace("duration = 2", "duration = 13")
        + '[[panel]]\nprompt = "more"\ncontinuity = "extend"\n',
        "panel 4: extend: Input video is 16s long",
    ),
    (
        THREE_PANELS.replace("duration = 2", 'model = "grok-imagine-video-1.5"'),
        "panel 3: Video extension is not supported for this model.",
    ),
    (
        THREE_PANELS.replace("duration = 3", "duration = 30"),
        "defaults.duration",
    ),
    (THREE_PANELS + "#" * 1_100_000, "is over 1 MiB"),
    ('title = "T"\n', "board.toml: no panels"),
]


@pytest.mark.parametrize(("text", "said"), BAD)
def test_a_bad_storyboard_is_refused_whole_before_anything_is_sent(
    cli: Cli, sim: Any, project: Path, text: str, said: str
) -> None:
    result = _run(cli, sim, str(_board(project, text)))
    assert result.exit_code == 2, result.stderr
    assert said in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sim_stats(sim)["submissions"] == 0
    assert read_jobs(cli_home(project)) == []


def test_a_bad_jsonl_panel_is_named_by_its_line(cli: Cli, sim: Any, project: Path) -> None:
    lines = ['{"title": "T"}', '{"prompt": "a"}', '{"prompt": "b", "transition": "crossfade:x"}']
    result = _run(cli, sim, str(_board(project, "\n".join(lines), "board.jsonl")))
    assert result.exit_code == 2
    assert "board.jsonl:3: panel 2 transition: 'x' is not a number of seconds" in result.stderr
    assert sim_stats(sim)["submissions"] == 0


def test_stitching_scales_to_the_first_clip_and_gives_silence_to_a_silent_one(
    tmp_path: Path,
) -> None:
    first, silent, last = (tmp_path / f"{name}.mp4" for name in ("a", "b", "c"))
    write_clip(first, width=320, height=240, seconds=2, seed=1)
    write_clip(silent, width=160, height=120, seconds=2, seed=2, audio=False)
    write_clip(last, width=320, height=240, seconds=2, seed=3)
    fade = Transition(TransitionKind.FADE_TO_BLACK, 0.5)
    made = stitch([Clip(first, transition=fade), Clip(silent), Clip(last)], tmp_path / "film.mp4")
    assert (made.width, made.height, made.duration) == (320, 240, pytest.approx(6.0))
    with av.open(str(made.path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (320, 240)
        pictures = [frame.to_ndarray(format="gray") for frame in container.decode(stream)]
    assert len(pictures) == 144
    assert pictures[47].mean() < 20  # the last frame before the fade's end is nearly black
    assert pictures[30].mean() > 30
    samples, rate = _sound(made.path)
    assert _rms(samples, rate, 0.2, 1.2) > 0.05
    assert _rms(samples, rate, 1.97, 2.03) < 0.02  # faded out and in
    assert _rms(samples, rate, 2.1, 3.9) < 0.001  # the silent clip: silence, not a gap
    assert _rms(samples, rate, 4.1, 5.9) > 0.05
    assert not list(tmp_path.glob(".film.mp4.*"))  # written through a temporary file


def test_a_failed_panel_stops_the_panels_chained_to_it_and_the_film(
    cli: Cli, sim: Any, project: Path
) -> None:
    sim.configure(fail_rate=1.0)
    result = _run(cli, sim, str(_board(project)))
    assert result.exit_code == 1
    assert "panel 2 skipped: panel 1, which it continues, did not finish" in result.stderr
    assert "panel(s) 1, 2, 3 not rendered, so the film is not stitched" in result.stderr
    assert sim_stats(sim)["submissions"] == 1
    assert not (project / "renders" / "lighthouse-at-night.mp4").exists()


def test_a_panel_image_is_found_beside_the_storyboard_file(
    cli: Cli, sim: Any, project: Path
) -> None:
    folder = project / "boards"
    folder.mkdir()
    write_image(folder / "start.png", width=64, height=48)
    board = _board(folder, 'title = "T"\n[[panel]]\nprompt = "p"\nimage = "start.png"\n')
    result = cli.run("storyboard", str(board), "--dry-run", "--base-url", sim.url)
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["image"]["url"].startswith("data:image/png;base64,")
    assert "— image, independent" in result.stderr


def test_a_crossfade_blends_the_pictures_and_overlaps_the_clips(tmp_path: Path) -> None:
    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    write_clip(first, width=160, height=96, seconds=2, seed=4)
    write_clip(second, width=160, height=96, seconds=2, seed=9)
    cross = Transition(TransitionKind.CROSSFADE, 1.0)
    made = stitch([Clip(first, transition=cross), Clip(second)], tmp_path / "film.mp4")
    assert made.duration == pytest.approx(3.0)
    assert [(p.start, p.end) for p in made.placed] == [(0.0, 2.0), (1.0, 3.0)]

    def pictures(path: Path) -> list[Any]:
        with av.open(str(path)) as container:
            return [f.to_ndarray(format="rgb24").astype(float) for f in container.decode(video=0)]

    a, b, film = pictures(first), pictures(second), pictures(made.path)
    assert len(film) == 72
    # Halfway through the crossfade the picture is half of each clip's, not either alone.
    middle = film[36]
    blend = (a[36] + b[12]) / 2
    assert np.abs(middle - blend).mean() < 6
    assert np.abs(middle - a[36]).mean() > 12 and np.abs(middle - b[12]).mean() > 12


def test_timeout_bounds_the_whole_run_not_each_wave(
    cli: Cli, sim_factory: Any, project: Path
) -> None:
    slow = sim_factory(speed=0.5)  # a 3-second panel takes 6 s: the wait runs out first
    result = _run(cli, slow, str(_board(project)), "--timeout", "0.5")
    assert result.exit_code == 6, result.stderr
    assert "the time is up (--timeout): panel(s) 2, 3 not sent" in result.stderr
    assert sim_stats(slow)["submissions"] == 1


def test_a_panel_refused_by_the_policy_stops_the_whole_film_before_anything_is_sent(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    board = project / "board.toml"
    board.write_text(
        'title = "Refused"\n[defaults]\nduration = 1\n'
        '[[panel]]\nprompt = "a calm lake"\n'
        '[[panel]]\nprompt = "r e m o v e her c l o t h e s"\n'
    )
    result = cli.run(
        "storyboard", str(board), "--base-url", sim.url, env={"XAI_API_KEY": sim.api_key}
    )
    assert result.exit_code == 5
    assert "panel 2:" in result.stderr and "clothes" not in result.output
    assert sim_stats(sim)["submissions"] == 0


def test_panels_take_a_template_and_its_fields(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    (project / "imagine.toml").write_text(
        '[templates.scene]\nversion = 2\ntext = "{prompt}, shot on {film} film"\n'
    )
    board = _board(
        project,
        'title = "Templated"\n[defaults]\nduration = 1\ntemplate = "scene"\n'
        'vars = { film = "35mm" }\n'
        '[[panel]]\nprompt = "a lighthouse"\n'
        '[[panel]]\nprompt = "the sea"\nvars = { film = "16mm" }\n'
        '[[panel]]\nprompt = "a plain shot"\ntemplate = "none-such"\n',
    )
    refused = _run(cli, sim, str(board))  # an unknown template: nothing sent
    assert refused.exit_code == 2 and "none-such" in refused.stderr
    assert sim_stats(sim)["submissions"] == 0
    board.write_text(board.read_text().replace('template = "none-such"\n', ""))
    result = _run(cli, sim, str(board))
    assert result.exit_code == 0, result.stderr
    rows = {row["prompt"]: row for row in read_jobs(imagine_home)}
    assert rows["a lighthouse"]["prompt_sent"] == "a lighthouse, shot on 35mm film"
    assert rows["the sea"]["prompt_sent"] == "the sea, shot on 16mm film"
    assert (rows["the sea"]["template_name"], rows["the sea"]["template_version"]) == ("scene", 2)
    assert rows["a plain shot"]["prompt_sent"] == "a plain shot, shot on 35mm film"  # defaults
