"""Every input mode through the simulator: image→video, references, edits, extensions, chains;
and every bad input refused before a cent is spent."""

from __future__ import annotations

import json
import os
import struct
import wave
import zlib
from pathlib import Path
from typing import Any

import pytest

from imagine.media.probe import probe_video
from imagine.media.synth import write_clip, write_image
from tests.helpers import Cli, read_jobs, sim_stats


def big_png(path: Path, side: int = 700) -> Path:
    """A valid PNG of random pixels: incompressible, so larger than the 1 MiB inline limit."""
    raw = b"".join(b"\x00" + os.urandom(side * 3) for _ in range(side))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 1))
        + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture
def still(project: Path) -> Path:
    path = project / "still.png"
    write_image(path, width=320, height=240, fmt="png", seed=1)
    return path


@pytest.fixture
def clip(project: Path, synthetic_clip: Any) -> Path:
    return synthetic_clip(project / "clip.mp4", width=320, height=240, seconds=3, audio=True)


def _sidecar(project: Path, stdout: str) -> dict[str, Any]:
    video = project / stdout.strip().splitlines()[-1]
    return dict(json.loads(video.with_suffix(".json").read_text()))


def _no_live_jobs(home: Path) -> bool:
    return all(
        row["status"] not in ("queued", "submitting", "running", "downloading")
        for row in read_jobs(home)
    )


# -- image → video ---------------------------------------------------------------------------


def test_image_to_video_sends_a_small_file_inline(
    cli: Cli, sim: Any, project: Path, still: Path, imagine_home: Path
) -> None:
    result = cli.gen(sim, "the scene comes alive", "--image", str(still), "-d", "2")
    assert result.exit_code == 0, result.stderr
    side = _sidecar(project, result.stdout)
    assert side["mode"] == "image"
    (item,) = side["inputs"]
    assert item["role"] == "image" and item["sent_as"] == "data_url"
    assert item["path"] == str(still.resolve())
    assert len(item["sha256"]) == 64 and item["mime"] == "image/png"
    (row,) = read_jobs(imagine_home)
    assert "base64 characters of sha256 " + item["sha256"] in row["request_json"]
    assert len(row["request_json"]) < 2000  # the bytes are never copied into the ledger
    assert abs(probe_video(project / result.stdout.strip()).duration - 2) < 0.2


def test_image_prompt_is_optional(cli: Cli, sim: Any, project: Path, still: Path) -> None:
    result = cli.gen(sim, "--image", str(still), "-d", "1")
    assert result.exit_code == 0, result.stderr
    assert "still" in result.stdout  # named after the image when there is no prompt


