"""`imagine gen` end to end against the simulator on loopback, as a user runs it."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from imagine.media.probe import probe_video
from tests import plain
from tests.helpers import Cli, failed_renders, read_jobs, sim_stats


def test_gen_renders_a_playable_mp4_with_its_sidecar(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    result = cli.gen(sim, "a red fox running through snow", "-d", "3", "-a", "9:16")
    assert result.exit_code == 0, result.stderr
    video = project / result.stdout.strip()
    assert video.parent == project / "renders"
    assert video.name.endswith(".mp4") and "a-red-fox-running-through-snow" in video.name
    assert not list(project.rglob("*.part"))

    info = probe_video(video)
    assert (info.width, info.height) == (480, 848)
    assert abs(info.duration - 3) < 0.2
    assert info.video_codec == "h264" and info.has_audio

    side = json.loads(video.with_suffix(".json").read_text())
    assert side["ai_generated"] is True
    assert side["status"] == "complete"
    assert side["prompt"]["raw"] == "a red fox running through snow"
    assert side["parameters"]["aspect_ratio"] == "9:16"
    assert side["file"]["sha256"] and side["file"]["bytes"] == video.stat().st_size
    assert side["file"]["has_audio"] is True
    assert side["cost"]["actual_usd"] == pytest.approx(0.15)
    assert side["cost"]["estimate_usd"] == pytest.approx(0.15)
    assert side["request_id"] and side["fingerprint"]

    (row,) = read_jobs(imagine_home)
    assert row["status"] == "complete"
    assert row["output_path"] == str(video)
    assert side["file"]["path"] == "renders/" + video.name
    assert json.loads(row["request_json"])["aspect_ratio"] == "9:16"
    assert sim_stats(sim)["submissions"] == 1


def test_no_audio_gives_a_silent_video(cli: Cli, sim: Any, project: Path) -> None:
    result = cli.gen(sim, "a quiet lake", "-d", "2", "--no-audio")
    assert result.exit_code == 0, result.stderr
    assert not probe_video(project / result.stdout.strip()).has_audio


def test_the_same_command_twice_renders_once(cli: Cli, sim: Any, project: Path) -> None:
    first = cli.gen(sim, "a lighthouse at dusk", "-d", "2")
    second = cli.gen(sim, "a lighthouse at dusk", "-d", "2")
    assert second.exit_code == 0
    assert first.stdout == second.stdout
    assert "already rendered" in second.stderr
    assert sim_stats(sim)["submissions"] == 1
    forced = cli.gen(sim, "a lighthouse at dusk", "-d", "2", "--force")
    assert forced.exit_code == 0
    assert forced.stdout != first.stdout
    assert sim_stats(sim)["submissions"] == 2


def test_json_output_is_the_sidecar(cli: Cli, sim: Any, project: Path) -> None:
    result = cli.gen(sim, "a paper boat", "-d", "2", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    side = json.loads((project / document["file"]["sidecar"]).read_text())
    assert document == side


def test_output_template_relative_to_the_project(cli: Cli, sim: Any, project: Path) -> None:
    result = cli.gen(sim, "Neon City!", "-d", "1", "-o", "clips/{date}-{slug}")
    assert result.exit_code == 0, result.stderr
    video = project / result.stdout.strip()
    assert video.parent == project / "clips"
    assert video.name.endswith("-neon-city.mp4")
    assert video.with_suffix(".json").exists()


def test_variations_are_separate_jobs(cli: Cli, sim: Any, project: Path) -> None:
    result = cli.gen(sim, "a spinning top", "-d", "1", "-n", "2")
    assert result.exit_code == 0, result.stderr
    paths = result.stdout.split()
    assert len(set(paths)) == 2
    assert sim_stats(sim)["submissions"] == 2


def test_no_wait_then_wait(cli: Cli, sim: Any, project: Path) -> None:
    started = cli.gen(sim, "a slow sunrise", "-d", "2", "--no-wait")
    assert started.exit_code == 0, started.stderr
    job_id = started.stdout.strip()
    assert "imagine wait" in started.stderr
    finished = cli.run("wait", job_id, env={"XAI_API_KEY": sim.api_key})
    assert finished.exit_code == 0, finished.stderr
    assert (project / finished.stdout.strip()).exists()
    assert sim_stats(sim)["submissions"] == 1


def test_dry_run_prints_the_body_and_needs_no_key(
    cli: Cli, project: Path, imagine_home: Path
) -> None:
    result = cli.run("gen", "a fox", "-d", "5", "-r", "720p", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "model": "grok-imagine-video",
        "prompt": "a fox",
        "duration": 5,
        "aspect_ratio": "16:9",
        "resolution": "720p",
    }
    assert "POST https://api.x.ai/v1/videos/generations" in result.stderr
    assert "$0.35" in result.stderr
    assert not (imagine_home / "ledger.sqlite3").exists()
    assert not (project / "renders").exists()


def test_sim_flag_needs_no_key_and_no_server(cli: Cli, project: Path) -> None:
    result = cli.run("gen", "--sim", "a tiny robot waving", "-d", "1")
    assert result.exit_code == 0, result.stderr
    info = probe_video(project / result.stdout.strip())
    assert (info.width, info.height) == (848, 480)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-d", "0"], "duration 0 is out of range"),
        (["-d", "16"], "duration 16 is out of range"),
        (["-a", "auto"], "aspect ratio 'auto' is not supported"),
        (["-m", "grok-imagine-video-9"], "unknown model 'grok-imagine-video-9'"),
        (["-r", "1080p"], "1080p is only available on grok-imagine-video-1.5"),
        (["-o", "../escape"], "must name a file inside the project"),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(
    cli: Cli, sim: Any, project: Path, imagine_home: Path, args: list[str], message: str
) -> None:
    result = cli.gen(sim, "a fox", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert sim_stats(sim)["submissions"] == 0
    assert read_jobs(imagine_home) == []


def test_empty_prompt(cli: Cli, sim: Any, project: Path, imagine_home: Path) -> None:
    result = cli.gen(sim, "   ")
    assert result.exit_code == 2
    assert "the prompt is empty" in result.stderr
    assert sim_stats(sim)["submissions"] == 0


def test_no_api_key(cli: Cli, project: Path, imagine_home: Path) -> None:
    result = cli.run("gen", "a fox", "--base-url", "http://127.0.0.1:9")
    assert result.exit_code == 3
    assert "no API key" in result.stderr and "imagine auth set" in result.stderr
    assert read_jobs(imagine_home) == []
    assert not (project / "renders").exists()


def test_wrong_api_key(cli: Cli, sim_factory: Any, project: Path, imagine_home: Path) -> None:
    sim = sim_factory(api_keys=("xai-the-right-key-000000000000",))
    result = cli.run(
        "gen",
        "a fox",
        "-d",
        "1",
        "--base-url",
        sim.url,
        env={"XAI_API_KEY": "xai-a-wrong-key-1111111111111"},
    )
    assert result.exit_code == 3
    assert "Incorrect API key" in result.stderr
    assert "xai-a-wrong-key-1111111111111" not in result.stderr
    assert sim_stats(sim)["submissions"] == 0
    assert [row["status"] for row in read_jobs(imagine_home)] == ["failed"]


def test_unreachable_base_url(cli: Cli, project: Path, imagine_home: Path) -> None:
    with plain.Client() as probe:
        port = _free_port()
        with pytest.raises(httpx.ConnectError):
            probe.get(f"http://127.0.0.1:{port}/")
    result = cli.run(
        "gen",
        "a fox",
        "--base-url",
        f"http://127.0.0.1:{port}",
        env={"XAI_API_KEY": "xai-anything-000000000000000000"},
    )
    assert result.exit_code == 4
    assert f"cannot reach http://127.0.0.1:{port}" in result.stderr
    assert [row["status"] for row in read_jobs(imagine_home)] == ["failed"]
    assert not list(project.rglob("*.mp4"))


def test_unwritable_project_is_refused_before_sending(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    (project / "renders").write_text("a file where the folder should be")
    result = cli.gen(sim, "a fox", "-d", "1")
    assert result.exit_code == 2
    assert "cannot write renders" in result.stderr
    assert sim_stats(sim)["submissions"] == 0
    assert read_jobs(imagine_home) == []


def test_moderated_render_is_blocked(cli: Cli, sim: Any, project: Path, imagine_home: Path) -> None:
    result = cli.gen(sim, "please moderate-me now", "-d", "1")
    assert result.exit_code == 1
    assert "blocked" in result.stderr
    assert not list(project.rglob("*.mp4"))
    (row,) = read_jobs(imagine_home)
    assert (row["status"], row["block_source"], row["block_reason"]) == (
        "blocked",
        "provider",
        "moderation",
    )


def test_a_blocked_request_is_not_sent_again_unless_asked(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    cli.gen(sim, "please moderate-me now", "-d", "1")
    again = cli.gen(sim, "please moderate-me now", "-d", "1")
    assert again.exit_code == 1
    assert "blocked by the provider's moderation: not sending it again" in again.stderr
    assert "imagine retry" in again.stderr
    assert sim_stats(sim)["submissions"] == 1
    assert len(read_jobs(imagine_home)) == 1
    forced = cli.gen(sim, "please moderate-me now", "-d", "1", "--force")
    assert forced.exit_code == 1
    assert sim_stats(sim)["submissions"] == 2


def test_a_failed_request_is_sent_again_as_a_new_job(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    failed_renders(cli, sim, "a fox")
    again = cli.gen(sim, "a fox", "-d", "1")
    assert again.exit_code == 0, again.stderr
    assert [row["status"] for row in read_jobs(imagine_home)] == ["failed", "complete"]
    assert sim_stats(sim)["submissions"] == 2


def test_failed_render(cli: Cli, sim_factory: Any, project: Path, imagine_home: Path) -> None:
    sim = sim_factory(fail_rate=1.0)
    result = cli.gen(sim, "a fox", "-d", "1")
    assert result.exit_code == 1
    assert "Video generation failed" in result.stderr
    (row,) = read_jobs(imagine_home)
    assert (row["status"], row["error_code"]) == ("failed", "internal_error")


def test_lost_answer_leaves_the_job_unknown_and_never_resends(
    cli: Cli, sim_factory: Any, project: Path, imagine_home: Path
) -> None:
    sim = sim_factory(drop_rate=1.0)
    result = cli.gen(sim, "a fox", "-d", "1")
    assert result.exit_code == 4
    assert "imagine retry" in result.stderr
    (row,) = read_jobs(imagine_home)
    assert row["status"] == "unknown"
    again = cli.gen(sim, "a fox", "-d", "1")
    assert again.exit_code == 4
    assert "unknown" in again.stderr
    waited = cli.run("wait", "--all", env={"XAI_API_KEY": sim.api_key})
    assert waited.exit_code == 0
    assert "no unfinished jobs; 1 unknown" in waited.stderr
    assert "imagine list --status unknown" in waited.stderr
    assert sim_stats(sim)["submissions"] == 1


def test_a_retried_unknown_job_writes_the_file_it_was_meant_to_and_needs_no_more_decisions(
    cli: Cli, sim_factory: Any, project: Path, imagine_home: Path
) -> None:
    sim = sim_factory(drop_rate=1.0)
    assert cli.gen(sim, "a fox", "-d", "1", "-o", "shots/fox.mp4").exit_code == 4
    plain.post(f"{sim.url}/sim/config", json={"drop_rate": 0})
    env = {"XAI_API_KEY": sim.api_key}
    retried = cli.run("retry", "@1", "-y", env=env)
    assert retried.exit_code == 0, retried.stderr
    # The name the command asked for, not one made unique against a job that can never download.
    assert retried.stdout.strip() == "shots/fox.mp4"
    assert (project / "shots" / "fox.json").is_file()
    waited = cli.run("wait", "--all", env=env)
    assert "unknown" not in waited.stderr  # retried: no decision left to make
    again = cli.gen(sim, "a fox", "-d", "1", "-o", "shots/fox.mp4")
    assert again.exit_code == 0 and "reused" in again.stderr
    assert sim_stats(sim)["submissions"] == 2


def test_truncated_downloads_are_resumed(cli: Cli, sim_factory: Any, project: Path) -> None:
    sim = sim_factory(truncate_rate=0.5, seed=3)
    result = cli.gen(sim, "a waterfall", "-d", "2")
    assert result.exit_code == 0, result.stderr
    video = project / result.stdout.strip()
    assert abs(probe_video(video).duration - 2) < 0.2
    side = json.loads(video.with_suffix(".json").read_text())
    assert side["file"]["bytes"] == video.stat().st_size
    assert side["file"]["sha256"] == hashlib.sha256(video.read_bytes()).hexdigest()
    assert sim_stats(sim)["truncated"] >= 1  # the resume path really ran


def test_the_api_key_is_never_written(
    cli: Cli, sim_factory: Any, project: Path, imagine_home: Path
) -> None:
    key = "xai-secret-key-that-must-not-leak-42"
    sim = sim_factory(api_keys=(key,))
    ok = cli.run(
        "gen", "a fox", "-d", "1", "--base-url", sim.url, "--json", env={"XAI_API_KEY": key}
    )
    assert ok.exit_code == 0, ok.stderr
    cli.run("gen", "a fox", "-d", "1", "--base-url", sim.url, env={"XAI_API_KEY": key + "x"})
    assert key not in ok.stdout + ok.stderr
    for path in [*imagine_home.rglob("*"), *project.rglob("*")]:
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path
    assert sim_stats(sim)["media_auth_headers"] == 0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_ledger_rows_are_readable_with_plain_sqlite(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    cli.gen(sim, "a fox", "-d", "1")
    conn = sqlite3.connect(imagine_home / "ledger.sqlite3")
    events = [row[0] for row in conn.execute("SELECT event FROM job_events ORDER BY id")]
    assert events[0] == "created" and events[-1] == "complete"
    assert {"submitting", "submitted", "rendered"} <= set(events)


def test_sim_jobs_resume_in_a_later_process(cli: Cli, project: Path) -> None:
    """--sim's simulator dies with its process; `wait` starts another on the same saved state."""
    started = cli.run("gen", "--sim", "--no-wait", "a patient heron", "-d", "1")
    assert started.exit_code == 0, started.stderr
    finished = cli.run("wait", started.stdout.strip())
    assert finished.exit_code == 0, finished.stderr
    assert probe_video(project / finished.stdout.strip()).duration == pytest.approx(1, abs=0.2)
