"""Keyframes, a last frame, voices, storage and the end user: what is sent, what is refused before
sending (and by the simulator, in the API's words), and what a stored render leaves behind."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from imagine.api import contract as c
from imagine.api.types import parse_poll
from imagine.media.synth import write_clip, write_image
from imagine.spec import MediaInput, Mode, RenderSpec
from tests import plain
from tests.helpers import Cli, read_jobs, sim_stats

M15 = c.MODEL_15
BASE = c.BASE_MODEL


@pytest.fixture
def png(project: Path) -> Path:
    path = project / "a.png"
    write_image(path, width=64, height=48, fmt="png", seed=1)
    return path


@pytest.fixture
def png2(project: Path) -> Path:
    path = project / "b.png"
    write_image(path, width=64, height=48, fmt="png", seed=2)
    return path


def _dry(cli: Cli, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = cli.run("gen", *args, "--dry-run", env=env)
    assert result.exit_code == 0, result.stderr
    (line,) = result.stdout.strip().splitlines()
    body: dict[str, Any] = json.loads(line)
    return body


def _data_url(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


# -- what --dry-run shows ------------------------------------------------------------------------


def test_dry_run_shows_keyframes_and_the_last_frame(
    cli: Cli, project: Path, png: Path, png2: Path
) -> None:
    body = _dry(
        cli,
        "a fox",
        "-m",
        M15,
        "-d",
        "6",
        "--keyframe",
        f"{png}@2.5",
        "--keyframe",
        "https://example.com/b.png@4",
        "--last-frame",
        str(png2),
    )
    first, second = body["keyframes"]
    assert first["timestamp_s"] == 2.5 and second["timestamp_s"] == 4
    assert first["image"]["url"].startswith("data:image/png;base64,<")  # shortened as --image is
    assert second["image"] == {"url": "https://example.com/b.png"}
    assert "base64 characters of sha256" in body["last_frame"]["url"]
    assert "image" not in body and "reference_images" not in body  # still text→video


def test_dry_run_shows_voices_storage_and_the_user(
    cli: Cli, project: Path, png: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "imagine.toml").write_text('user = "customer-7"\n')
    body = _dry(
        cli,
        "two people talk",
        "-m",
        M15,
        "--ref",
        str(png),
        "--voice",
        "ara",
        "--voice",
        "rex",
        "--store",
        "--store-public",
        "--store-expires",
        "2d",
    )
    assert body["reference_audios"] == [{"voice_id": "ara"}, {"voice_id": "rex"}]
    assert body["storage_options"] == {
        "expires_after": 172800,
        "public_url": {"expires_after": 172800},
    }
    assert body["user"] == "customer-7"
    monkeypatch.setenv("IMAGINE_USER", "from-env")
    assert _dry(cli, "a fox", "--store")["user"] == "from-env"
    assert _dry(cli, "a fox", "--store")["storage_options"] == {}
    assert "storage_options" not in _dry(cli, "a fox")


# -- refused before sending, and by the simulator in the same words ------------------------------

# (flags for `gen`, the API's message, the body sent straight to the simulator)
REFUSALS: list[tuple[str, list[str], str, dict[str, Any]]] = [
    (
        "keyframe on the base model",
        ["-m", BASE, "--keyframe", "{png}@2"],
        c.MSG_KEYFRAMES_MODEL,
        {"model": BASE, "keyframes": [{"image": "{img}", "timestamp_s": 2}]},
    ),
    (
        "five keyframes",
        ["-m", M15, *[arg for t in (1, 2, 3, 4, 5) for arg in ("--keyframe", f"{{png}}@{t}")]],
        c.MSG_TOO_MANY_KEYFRAMES.format(n=5),
        {"model": M15, "keyframes": [{"image": "{img}", "timestamp_s": t} for t in range(1, 6)]},
    ),
    (
        "a keyframe after the end of the clip",
        ["-m", M15, "-d", "4", "--keyframe", "{png}@4"],
        c.MSG_KEYFRAME_TIME.format(t=4, duration=4),
        {"model": M15, "duration": 4, "keyframes": [{"image": "{img}", "timestamp_s": 4}]},
    ),
    (
        "a keyframe at 0",
        ["-m", M15, "--keyframe", "{png}@0"],
        c.MSG_KEYFRAME_TIME.format(t=0, duration=8),
        {"model": M15, "keyframes": [{"image": "{img}", "timestamp_s": 0}]},
    ),
    (
        "1080p reference→video",
        ["-m", M15, "-r", "1080p", "--ref", "{png}"],
        c.MSG_REFERENCE_1080P,
        {"model": M15, "resolution": "1080p", "reference_images": ["{img}"]},
    ),
    (
        "a voice without reference images",
        ["-m", M15, "--voice", "ara"],
        c.MSG_AUDIOS_MODE,
        {"model": M15, "reference_audios": [{"voice_id": "ara"}]},
    ),
    (
        "a voice on the base model",
        ["-m", BASE, "--ref", "{png}", "--voice", "ara"],
        c.MSG_AUDIOS_MODEL,
        {"model": BASE, "reference_images": ["{img}"], "reference_audios": [{"voice_id": "ara"}]},
    ),
    (
        "four voices",
        ["-m", M15, "--ref", "{png}", *["--voice", "ara"] * 4],
        c.MSG_TOO_MANY_AUDIOS.format(n=4),
        {
            "model": M15,
            "reference_images": ["{img}"],
            "reference_audios": [{"voice_id": "ara"}] * 4,
        },
    ),
    (
        "a last frame on the base model",
        ["-m", BASE, "--last-frame", "{png}"],
        c.MSG_LAST_FRAME_MODEL,
        {"model": BASE, "last_frame": "{img}"},
    ),
    (
        "a last frame on reference→video",
        ["-m", M15, "--ref", "{png}", "--last-frame", "{png}"],
        c.MSG_LAST_FRAME_MODE,
        {"model": M15, "reference_images": ["{img}"], "last_frame": "{img}"},
    ),
    (
        "storage kept longer than 30 days",
        ["--store-expires", "31d"],
        c.MSG_STORE_EXPIRY.format(n=31 * 86400),
        {"storage_options": {"expires_after": 31 * 86400}},
    ),
    (
        "a public link shorter than an hour",
        ["--store-public", "--store-expires", "10m"],
        c.MSG_PUBLIC_URL_EXPIRY.format(n=600),
        {"storage_options": {"expires_after": 600, "public_url": {"expires_after": 600}}},
    ),
]


def _filled(value: Any, png: Path) -> Any:
    if value == "{img}":
        return {"url": _data_url(png)}
    if isinstance(value, list):
        return [_filled(item, png) for item in value]
    if isinstance(value, dict):
        return {key: _filled(item, png) for key, item in value.items()}
    return value


@pytest.mark.parametrize(
    ("flags", "message", "raw"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_each_rule_is_refused_before_sending_and_by_the_simulator(
    cli: Cli,
    sim: Any,
    project: Path,
    png: Path,
    imagine_home: Path,
    flags: list[str],
    message: str,
    raw: dict[str, Any],
) -> None:
    args = [flag.replace("{png}", str(png)) for flag in flags]
    result = cli.gen(sim, "a fox in snow", *args)
    assert result.exit_code == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {message} ")  # the API's words, then the fix
    assert sim_stats(sim)["submissions"] == 0
    assert read_jobs(imagine_home) == []

    body = {"model": BASE, "prompt": "a fox in snow", **_filled(raw, png)}
    answer = plain.post(
        f"{sim.url}{c.ROUTE_GENERATIONS}",
        json=body,
        headers={"Authorization": f"Bearer {sim.api_key}"},
    )
    assert answer.status_code == 400
    assert answer.json() == {"code": "invalid-argument", "error": message}
    assert sim_stats(sim)["submissions"] == 0


def test_a_last_frame_on_an_edit_is_refused_in_a_batch_and_by_the_simulator(
    cli: Cli, sim: Any, project: Path, png: Path, imagine_home: Path
) -> None:
    clip = project / "clip.mp4"
    write_clip(clip, width=320, height=240, seconds=2, audio=False)
    jobs = project / "jobs.jsonl"
    line = {"mode": "edit", "video": str(clip), "prompt": "snow", "last_frame": str(png)}
    jobs.write_text(json.dumps({**line, "consent": True}) + "\n")
    result = cli.run("batch", str(jobs), "--base-url", sim.url, env={"XAI_API_KEY": sim.api_key})
    assert result.exit_code == 2
    assert f"jobs.jsonl:1: {c.MSG_LAST_FRAME_MODE}" in result.stderr
    assert sim_stats(sim)["submissions"] == 0 and read_jobs(imagine_home) == []

    video = "data:video/mp4;base64," + base64.b64encode(clip.read_bytes()).decode()
    answer = plain.post(
        f"{sim.url}{c.ROUTE_EDITS}",
        json={
            "model": BASE,
            "prompt": "snow",
            "video": {"url": video},
            "last_frame": {"url": _data_url(png)},
        },
        headers={"Authorization": f"Bearer {sim.api_key}"},
    )
    assert answer.status_code == 400 and answer.json()["error"] == c.MSG_LAST_FRAME_MODE


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--keyframe", "a.png"], "give IMAGE@SECONDS"),
        (["--keyframe", "a.png@soon"], "the time must be a number of seconds"),
        (["--keyframe", "a.png@nan"], "the time must be a number of seconds"),
        (["--voice", "ara bella"], "is not a voice id"),
        (["--store-expires", "a week"], "is not a duration"),
    ],
)
def test_misspelt_values_are_one_line_errors(
    cli: Cli, project: Path, png: Path, args: list[str], words: str
) -> None:
    result = cli.run("gen", "a fox", "-m", M15, *args, "--dry-run")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert words in line


def test_a_bad_user_setting_is_refused(
    cli: Cli, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGINE_USER", "two\nlines")
    result = cli.run("gen", "a fox", "--dry-run")
    assert result.exit_code == 2
    assert "IMAGINE_USER" in result.stderr and "one printable line" in result.stderr


# -- what a render leaves behind -----------------------------------------------------------------


def test_a_stored_render_records_where_xai_kept_it(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    result = cli.gen(
        sim,
        "a lighthouse at dusk",
        "-d",
        "1",
        "--store",
        "--store-public",
        "--store-expires",
        "1d",
        env={"IMAGINE_USER": "customer-7"},
    )
    assert result.exit_code == 0, result.stderr
    video = project / result.stdout.strip()
    (row,) = read_jobs(imagine_home)
    stored = json.loads(row["file_output_json"])
    assert stored["file_id"].startswith("file-")
    assert stored["filename"] == video.name  # named as the local copy
    assert stored["public_url"].startswith(sim.url)
    assert stored["expires_at"] >= stored["public_url_expires_at"] - 1
    sent = json.loads(row["request_json"])
    assert sent["storage_options"]["filename"] == video.name
    assert sent["user"] == "customer-7"
    assert json.loads(row["params_json"])["store"] == {"public": True, "expires_after": 86400}

    side = json.loads(video.with_suffix(".json").read_text())
    assert side["file_output"] == stored
    assert side["parameters"]["store"] == {"public": True, "expires_after": 86400}
    assert side["parameters"]["user"] == "customer-7"
    assert side["provider"]["request"]["storage_options"]["filename"] == video.name
    shown = cli.run("show", "@last")
    assert f"stored  {stored['file_id']} {video.name} until " in shown.stdout
    assert "user  customer-7" in shown.stdout
    stats = sim_stats(sim)
    assert stats["with_storage"] == 1 and stats["with_user"] == 1
    assert stats["with_keyframes"] == 0 and stats["with_voices"] == 0


def test_an_unstored_render_has_no_file_output(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    result = cli.gen(sim, "a lighthouse at dusk", "-d", "1")
    assert result.exit_code == 0, result.stderr
    (row,) = read_jobs(imagine_home)
    assert row["file_output_json"] is None
    side = json.loads((project / result.stdout.strip()).with_suffix(".json").read_text())
    assert side["file_output"] is None
    assert sim_stats(sim)["with_storage"] == 0


def test_a_keyframe_and_last_frame_from_an_earlier_job(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    assert cli.gen(sim, "a fox sits", "-d", "2").exit_code == 0
    result = cli.gen(
        sim, "the fox runs", "-m", M15, "-d", "3", "--keyframe", "@1@1.5", "--last-frame", "@1"
    )
    assert result.exit_code == 0, result.stderr
    first, second = read_jobs(imagine_home)
    keyframe, last = json.loads(second["inputs_json"])
    assert keyframe["role"] == "keyframe" and keyframe["kind"] == "job"
    assert keyframe["job_id"] == first["id"] and keyframe["at"] == 1.5
    assert last["role"] == "last_frame" and last["job_id"] == first["id"]
    assert second["parent_id"] == first["id"]
    sent = json.loads(second["request_json"])
    assert sent["keyframes"][0]["timestamp_s"] == 1.5
    assert keyframe["sha256"] in sent["keyframes"][0]["image"]["url"]
    assert last["sha256"] in sent["last_frame"]["url"]
    stats = sim_stats(sim)
    assert stats["with_keyframes"] == 1 and stats["with_last_frame"] == 1
    side = json.loads((project / result.stdout.strip()).with_suffix(".json").read_text())
    assert side["parameters"]["keyframes"] == [1.5]
    assert [item["role"] for item in side["inputs"]] == ["keyframe", "last_frame"]
    shown = cli.run("show", "@last").stdout
    assert "input keyframe" in shown and "at 1.5 s" in shown


def test_different_keyframes_are_a_different_render(
    cli: Cli, sim: Any, project: Path, png: Path, png2: Path, imagine_home: Path
) -> None:
    def gen(*keyframes: str) -> Any:
        args = [arg for k in keyframes for arg in ("--keyframe", k)]
        return cli.gen(sim, "a fox", "-m", M15, "-d", "2", *args)

    assert gen(f"{png}@1").exit_code == 0
    assert "already rendered" in gen(f"{png}@1").stderr
    assert gen(f"{png}@1.5").exit_code == 0  # another time
    assert gen(f"{png2}@1").exit_code == 0  # another image
    assert sim_stats(sim)["submissions"] == 3
    assert len({row["fingerprint"] for row in read_jobs(imagine_home)}) == 3


def test_fingerprints_of_requests_without_the_new_inputs_are_unchanged() -> None:
    """Older ledgers keep deduplicating: a plain request's fingerprint is computed as before."""
    import hashlib

    plain = RenderSpec(mode=Mode.TEXT, model=BASE, prompt="a fox", user="someone")
    before = {
        "provider": "api.x.ai",
        "route": c.ROUTE_GENERATIONS,
        "mode": "text",
        "model": BASE,
        "prompt": "a fox",
        "duration": 8,
        "aspect_ratio": "16:9",
        "resolution": "480p",
        "generate_audio": True,
        "inputs": [],
        "variation": 1,
    }
    canonical = json.dumps(before, sort_keys=True, separators=(",", ":")).encode()
    assert plain.fingerprint("https://api.x.ai") == hashlib.sha256(canonical).hexdigest()
    image = MediaInput("keyframe", "a.png", "url", "url", "https://x.test/a.png", at=2.0)
    keyed = RenderSpec(mode=Mode.TEXT, model=M15, prompt="a fox", keyframes=(image,))
    later = replace(keyed, keyframes=(replace(image, at=3.0),))
    voiced = replace(keyed, voices=("ara",))
    prints = {spec.fingerprint("https://api.x.ai") for spec in (keyed, later, voiced)}
    assert len(prints) == 3


