"""One flag, one meaning; every suggestion the tool prints is a command that works."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from imagine.cli.reference import command_paths, help_text
from tests.helpers import Cli, read_jobs


def _no_exception(result: Any) -> bool:
    return result.exception is None or isinstance(result.exception, SystemExit)


def test_dash_q_means_quiet_in_every_command() -> None:
    meanings = {}
    for path in command_paths():
        for line in help_text(path).splitlines():
            found = re.match(r"\s+-q, (--[a-z-]+)", line)
            if found:
                meanings[" ".join(path)] = found[1]
    assert "gen" in meanings and "wait" in meanings
    assert set(meanings.values()) == {"--quiet"}, meanings


def test_list_query_is_long_only_and_dash_q_is_refused(cli: Cli, sim: Any, project: Path) -> None:
    assert cli.gen(sim, "a blue door", "-d", "1").exit_code == 0
    found = cli.run("list", "--query", "door", "--json")
    assert found.exit_code == 0 and "a blue door" in found.stdout
    refused = cli.run("list", "-q", "door")
    assert _no_exception(refused)
    assert refused.exit_code == 2 and "No such option: -q" in refused.stderr


def test_retry_of_a_complete_job_suggests_what_works(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    assert cli.gen(sim, "a blue door", "-d", "1").exit_code == 0
    refused = cli.run("retry", "@1", env={"XAI_API_KEY": sim.api_key})
    assert _no_exception(refused)
    assert refused.exit_code == 2
    assert "run the command that made it again with --force, or with -n 2" in refused.stderr
    assert "--force" not in help_text(["retry"])  # so the hint must not mean retry's
    again = cli.gen(sim, "a blue door", "-d", "1", "--force")  # the hint, followed
    assert again.exit_code == 0, again.stderr
    assert len(read_jobs(imagine_home)) == 2


@pytest.mark.parametrize("scope", [[], ["--project"]])
def test_config_set_of_a_typo_says_did_you_mean(
    cli: Cli, project: Path, imagine_home: Path, scope: list[str]
) -> None:
    assert cli.run("init").exit_code == 0
    before = (project / "imagine.toml").read_text()
    result = cli.run("config", "set", "durration", "4", *scope)
    assert _no_exception(result)
    assert result.exit_code == 2
    assert "unknown setting 'durration': did you mean 'duration'?" in result.stderr
    assert (project / "imagine.toml").read_text() == before
    assert not (imagine_home / "config.toml").exists()


def test_help_shows_no_raw_type_placeholders() -> None:
    for path in command_paths():
        text = help_text(path)
        raw = re.findall(r"<(?:str|int|float|path|list|bool)[^>]*>|\[\[", text)
        assert not raw, f"imagine {' '.join(path)} --help shows {raw}"
    assert "Usage: imagine gen [OPTIONS] [PROMPT]" in help_text(["gen"])
    assert "JOB...  " in help_text(["show"]) or "JOB  " in help_text(["show"])
