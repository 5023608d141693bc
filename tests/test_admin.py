"""The admin policy file: what it sets, a user's and a project's settings cannot override."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Cli, read_jobs, sim_stats, write_config


@pytest.fixture
def admin_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "etc" / "policy.toml"
    path.parent.mkdir()
    path.write_text("# nothing locked yet\n")
    monkeypatch.setenv("IMAGINE_POLICY_FILE", str(path))
    return path


def _audit(imagine_home: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(imagine_home / "ledger.sqlite3")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute("SELECT * FROM audit_log ORDER BY id")]
    finally:
        conn.close()


def test_an_admin_file_disabling_edits_wins_over_a_user_config_enabling_them(
    cli: Cli, sim: Any, project: Path, imagine_home: Path, admin_file: Path
) -> None:
    assert cli.gen(sim, "a red fox", "-d", "1").exit_code == 0
    admin_file.write_text("allow_edits = false\n")
    write_config(imagine_home, "allow_edits = true\n")
    prompt = "make it snow over the hills"

    result = cli.run(
        "edit", "@last", prompt, "--consent", "--base-url", sim.url,
        env={"XAI_API_KEY": sim.api_key},
    )  # fmt: skip

    assert result.exit_code == 5, result.stderr
    assert "editing videos is turned off" in result.stderr
    assert str(admin_file) in result.stderr
    assert sim_stats(sim)["submissions"] == 1  # the gen only
    assert [row["mode"] for row in read_jobs(imagine_home)] == ["text"]
    (entry,) = _audit(imagine_home)
    assert entry["action"] == "admin_refused" and entry["actor"]
    assert json.loads(entry["detail"])["admin_file"] == str(admin_file)
    assert json.loads(entry["detail"])["setting"] == "allow_edits"
    assert entry["prompt"] is None and prompt not in json.dumps(entry)


def test_config_set_of_a_locked_setting_is_refused_and_audited(
    cli: Cli, project: Path, imagine_home: Path, admin_file: Path
) -> None:
    admin_file.write_text("allow_edits = false\nmax_cost_usd = 2.0\n")
    user = write_config(imagine_home, "# mine\n")

    for key, value in (("allow_edits", "true"), ("max_cost_usd", "50")):
        result = cli.run("config", "set", key, value)
        assert result.exit_code == 5, result.stderr
        assert f"{key} is locked" in result.stderr and str(admin_file) in result.stderr
    assert user.read_text() == "# mine\n"
    assert [json.loads(e["detail"])["setting"] for e in _audit(imagine_home)] == [
        "allow_edits",
        "max_cost_usd",
    ]
    # What the admin file does not set stays the user's to change.
    assert cli.run("config", "set", "duration", "4").exit_code == 0


def test_a_model_the_admin_file_does_not_allow_is_refused_by_flag_and_by_config(
    cli: Cli, sim: Any, project: Path, imagine_home: Path, admin_file: Path
) -> None:
    admin_file.write_text('allow_models = ["grok-imagine-video"]\n')

    by_flag = cli.gen(sim, "a red fox", "-d", "1", "-m", "grok-imagine-video-1.5")
    write_config(imagine_home, 'model = "grok-imagine-video-1.5"\n')
    by_config = cli.gen(sim, "a red fox", "-d", "1")
    by_set = cli.run("config", "set", "model", "grok-imagine-video-1.5")

    for result in (by_flag, by_config, by_set):
        assert result.exit_code == 5, result.stderr
        assert "model grok-imagine-video-1.5 is not allowed" in result.stderr
        assert str(admin_file) in result.stderr
    assert sim_stats(sim)["submissions"] == 0
    assert read_jobs(imagine_home) == []
    assert len(_audit(imagine_home)) == 3


def test_a_locked_budget_cap_wins_over_the_project(
    cli: Cli, sim: Any, project: Path, admin_file: Path
) -> None:
    admin_file.write_text("max_cost_usd = 0.01\n")
    (project / "imagine.toml").write_text("max_cost_usd = 100\n")

    result = cli.gen(sim, "a red fox", "-d", "1")

    assert result.exit_code == 5 and "max_cost_usd" in result.stderr
    assert sim_stats(sim)["submissions"] == 0


def test_no_uploads_means_no_local_file_is_sent(
    cli: Cli, sim: Any, project: Path, admin_file: Path
) -> None:
    admin_file.write_text("allow_uploads = false\n")
    from imagine.media.synth import write_image

    write_image(project / "still.png", width=320, height=240, fmt="png", seed=1)
    result = cli.gen(sim, "a red fox", "-d", "1", "--image", "still.png")

    assert result.exit_code == 5, result.stderr
    assert "sending the local file still.png is turned off" in result.stderr
    assert sim_stats(sim)["submissions"] == 0


def test_resolution_above_the_admin_maximum_is_refused(
    cli: Cli, sim: Any, project: Path, admin_file: Path
) -> None:
    admin_file.write_text('max_resolution = "480p"\n')
    result = cli.gen(sim, "a red fox", "-d", "1", "-r", "720p")
    assert result.exit_code == 5 and "resolution 720p is above 480p" in result.stderr
    assert sim_stats(sim)["submissions"] == 0


def test_config_list_shows_what_is_locked_and_by_which_file(
    cli: Cli, project: Path, imagine_home: Path, admin_file: Path
) -> None:
    admin_file.write_text('allow_edits = false\nmax_resolution = "720p"\n')
    write_config(imagine_home, 'resolution = "720p"\n')

    listing = cli.run("config", "list")
    as_json = cli.run("config", "list", "--json")

    lines = {line.split(" = ")[0]: line for line in listing.stdout.splitlines()}
    assert f"locked by admin file {admin_file}" in lines["allow_edits"]
    assert "allow_edits = false" in lines["allow_edits"]
    assert f"locked by admin file {admin_file}" in lines["max_resolution"]
    assert "# user" in lines["resolution"]
    assert json.loads(as_json.stdout)["locked"] == {
        "allow_edits": str(admin_file),
        "max_resolution": str(admin_file),
    }


def test_admin_rules_apply_and_are_listed_as_the_admins(
    cli: Cli, sim: Any, project: Path, imagine_home: Path, admin_file: Path
) -> None:
    admin_file.write_text(
        '[policy.rules.no-clowns]\ncategory = "house style"\nwords = ["clown*"]\n'
    )

    result = cli.gen(sim, "a C L O W N parade", "-d", "1")
    listing = cli.run("policy", "list", "--json")

    assert result.exit_code == 5
    assert "rule no-clowns (house style)" in result.stderr
    sources = {rule["name"]: rule["source"] for rule in json.loads(listing.stdout)["rules"]}
    assert sources["no-clowns"] == f"admin file {admin_file}"
    assert sim_stats(sim)["submissions"] == 0


def test_a_missing_admin_file_named_by_the_environment_is_a_usage_error(
    cli: Cli, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGINE_POLICY_FILE", str(tmp_path / "nope.toml"))
    result = cli.run("config", "list")
    assert result.exit_code == 2 and "IMAGINE_POLICY_FILE" in result.stderr


def test_an_admin_file_with_a_bad_value_is_exit_2_naming_it(
    cli: Cli, project: Path, admin_file: Path
) -> None:
    admin_file.write_text('max_resolution = "4k"\n')
    result = cli.run("config", "list")
    assert result.exit_code == 2 and str(admin_file) in result.stderr


def test_required_consent_is_not_taken_from_a_batch_file(
    cli: Cli, sim: Any, project: Path, admin_file: Path
) -> None:
    assert cli.gen(sim, "a red fox", "-d", "1").exit_code == 0
    admin_file.write_text("require_consent_for_edits = true\n")
    (project / "edits.jsonl").write_text(
        '{"mode": "edit", "video": "@1", "prompt": "make it snow", "consent": true}\n'
    )
    env = {"XAI_API_KEY": sim.api_key}

    refused = cli.run("batch", "edits.jsonl", "--base-url", sim.url, env=env)
    assert refused.exit_code == 2, refused.stderr
    assert "admin policy requires consent" in refused.stderr
    assert sim_stats(sim)["submissions"] == 1

    agreed = cli.run("batch", "edits.jsonl", "--consent", "--base-url", sim.url, env=env)
    assert agreed.exit_code == 0, agreed.stderr
    assert sim_stats(sim)["submissions"] == 2
