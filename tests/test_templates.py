"""Versioned prompt templates: -t/--template and --var on render commands and batch lines, the
`imagine templates` listing, what the ledger and sidecars keep, and every mistake refused early."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Cli, read_jobs, sim_stats, write_config

AD_V2 = """
[templates.ad]
version = 2
text = "{prompt}, {style} style, 35mm film"
description = "the house look for ads"
resolution = "720p"
"""
AD_V3 = """
[templates.ad]
version = 3
text = "{prompt}, {style} style, anamorphic, golden hour"
resolution = "720p"
"""


def _project_templates(project: Path, text: str) -> None:
    (project / "imagine.toml").write_text(text)


def _sidecar(project: Path, result: Any) -> dict[str, Any]:
    video = project / result.stdout.strip().splitlines()[-1]
    return dict(json.loads(video.with_suffix(".json").read_text()))


def test_a_template_at_v2_then_v3_keeps_both_versions_and_both_prompts(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    _project_templates(project, AD_V2)
    first = cli.gen(sim, "a fox in snow", "-t", "ad", "--var", "style=noir", "-d", "2")
    assert first.exit_code == 0, first.stderr
    _project_templates(project, AD_V3)
    second = cli.gen(sim, "a fox in snow", "-t", "ad", "--var", "style=noir", "-d", "2")
    assert second.exit_code == 0, second.stderr
    assert sim_stats(sim)["submissions"] == 2  # two texts sent: two renders

    v2, v3 = read_jobs(imagine_home)
    assert (v2["template_name"], v2["template_version"]) == ("ad", 2)
    assert (v3["template_name"], v3["template_version"]) == ("ad", 3)
    assert v2["prompt"] == v3["prompt"] == "a fox in snow"
    assert v2["prompt_sent"] == "a fox in snow, noir style, 35mm film"
    assert v3["prompt_sent"] == "a fox in snow, noir style, anamorphic, golden hour"
    assert json.loads(v3["request_json"])["prompt"] == v3["prompt_sent"]
    assert v2["resolution"] == "720p"  # the template's default, over the config's 480p

    side2, side3 = _sidecar(project, first), _sidecar(project, second)
    assert side2["template"] == {"name": "ad", "version": 2}
    assert side3["template"] == {"name": "ad", "version": 3}
    assert side3["prompt"]["raw"] == "a fox in snow"
    assert side3["prompt"]["sent"] == "a fox in snow, noir style, anamorphic, golden hour"

    # An A/B of the two versions: stats and usage keep them apart.
    stats = json.loads(cli.run("stats", "--json", "--by", "template").stdout)
    assert {group["key"]: group["jobs"] for group in stats["groups"]} == {"ad v2": 1, "ad v3": 1}
    usage = json.loads(cli.run("usage", "--json", "--by", "template", "--since", "1d").stdout)
    assert {"ad v2", "ad v3"} <= {group["key"] for group in usage["groups"]}


def test_the_same_text_sent_again_is_the_same_render(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    _project_templates(project, AD_V2)
    assert cli.gen(sim, "a fox", "-t", "ad", "--var", "style=noir", "-d", "1").exit_code == 0
    # A version raised without a change of text sends the very same request: not paid twice.
    _project_templates(project, AD_V2.replace("version = 2", "version = 4"))
    again = cli.gen(sim, "a fox", "-t", "ad", "--var", "style=noir", "-d", "1")
    assert again.exit_code == 0, again.stderr
    assert "already rendered" in again.stderr
    assert sim_stats(sim)["submissions"] == 1
    assert len(read_jobs(imagine_home)) == 1


def test_flags_beat_template_defaults_which_beat_the_config(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    write_config(imagine_home, 'aspect = "9:16"\nduration = 2\n')
    _project_templates(project, AD_V2 + 'aspect = "1:1"\n')
    result = cli.gen(sim, "a fox", "-t", "ad", "--var", "style=noir", "-r", "480p")
    assert result.exit_code == 0, result.stderr
    (row,) = read_jobs(imagine_home)
    assert row["resolution"] == "480p"  # flag over the template's 720p
    assert row["aspect_ratio"] == "1:1"  # template over the config's 9:16
    assert row["duration"] == 2  # the config, where neither says


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-t", "ad"], "needs a value for {style}: pass --var style="),
        (["-t", "ad", "--var", "style=noir", "--var", "mood=dark"], "has no field 'mood'"),
        (["-t", "ad", "--var", "style"], "write it as name=value"),
        (["-t", "nope"], "unknown template 'nope' (known: ad)"),
        (["--var", "style=noir"], "add -t/--template NAME"),
    ],
)
def test_a_missing_field_or_unknown_template_sends_nothing(
    cli: Cli,
    sim: Any,
    project: Path,
    imagine_home: Path,
    args: list[str],
    expected: str,
) -> None:
    _project_templates(project, AD_V2)
    result = cli.gen(sim, "a fox", *args)
    assert result.exit_code == 2
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    if expected.startswith(("needs", "has no")):
        assert str(project / "imagine.toml") in result.stderr and "'ad'" in result.stderr
    assert sim_stats(sim)["submissions"] == 0
    assert read_jobs(imagine_home) == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('version = 0\ntext = "{prompt}"', "version must be a whole number of 1 or more (got 0)"),
        ('version = "2"\ntext = "{prompt}"', "version must be a whole number"),
        ('text = "{prompt}"', "(got missing)"),
        ('version = 1\ntext = "{prompt"', "expected '}'"),
        ('version = 1\ntext = "{prompt.__class__}"', "is not a plain field"),
        ('version = 1\ntext = "{prompt[0]}"', "is not a plain field"),
        ('version = 1\ntext = "{0}"', "is not a plain field"),
        ('version = 1\ntext = "{prompt!r}"', "is not a plain field"),
        ('version = 1\ntext = "{prompt}"\nduration = 99', "duration 99 is out of range"),
        ('version = 1\ntext = "{prompt}"\nsize = 3', "unknown key 'size'"),
    ],
)
def test_a_bad_definition_is_exit_2_naming_the_template_and_file(
    cli: Cli, sim: Any, project: Path, body: str, expected: str
) -> None:
    _project_templates(project, f"[templates.bad]\n{body}\n")
    result = cli.gen(sim, "a fox", "-t", "bad")
    assert result.exit_code == 2
    assert expected in result.stderr
    assert "'bad'" in result.stderr and str(project / "imagine.toml") in result.stderr
    assert sim_stats(sim)["submissions"] == 0


def test_a_template_cannot_reach_into_the_values_it_is_given(
    cli: Cli, sim: Any, project: Path
) -> None:
    """Values are text put in place, never formatted again: braces in them stay braces."""
    _project_templates(project, '[templates.t]\nversion = 1\ntext = "{prompt}: {x}"\n')
    result = cli.gen(sim, "{x.__class__}", "-t", "t", "--var", "x={prompt}", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["prompt"] == "{x.__class__}: {prompt}"


def test_changing_the_text_without_the_version_is_warned_about_once(
    cli: Cli, sim: Any, project: Path
) -> None:
    _project_templates(project, AD_V2)
    first = cli.gen(sim, "a fox", "-t", "ad", "--var", "style=noir", "-d", "1")
    assert first.exit_code == 0 and "warning" not in first.stderr
    _project_templates(project, AD_V2.replace("35mm", "16mm"))
    changed = cli.gen(sim, "a fox", "-t", "ad", "--var", "style=noir", "-d", "1")
    assert changed.exit_code == 0, changed.stderr
    warnings = [line for line in changed.stderr.splitlines() if "version is still 2" in line]
    assert len(warnings) == 1 and "'ad'" in warnings[0] and "raise version" in warnings[0]
    again = cli.gen(sim, "a fox", "-t", "ad", "--var", "style=noir", "-d", "1")
    assert "version is still" not in again.stderr


def test_templates_lists_name_version_fields_and_where_a_project_overrides_the_user(
    cli: Cli, project: Path, imagine_home: Path
) -> None:
    user = write_config(
        imagine_home,
        '[templates.ad]\nversion = 1\ntext = "{prompt}"\n'
        '[templates.loop]\nversion = 5\ntext = "{subject} on a loop"\nduration = 4\n',
    )
    _project_templates(project, AD_V2)
    listed = cli.run("templates")
    assert listed.exit_code == 0, listed.stderr
    assert "ad  v2  {prompt} {style}  resolution=720p" in listed.stdout
    assert f"overrides the user config's definition in {user}" in listed.stdout
    assert "loop  v5  (no {prompt}) {subject}  duration=4" in listed.stdout

    rows = [json.loads(line) for line in cli.run("templates", "--json").stdout.splitlines()]
    assert [row["name"] for row in rows] == ["ad", "loop"]
    assert rows[0]["version"] == 2 and rows[0]["fields"] == ["prompt", "style"]
    assert rows[0]["defined_in"] == str(project / "imagine.toml")
    assert rows[0]["overrides"] == str(user)
    assert rows[1]["scope"] == "user" and rows[1]["options"] == {"duration": 4}


def test_a_template_without_prompt_takes_fields_only(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    _project_templates(project, '[templates.loop]\nversion = 1\ntext = "{subject} on a loop"\n')
    made = cli.gen(sim, "-t", "loop", "--var", "subject=a clock", "-d", "1")
    assert made.exit_code == 0, made.stderr
    (row,) = read_jobs(imagine_home)
    assert row["prompt"] is None and row["prompt_sent"] == "a clock on a loop"
    lost = cli.gen(sim, "a fox", "-t", "loop", "--var", "subject=a clock")
    assert lost.exit_code == 2 and "has no {prompt} field" in lost.stderr


def test_batch_lines_name_templates_and_fill_their_fields(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    _project_templates(project, AD_V2)
    lines = [
        {"prompt": "a fox", "template": "ad", "vars": {"style": "noir"}, "duration": 1},
        {"prompt": "an owl", "template": "ad", "duration": 1},  # style missing: this line only
        {"prompt": "a plain hare", "duration": 1},
    ]
    (project / "jobs.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    result = cli.run("batch", "jobs.jsonl", "--base-url", sim.url, env={"XAI_API_KEY": sim.api_key})
    assert result.exit_code == 2  # a bad line was skipped
    assert "jobs.jsonl:2: template 'ad'" in result.stderr and "{style}" in result.stderr
    rows = read_jobs(imagine_home)
    assert [(r["prompt"], r["prompt_sent"], r["template_version"]) for r in rows] == [
        ("a fox", "a fox, noir style, 35mm film", 2),
        ("a plain hare", "a plain hare", None),
    ]
    assert rows[0]["resolution"] == "720p" and rows[1]["resolution"] == "480p"
    assert sim_stats(sim)["submissions"] == 2


def test_batch_takes_the_template_for_every_line_and_vars_from_csv(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    _project_templates(project, AD_V2)
    (project / "jobs.csv").write_text('prompt,vars\na fox,style=noir\nan owl,"style=pop art"\n')
    result = cli.run(
        "batch",
        "jobs.csv",
        "-t",
        "ad",
        "-r",
        "480p",
        "-d",
        "1",
        "--base-url",
        sim.url,
        env={"XAI_API_KEY": sim.api_key},
    )
    assert result.exit_code == 0, result.stderr
    rows = read_jobs(imagine_home)
    assert [r["prompt_sent"] for r in rows] == [
        "a fox, noir style, 35mm film",
        "an owl, pop art style, 35mm film",
    ]
    assert {r["resolution"] for r in rows} == {"480p"}  # the command's flag over the template
    assert {r["template_name"] for r in rows} == {"ad"}


def test_a_retry_and_a_render_found_on_disk_keep_their_template(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    _project_templates(project, AD_V2)
    sim.configure(fail_rate=1.0)
    assert cli.gen(sim, "a fox", "-t", "ad", "--var", "style=noir", "-d", "1").exit_code == 1
    sim.configure(fail_rate=0.0)
    retried = cli.run("retry", "@1", env={"XAI_API_KEY": sim.api_key})
    assert retried.exit_code == 0, retried.stderr
    _, retry = read_jobs(imagine_home)
    assert (retry["template_name"], retry["template_version"]) == ("ad", 2)

    (imagine_home / "ledger.sqlite3").unlink()  # a fresh machine with the project's renders
    for extra in ("ledger.sqlite3-wal", "ledger.sqlite3-shm"):
        (imagine_home / extra).unlink(missing_ok=True)
    again = cli.gen(sim, "a fox", "-t", "ad", "--var", "style=noir", "-d", "1")
    assert again.exit_code == 0 and "already rendered" in again.stderr
    (found,) = read_jobs(imagine_home)
    assert (found["template_name"], found["template_version"]) == ("ad", 2)
    assert found["prompt"] == "a fox" and found["prompt_sent"] == "a fox, noir style, 35mm film"


def test_tab_offers_the_template_names(cli: Cli, project: Path) -> None:
    _project_templates(project, AD_V2 + '[templates.ambient]\nversion = 1\ntext = "{prompt}"\n')
    env = {
        "_IMAGINE_COMPLETE": "complete_bash",
        "COMP_WORDS": "imagine gen -t a",
        "COMP_CWORD": "3",
    }
    result = cli.run(env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["ad", "ambient"]


def test_the_command_vars_fill_its_template_and_a_line_may_name_another(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    _project_templates(
        project, AD_V2 + '[templates.loop]\nversion = 1\ntext = "{subject} on a loop"\n'
    )
    lines = [
        {"prompt": "a fox"},
        {"template": "loop", "vars": {"subject": "a clock"}},
    ]
    (project / "jobs.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    result = cli.run(
        "batch",
        "jobs.jsonl",
        "-t",
        "ad",
        "--var",
        "style=noir",
        "-d",
        "1",
        "--dry-run",
    )
    assert result.exit_code == 0, result.stderr
    sent = [json.loads(line)["prompt"] for line in result.stdout.splitlines()]
    assert sent == ["a fox, noir style, 35mm film", "a clock on a loop"]