# -- batch files ---------------------------------------------------------------------------------


def test_batch_lines_take_the_new_fields(
    cli: Cli, sim: Any, project: Path, png: Path, png2: Path, imagine_home: Path
) -> None:
    jobs = project / "jobs.jsonl"
    lines = [
        {
            "prompt": "a fox",
            "model": M15,
            "duration": 3,
            "keyframes": [{"image": str(png), "at": 1}, {"image": str(png2), "at": 2.5}],
            "last_frame": str(png2),
        },
        {"prompt": "they talk", "model": M15, "ref": str(png), "voices": ["ara"]},
        {"prompt": "kept", "duration": 1, "store": {"public": True, "expires": "2h"}},
        {"prompt": "kept privately", "duration": 1, "store": True},
    ]
    jobs.write_text("".join(json.dumps(line) + "\n" for line in lines))
    dry = cli.run("batch", str(jobs), "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    keyed, voiced, public, private = (json.loads(x) for x in dry.stdout.strip().splitlines())
    assert [k["timestamp_s"] for k in keyed["keyframes"]] == [1, 2.5]
    assert "sha256" in keyed["last_frame"]["url"]
    assert voiced["reference_audios"] == [{"voice_id": "ara"}]
    assert public["storage_options"] == {
        "expires_after": 7200,
        "public_url": {"expires_after": 7200},
    }
    assert private["storage_options"] == {}

    run = cli.run("batch", str(jobs), "--base-url", sim.url, env={"XAI_API_KEY": sim.api_key})
    assert run.exit_code == 0, run.stderr
    stats = sim_stats(sim)
    assert stats["submissions"] == 4
    assert (stats["with_keyframes"], stats["with_last_frame"], stats["with_voices"]) == (1, 1, 1)
    assert stats["with_storage"] == 2
    stored = [row for row in read_jobs(imagine_home) if row["file_output_json"]]
    assert len(stored) == 2


def test_a_csv_batch_separates_keyframes_and_voices_with_semicolons(
    cli: Cli, project: Path, png: Path, png2: Path
) -> None:
    jobs = project / "jobs.csv"
    jobs.write_text(
        f"prompt,model,keyframes,store\na fox,{M15},{png}@1;{png2}@2.5,true\nthey talk,{M15},,\n"
    )
    dry = cli.run("batch", str(jobs), "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    keyed, plain = (json.loads(x) for x in dry.stdout.strip().splitlines())
    assert [k["timestamp_s"] for k in keyed["keyframes"]] == [1, 2.5]
    assert keyed["storage_options"] == {}
    assert "keyframes" not in plain and "storage_options" not in plain


@pytest.mark.parametrize(
    ("field", "words"),
    [
        ('"keyframes": "a.png"', "give IMAGE@SECONDS"),
        ('"keyframes": [{"image": "a.png"}]', '"at": SECONDS'),
        ('"voices": [1]', "is not a voice id"),
        ('"store": {"public": true, "for": "2h"}', "takes public and expires"),
        ('"store": {"expires": "forever"}', "store.expires"),
    ],
)
def test_bad_new_fields_in_a_batch_name_their_line(
    cli: Cli, project: Path, png: Path, field: str, words: str
) -> None:
    jobs = project / "jobs.jsonl"
    jobs.write_text('{"prompt": "fine"}\n{"prompt": "a fox", ' + field + "}\n")
    result = cli.run("batch", str(jobs), "--dry-run")
    assert result.exit_code == 2
    assert "jobs.jsonl:2: " in result.stderr and words in result.stderr


# -- the answer's file_output --------------------------------------------------------------------


def test_a_file_output_is_read_bounded_and_a_public_url_alone_is_a_finished_video() -> None:
    answer = parse_poll(
        200,
        {
            "status": "done",
            "video": {
                "respect_moderation": True,
                "file_output": {
                    "file_id": "file-1",
                    "filename": "x" * 10_000,
                    "expires_at": 10**30,
                    "public_url": "https://files.example/x.mp4",
                    "extra": {"nested": "dropped"},
                },
            },
        },
    )
    assert not answer.blocked
    assert answer.video_url == "https://files.example/x.mp4"
    assert answer.file_output is not None
    assert answer.file_output["file_id"] == "file-1"
    assert len(answer.file_output["filename"]) == 2048
    assert "expires_at" not in answer.file_output and "extra" not in answer.file_output
    failed = parse_poll(
        200, {"status": "done", "video": {"url": "https://v/x.mp4", "storage_error": "quota"}}
    )
    assert failed.file_output == {"storage_error": "quota"}


def test_a_large_keyframe_is_uploaded_and_sent_by_file_id(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    from tests.test_inputs import big_png

    large = big_png(project / "large.png")
    result = cli.gen(sim, "a fox", "-m", M15, "-d", "2", "--keyframe", f"{large}@1")
    assert result.exit_code == 0, result.stderr
    (row,) = read_jobs(imagine_home)
    (item,) = json.loads(row["inputs_json"])
    assert item["sent_as"] == "file_id" and item["file_id"].startswith("file-")
    sent = json.loads(row["request_json"])
    assert sent["keyframes"] == [{"image": {"file_id": item["file_id"]}, "timestamp_s": 1.0}]
    stats = sim_stats(sim)
    assert stats["uploads"] == 1 and stats["with_keyframes"] == 1


def test_edits_and_extensions_send_the_user_too(
    cli: Cli, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = project / "clip.mp4"
    write_clip(clip, width=320, height=240, seconds=3, audio=False)
    monkeypatch.setenv("IMAGINE_USER", "customer-7")
    for command in (["edit", str(clip), "snow", "--consent"], ["extend", str(clip), "more"]):
        result = cli.run(*command, "--dry-run")
        assert result.exit_code == 0, result.stderr
        body = json.loads(result.stdout)
        assert body["user"] == "customer-7" and "storage_options" not in body