def test_large_image_goes_through_the_files_api(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    image = big_png(project / "big.png")
    assert image.stat().st_size > 1024 * 1024
    result = cli.gen(sim, "zoom out slowly", "--image", str(image), "-d", "1")
    assert result.exit_code == 0, result.stderr
    (item,) = _sidecar(project, result.stdout)["inputs"]
    assert item["sent_as"] == "file_id" and item["file_id"].startswith("file-")
    assert sim_stats(sim)["uploads"] == 1
    (row,) = read_jobs(imagine_home)
    assert json.loads(row["request_json"])["image"] == {"file_id": item["file_id"]}


def test_an_image_url_is_sent_as_given(cli: Cli, project: Path) -> None:
    result = cli.run("gen", "a cat", "--image", "https://example.com/cat.png", "--dry-run")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["image"] == {"url": "https://example.com/cat.png"}


def test_image_from_an_earlier_job_uses_its_last_frame(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    first = cli.gen(sim, "a kite rising", "-d", "2")
    assert first.exit_code == 0
    second = cli.gen(sim, "the kite flies on", "--image", "@last", "-d", "2")
    assert second.exit_code == 0, second.stderr
    side = _sidecar(project, second.stdout)
    (item,) = side["inputs"]
    parent = read_jobs(imagine_home)[0]
    assert item["kind"] == "job" and item["job_id"] == parent["id"]
    assert item["mime"] == "image/jpeg"
    assert side["parent_id"] == parent["id"]


# -- reference images ------------------------------------------------------------------------


def test_reference_images(cli: Cli, sim: Any, project: Path, still: Path) -> None:
    other = project / "other.jpg"
    write_image(other, width=200, height=200, fmt="jpeg", seed=2)
    result = cli.gen(
        sim, "<IMAGE_1> meets <IMAGE_2>", "--ref", str(still), "--ref", str(other), "-d", "2"
    )
    assert result.exit_code == 0, result.stderr
    side = _sidecar(project, result.stdout)
    assert side["mode"] == "reference"
    assert [item["mime"] for item in side["inputs"]] == ["image/png", "image/jpeg"]
    body = side["provider"]["request"]
    assert len(body["reference_images"]) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-d", "12"], "exceeds the maximum allowed for reference-to-video, which is 10s"),
        (["-r", "1080p", "-m", "grok-imagine-video-1.5"], "not supported for reference-to-video"),
        (["--image", "{still}"], "--image and --ref cannot be combined on grok-imagine-video"),
        (["--ref", "{still}"] * 14, "Too many reference images: 15. Maximum allowed is 14."),
    ],
)
def test_reference_rules_are_enforced_before_sending(
    cli: Cli,
    sim: Any,
    project: Path,
    still: Path,
    imagine_home: Path,
    args: list[str],
    message: str,
) -> None:
    args = [arg.replace("{still}", str(still)) for arg in args]
    result = cli.gen(sim, "<IMAGE_1>", "--ref", str(still), *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert sim_stats(sim)["submissions"] == 0
    assert read_jobs(imagine_home) == []


# -- edits -----------------------------------------------------------------------------------


def test_edit_keeps_the_length_and_records_consent(
    cli: Cli, sim: Any, project: Path, clip: Path, imagine_home: Path
) -> None:
    result = cli.run(
        "edit",
        str(clip),
        "make it snow",
        "--consent",
        "--base-url",
        sim.url,
        env={"XAI_API_KEY": sim.api_key},
    )
    assert result.exit_code == 0, result.stderr
    video = project / result.stdout.strip()
    info = probe_video(video)
    assert abs(info.duration - 3) < 0.2
    assert (info.width, info.height) == (320, 240)
    side = _sidecar(project, result.stdout)
    assert side["mode"] == "edit" and side["consent"]["how"] == "flag"
    assert side["cost"]["estimate_usd"] == pytest.approx(3 * 0.05 + 3 * 0.01)
    (entry,) = json.loads("[" + ",".join(cli.run("audit", "--json").stdout.split("\n")[:-1]) + "]")
    assert entry["input_sha256"] == side["inputs"][0]["sha256"]
    assert entry["prompt"] == "make it snow" and entry["consent"] == "flag"
    assert entry["job_id"] == side["id"]


def test_edit_without_consent_in_a_script_is_refused(
    cli: Cli, sim: Any, project: Path, clip: Path, imagine_home: Path
) -> None:
    result = cli.run(
        "edit", str(clip), "make it snow", "--base-url", sim.url, env={"XAI_API_KEY": sim.api_key}
    )
    assert result.exit_code == 5
    assert "--consent" in result.stderr
    assert sim_stats(sim)["submissions"] == 0
    assert read_jobs(imagine_home) == []


def test_edit_on_the_15_model_is_refused(cli: Cli, sim: Any, project: Path, clip: Path) -> None:
    result = cli.run(
        "edit",
        str(clip),
        "x",
        "--consent",
        "-m",
        "grok-imagine-video-1.5",
        "--base-url",
        sim.url,
        env={"XAI_API_KEY": sim.api_key},
    )
    assert result.exit_code == 2
    assert "Video editing is not supported for this model." in result.stderr
    assert sim_stats(sim)["submissions"] == 0


def test_edit_of_an_earlier_job(cli: Cli, sim: Any, project: Path, imagine_home: Path) -> None:
    first = cli.gen(sim, "a city street", "-d", "2")
    assert first.exit_code == 0
    edited = cli.run(
        "edit",
        "@last",
        "make it night",
        "--consent",
        "--base-url",
        sim.url,
        env={"XAI_API_KEY": sim.api_key},
    )
    assert edited.exit_code == 0, edited.stderr
    rows = read_jobs(imagine_home)
    assert rows[1]["parent_id"] == rows[0]["id"]
    assert abs(probe_video(project / edited.stdout.strip()).duration - 2) < 0.2


# -- extensions ------------------------------------------------------------------------------


def test_extension_adds_to_the_original(cli: Cli, sim: Any, project: Path, clip: Path) -> None:
    result = cli.run(
        "extend",
        str(clip),
        "the camera pulls back",
        "-d",
        "4",
        "--base-url",
        sim.url,
        env={"XAI_API_KEY": sim.api_key},
    )
    assert result.exit_code == 0, result.stderr
    assert abs(probe_video(project / result.stdout.strip()).duration - 7) < 0.2
    side = _sidecar(project, result.stdout)
    assert side["provider"]["request"]["duration"] == 4


def test_extension_outside_the_documented_range_warns(cli: Cli, project: Path, clip: Path) -> None:
    result = cli.run("extend", str(clip), "more", "-d", "12", "--dry-run")
    assert result.exit_code == 0
    assert "warning" in result.stderr and "2-10" in result.stderr


def test_extension_input_too_short(cli: Cli, sim: Any, project: Path) -> None:
    short = project / "short.mp4"
    write_clip(short, width=320, height=240, seconds=1)
    result = cli.run(
        "extend", str(short), "more", "--base-url", sim.url, env={"XAI_API_KEY": sim.api_key}
    )
    assert result.exit_code == 2
    assert "extend needs at least 2 s" in result.stderr


# -- posters ---------------------------------------------------------------------------------


def test_every_render_gets_a_poster(cli: Cli, sim: Any, project: Path) -> None:
    result = cli.gen(sim, "a windmill", "-d", "2")
    video = project / result.stdout.strip()
    poster = video.with_suffix(".jpg")
    assert poster.read_bytes()[:3] == b"\xff\xd8\xff"
    assert _sidecar(project, result.stdout)["file"]["poster"] == "renders/" + poster.name


# -- bad input -------------------------------------------------------------------------------


def _wav(path: Path) -> Path:
    with wave.open(str(path), "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(b"\x00\x01" * 8000)
    return path


def _bad_inputs(project: Path, synthetic_clip: Any) -> dict[str, tuple[list[str], str, int]]:
    text = project / "notes.png"
    text.write_text("just some text, not an image\n")
    truncated = project / "broken.jpg"
    write_image(truncated, width=64, height=64, fmt="jpeg")
    truncated.write_bytes(truncated.read_bytes()[:200])
    huge = project / "huge.png"
    with huge.open("wb") as handle:
        handle.truncate(30 * 1024 * 1024)
    long_clip = project / "long.mp4"
    synthetic_clip(long_clip, width=160, height=120, seconds=20, audio=False)
    sound = _wav(project / "sound.wav")
    return {
        "text renamed .png": (["gen", "x", "--image", str(text)], "not a JPEG, PNG or WebP", 2),
        "truncated JPEG": (["gen", "x", "--image", str(truncated)], "truncated", 2),
        "30 MB image": (["gen", "x", "--image", str(huge)], "up to 20 MiB", 2),
        "20 s edit": (["edit", str(long_clip), "x", "--consent"], "up to 8.7 s", 2),
        "WAV as video": (["edit", str(sound), "x", "--consent"], "Give an MP4 video", 2),
        "missing file": (["gen", "x", "--image", "nowhere.png"], "no such file", 2),
        "ftp URL": (["gen", "x", "--image", "ftp://host/a.png"], "unsupported URL scheme", 2),
        "missing job": (["gen", "x", "--image", "@99"], "no such job", 2),
    }


@pytest.mark.parametrize(
    "case",
    [
        "text renamed .png",
        "truncated JPEG",
        "30 MB image",
        "20 s edit",
        "WAV as video",
        "missing file",
        "ftp URL",
        "missing job",
    ],
)
def test_bad_inputs_are_refused_in_one_line(
    cli: Cli, sim: Any, project: Path, imagine_home: Path, case: str, synthetic_clip: Any
) -> None:
    args, message, code = _bad_inputs(project, synthetic_clip)[case]
    result = cli.run(*args, "--base-url", sim.url, env={"XAI_API_KEY": sim.api_key})
    assert result.exit_code == code, result.stderr
    assert message in result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert sim_stats(sim)["submissions"] == 0
    assert _no_live_jobs(imagine_home)


def test_an_input_changed_before_sending_is_not_sent(
    cli: Cli,
    sim: Any,
    project: Path,
    still: Path,
    imagine_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Jobs keep inputs by reference: if the file changes before the job is sent (say, a queued
    job resumed later), the job fails instead of rendering something else under the same name."""
    from imagine.media.inputs import image_input
    from imagine.session import Session
    from imagine.spec import Mode, RenderSpec
    from imagine.workflow.plan import Request
    from imagine.workflow.steps import preview, record

    monkeypatch.setenv("XAI_API_KEY", sim.api_key)
    with Session(base_url=sim.url) as session:
        spec = RenderSpec(
            mode=Mode.IMAGE,
            model="grok-imagine-video",
            prompt="move",
            image=image_input(str(still), "image", "--image", lambda ref: None),
        )
        (planned,) = record(session, preview(session, [Request(spec, "renders/{slug}")]))
    write_image(still, width=320, height=240, fmt="png", seed=99)
    result = cli.run("wait", planned.job.id)
    assert result.exit_code == 2
    assert "changed since the job was recorded" in result.stderr
    (row,) = read_jobs(imagine_home)
    assert (row["status"], row["error_code"]) == ("failed", "input_changed")
    assert sim_stats(sim)["submissions"] == 0


def test_without_the_media_extra_there_is_a_note_not_a_crash(
    project: Path, clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import imagine.media
    from imagine.engine.finish import _describe
    from imagine.errors import UsageError
    from imagine.media.inputs import EDIT_RULES, video_input

    monkeypatch.setattr(imagine.media, "have_av", lambda: False)
    described = _describe(clip)
    assert described["probed"] is False
    assert "pip install 'imagine[media]'" in described["note"]
    assert not clip.with_suffix(".jpg").exists()
    with pytest.raises(UsageError, match="needs the media extra"):
        video_input(str(clip), EDIT_RULES, lambda ref: None)
