"""The other commands, as a user runs them: init, config, auth, models, list, show, wait."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from imagine import paths
from tests.helpers import Cli, read_jobs, sim_stats


def test_init_then_renders_from_a_subfolder_land_in_the_project(
    cli: Cli, sim: Any, project: Path
) -> None:
    assert cli.run("init", "film").exit_code == 0
    assert (project / "film" / "imagine.toml").is_file()
    scene = project / "film" / "scenes"
    scene.mkdir()
    (project / "film" / "imagine.toml").write_text('resolution = "720p"\nduration = 2\n')
    os.chdir(scene)
    result = cli.gen(sim, "a lantern")
    assert result.exit_code == 0, result.stderr
    video = (scene / result.stdout.strip()).resolve()
    assert video.parent == (project / "film" / "renders").resolve()
    side = json.loads(video.with_suffix(".json").read_text())
    assert side["parameters"]["resolution"] == "720p"
    assert side["parameters"]["duration"] == 2
    assert side["file"]["width"] == 1280
    assert cli.run("init", str(project / "film")).exit_code == 2


def test_config_set_get_list_unset(cli: Cli, project: Path) -> None:
    assert cli.run("config", "set", "resolution", "720p").exit_code == 0
    assert cli.run("config", "get", "resolution").stdout.strip() == "720p"
    listing = cli.run("config", "list").stdout
    assert "resolution = 720p" in listing and "# user" in listing
    assert cli.run("config", "path").stdout.strip() == str(paths.config_file())
    assert cli.run("config", "unset", "resolution").exit_code == 0
    assert cli.run("config", "get", "resolution").stdout.strip() == "480p"


def test_config_refuses_bad_values_in_one_line(cli: Cli, project: Path) -> None:
    result = cli.run("config", "set", "duration", "99")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: duration 99 is out of range: the API accepts 1 to 15 seconds (duration)\n"
    )
    assert not paths.config_file().exists()
    assert cli.run("config", "get", "nope").exit_code == 2


def test_project_config_needs_a_project(cli: Cli, project: Path) -> None:
    result = cli.run("config", "set", "--project", "duration", "4")
    assert result.exit_code == 2
    assert "imagine init" in result.stderr
    cli.run("init")
    assert cli.run("config", "set", "--project", "duration", "4").exit_code == 0
    assert cli.run("config", "get", "duration").stdout.strip() == "4"


def test_gen_uses_a_broken_config_file_as_an_error_not_a_crash(
    cli: Cli, sim: Any, project: Path
) -> None:
    paths.config_file().parent.mkdir(parents=True, exist_ok=True)
    paths.config_file().write_text("aspect = 'auto'\n")
    result = cli.gen(sim, "a fox")
    assert result.exit_code == 2
    assert "aspect ratio 'auto' is not supported" in result.stderr
    assert "config.toml" in result.stderr
    assert sim_stats(sim)["submissions"] == 0


def test_auth_set_status_remove(cli: Cli, sim_factory: Any, project: Path) -> None:
    key = "xai-stored-key-for-auth-tests-123456"
    sim = sim_factory(api_keys=(key,))
    assert cli.run("auth", "set", input=key + "\n").exit_code == 0
    stored = paths.credentials_file()
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    offline = cli.run("auth", "status", "--offline")
    assert offline.exit_code == 0
    assert "xai-…3456" in offline.stdout and key not in offline.stdout
    online = cli.run("auth", "status", "--base-url", sim.url)
    assert online.exit_code == 0, online.stderr
    assert "valid" in online.stdout
    wrong = cli.run("auth", "status", "--base-url", sim.url, env={"XAI_API_KEY": "xai-nope-000000"})
    assert wrong.exit_code == 3
    assert "Incorrect API key" in wrong.stderr
    assert cli.run("auth", "remove").exit_code == 0
    assert not stored.exists()
    assert cli.run("auth", "status", "--offline").exit_code == 3


def test_the_environment_key_wins(cli: Cli, project: Path) -> None:
    cli.run("auth", "set", input="xai-file-key-000000000000\n")
    result = cli.run("auth", "status", "--offline", env={"XAI_API_KEY": "xai-env-key-1111111111"})
    assert "from XAI_API_KEY" in result.stdout


def test_models(cli: Cli, project: Path) -> None:
    result = cli.run("models", "--sim")
    assert result.exit_code == 0, result.stderr
    assert "grok-imagine-video" in result.stdout and "480p $0.05/s" in result.stdout
    rows = [json.loads(line) for line in cli.run("models", "--sim", "--json").stdout.splitlines()]
    assert {row["id"] for row in rows} >= {"grok-imagine-video", "grok-imagine-video-1.5"}


def test_list_and_show(cli: Cli, sim: Any, project: Path) -> None:
    cli.gen(sim, "an orange kite", "-d", "1")
    cli.gen(sim, "please moderate-me", "-d", "1")
    listing = cli.run("list")
    assert listing.exit_code == 0
    assert "an orange kite" in listing.stdout and "blocked" in listing.stdout
    only = cli.run("list", "--status", "complete", "--json").stdout.splitlines()
    assert [json.loads(line)["prompt"]["raw"] for line in only] == ["an orange kite"]
    assert "kite" not in cli.run("list", "-q", "moderate").stdout
    shown = cli.run("show", "@1")
    assert shown.exit_code == 0
    assert "an orange kite" in shown.stdout and "submitted" in shown.stdout
    document = json.loads(cli.run("show", "@1", "--json").stdout)
    side = json.loads((project / document["file"]["sidecar"]).read_text())
    assert document == side
    missing = cli.run("show", "@42")
    assert missing.exit_code == 2
    assert missing.stderr.startswith("error: no job @42")
    assert cli.run("list", "--since", "yesterday-ish").exit_code == 2


def test_wait_with_nothing_to_do(cli: Cli, project: Path) -> None:
    result = cli.run("wait")
    assert result.exit_code == 0
    assert "no unfinished jobs" in result.stderr


def test_timeout_leaves_the_job_resumable(
    cli: Cli, sim_factory: Any, project: Path, imagine_home: Path
) -> None:
    sim = sim_factory(speed=5.0)
    result = cli.gen(sim, "a very slow glacier", "-d", "2", "--timeout", "0.5")
    assert result.exit_code == 6
    assert "imagine wait" in result.stderr
    (row,) = read_jobs(imagine_home)
    assert row["status"] == "running"
    finished = cli.run("wait", "@last", env={"XAI_API_KEY": sim.api_key})
    assert finished.exit_code == 0, finished.stderr
    assert sim_stats(sim)["submissions"] == 1


def test_rate_limits_slow_submissions_down_without_losing_or_doubling(
    cli: Cli, sim_factory: Any, project: Path
) -> None:
    sim = sim_factory(rps_limit=2)
    cli.run("config", "set", "rps", "50")
    result = cli.gen(sim, "a flock of birds", "-d", "1", "-n", "4")
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.split()) == 4
    stats = sim_stats(sim)
    assert stats["submissions"] == 4
    assert stats["rate_limited"] >= 1


def test_progress_as_json_events(cli: Cli, sim: Any, project: Path) -> None:
    result = cli.gen(sim, "a bouncing ball", "-d", "1", "--progress", "json")
    assert result.exit_code == 0
    events = [json.loads(line) for line in result.stderr.splitlines()]  # every line is JSON
    kinds = [event["event"] for event in events]
    assert kinds[0] == "submitting" and kinds[-2:] == ["complete", "summary"]
    assert all(event["number"] == 1 for event in events if "job" in event)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["gen", "--bogus", "a fox"], "No such option: --bogus"),
        (["bogus"], "No such command 'bogus'"),
        (["wait", "--all", "--base-url", "http://127.0.0.1:9"], "No such option: --base-url"),
        (["gen", "-d", "six", "a fox"], "Invalid value for '-d' / '--duration'"),
        (["gen", "--progress", "weird", "a fox"], "'weird' is not one of auto, plain, json, none"),
        (["sim", "--port", "99999"], "Invalid value for '--port'"),
    ],
)
def test_usage_errors_exit_2_with_the_usage_line(
    args: list[str], message: str, tmp_path: Path
) -> None:
    # The real entry point, in its own process: the test runner's own error handling is not in
    # the way (under pytest, the app re-raises what it would report as an internal error).
    env = {k: v for k, v in os.environ.items() if k != "IMAGINE_DEBUG"}
    env["IMAGINE_HOME"] = str(tmp_path / "home")
    done = subprocess.run(
        [sys.executable, "-m", "imagine", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert "Try 'imagine" in done.stderr
    assert "internal error" not in done.stderr
    assert not (tmp_path / "home" / "ledger.sqlite3").exists()
