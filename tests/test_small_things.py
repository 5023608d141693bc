"""What reads wrong at a glance: model names, times, audit hashes, extensions, reuse, takes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from imagine import paths
from imagine.cli import output
from tests.helpers import Cli, read_jobs


def _ok(result: Any) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 0, result.stderr


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """stdout is a wide terminal."""
    monkeypatch.setattr(output, "stdout_is_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", "200")
    output.out.cache_clear()


@pytest.fixture
def extended(cli: Cli, sim: Any, project: Path) -> Any:
    """#1 a render, #2 its extension, #3 an edit of #1 (in the audit log)."""
    _ok(cli.gen(sim, "a red fox", "-d", "2"))
    env = {"XAI_API_KEY": sim.api_key}
    _ok(cli.run("extend", "@1", "it leaps", "-d", "2", "--base-url", sim.url, env=env))
    _ok(cli.run("edit", "@1", "make it snow", "--consent", "--base-url", sim.url, env=env))
    return sim


def test_list_on_a_terminal_names_the_model_and_marks_the_time_zone(
    cli: Cli, extended: Any, terminal: None
) -> None:
    result = cli.run("list")
    _ok(result)
    assert "grok-imagine-video" in result.stdout and " giv " not in result.stdout
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d[+-]\d\d:\d\d", result.stdout), result.stdout


def test_audit_on_a_terminal_is_a_table_with_short_hashes_and_tsv_when_piped(
    cli: Cli, extended: Any, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    piped = cli.run("audit")
    _ok(piped)
    fields = piped.stdout.splitlines()[0].split("\t")
    digest = next(field for field in fields if re.fullmatch(r"[0-9a-f]{64}", field))
    monkeypatch.setattr(output, "stdout_is_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", "200")
    output.out.cache_clear()
    shown = cli.run("audit")
    _ok(shown)
    header = shown.stdout.splitlines()[0].split()
    assert header[:3] == ["when", "action", "by"] and "prompt" in header
    assert digest[:12] in shown.stdout and digest not in shown.stdout
    assert "\t" not in shown.stdout


def test_show_of_an_extension_names_its_input_parameters_and_parent(
    cli: Cli, extended: Any, project: Path
) -> None:
    result = cli.run("show", "@2")
    _ok(result)
    rows = {
        line[:12].strip(): line[14:] for line in result.stdout.splitlines() if line[:12].strip()
    }
    assert rows["parameters"].startswith("+2s added (4s in all), ")
    assert rows["parameters"].endswith("as the input")
    first = read_jobs(paths.data_dir())[0]
    assert rows["input video"].startswith(str(Path(first["output_path"]).relative_to(project)))
    assert rows["parent"] == "#1"


def test_a_reused_render_says_it_cost_nothing_now_and_how_to_get_a_new_take(
    cli: Cli, sim: Any, project: Path
) -> None:
    _ok(cli.gen(sim, "a red fox", "-d", "1"))
    again = cli.gen(sim, "a red fox", "-d", "1")
    _ok(again)
    assert "#1 already rendered for $0.05 by an earlier run" in again.stderr
    assert "$0.00 this run" in again.stderr
    assert "--force, or -n 2" in again.stderr


def test_takes_carry_their_number_in_their_default_names(cli: Cli, sim: Any, project: Path) -> None:
    result = cli.gen(sim, "a red fox", "-d", "1", "-n", "3")
    _ok(result)
    names = [Path(line).name for line in result.stdout.split()]
    assert [re.search(r"-take(\d)-", name)[1] for name in names] == ["1", "2", "3"]  # type: ignore[index]


def test_sim_clean_frees_the_simulators_files_and_sim_still_works(cli: Cli, project: Path) -> None:
    _ok(cli.run("gen", "--sim", "a red fox", "-d", "1"))
    media = paths.sim_state_dir() / "media"
    assert any(media.iterdir())
    cleaned = cli.run("sim", "--clean")
    _ok(cleaned)
    assert "removed" in cleaned.stderr and "MB" in cleaned.stderr
    assert not media.exists() or not any(media.iterdir())
    _ok(cli.run("gen", "--sim", "a blue whale", "-d", "1"))
