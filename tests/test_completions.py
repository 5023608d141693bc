"""Completion through the program itself: the committed scripts are the program's, and a TAB is
answered from the live command tree and the ledger (job ids with their prompts, @N, settings,
models), in-process through the protocol and in real bash, zsh and fish."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from imagine.cli.completion import FILES, script
from tests.helpers import Cli, failed_renders, read_jobs

COMPLETIONS = Path(__file__).resolve().parents[1] / "completions"
BIN = str(Path(sys.executable).parent)  # where the `imagine` the scripts call is installed


@pytest.mark.parametrize("shell", sorted(FILES))
def test_committed_scripts_are_up_to_date(shell: str) -> None:
    committed = (COMPLETIONS / FILES[shell]).read_text()
    assert committed == script(shell), (
        f"completions/{FILES[shell]} is stale: run `python -m imagine.cli.completion completions`"
    )


@pytest.mark.parametrize("shell", sorted(FILES))
def test_completion_command_prints_the_script(cli: Cli, shell: str) -> None:
    result = cli.run("completion", shell)
    assert result.exit_code == 0
    assert result.stdout == script(shell)
    assert "_IMAGINE_COMPLETE=complete_" in result.stdout


def _bash(cli: Cli, *words: str) -> list[str]:
    """What `imagine` answers bash (Click's COMP_WORDS/COMP_CWORD protocol), in-process."""
    env = {
        "_IMAGINE_COMPLETE": "complete_bash",
        "COMP_WORDS": " ".join(["imagine", *words]),
        "COMP_CWORD": str(len(words)),
    }
    result = cli.run(env=env)
    assert result.exit_code == 0, result.output
    return result.stdout.split()


def _described(cli: Cli, shell: str, line: str) -> str:
    """The zsh or fish answer (values with descriptions) for a command line being typed."""
    env = {
        "_IMAGINE_COMPLETE": f"complete_{shell}",
        "_TYPER_COMPLETE_ARGS": line,
        "_TYPER_COMPLETE_FISH_ACTION": "get-args",
    }
    result = cli.run(env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_commands_options_and_closed_values(cli: Cli) -> None:
    assert "gen" in _bash(cli, "g")
    assert _bash(cli, "config", "s") == ["set"]
    assert {"--no-audio", "--no-wait"} <= set(_bash(cli, "gen", "--no"))
    assert _bash(cli, "gen", "--resolution", "") == ["480p", "720p", "1080p"]
    assert _bash(cli, "gen", "--model", "") == ["grok-imagine-video", "grok-imagine-video-1.5"]
    assert _bash(cli, "completion", "") == ["bash", "zsh", "fish"]
    assert _bash(cli, "list", "--status", "un") == ["unknown"]


def test_config_set_offers_setting_names_then_their_values(cli: Cli) -> None:
    names = _bash(cli, "config", "set", "")
    assert {"model", "resolution", "concurrency", "max_cost_usd"} <= set(names)
    assert _bash(cli, "config", "set", "res") == ["resolution"]
    assert _bash(cli, "config", "set", "resolution", "") == ["480p", "720p", "1080p"]
    assert _bash(cli, "config", "set", "audio", "") == ["true", "false"]
    assert "concurrency\trenders in flight at once" in _described(
        cli, "fish", "imagine config set "
    )


def test_jobs_are_offered_with_their_prompts(cli: Cli, sim: Any, imagine_home: Path) -> None:
    assert _bash(cli, "show", "") == ["@last"]  # no ledger yet: nothing else, and none created
    assert not (imagine_home / "ledger.sqlite3").exists()
    assert cli.gen(sim, "a red fox running through snow", "-d", "1").exit_code == 0
    assert cli.gen(sim, "a lantern over water", "-d", "1").exit_code == 0
    first, second = (row["id"] for row in read_jobs(imagine_home))

    assert _bash(cli, "show", "") == ["@last", second, first]  # newest first
    assert _bash(cli, "show", first[:-3]) == [first]
    assert _bash(cli, "show", "@") == ["@last", "@2", "@1"]
    assert _bash(cli, "show", "@1") == ["@1"]
    assert _bash(cli, "wait", first, "@") == ["@last"]  # both finished: nothing left to wait for
    zsh = _described(cli, "zsh", "imagine show ")
    assert f'"{second}":"#2 a lantern over water"' in zsh
    fish = _described(cli, "fish", "imagine rm @")
    assert "@1\t#1 a red fox running through snow" in fish.splitlines()


def test_retry_offers_only_jobs_it_can_retry(cli: Cli, sim: Any, imagine_home: Path) -> None:
    assert cli.gen(sim, "a finished render", "-d", "1").exit_code == 0
    failed_renders(cli, sim, "a failed render")
    done, failed = (row["id"] for row in read_jobs(imagine_home))
    assert _bash(cli, "retry", "") == ["@last", failed]
    assert _bash(cli, "rm", "") == ["@last", failed, done]


def _real_shell(program: list[str], home: Path) -> str:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "IMAGINE_HOME": str(home),
    }
    done = subprocess.run(program, capture_output=True, text=True, check=True, env=env)
    return done.stdout


@pytest.fixture
def one_job(cli: Cli, sim: Any, imagine_home: Path) -> str:
    assert cli.gen(sim, "a red fox running through snow", "-d", "1").exit_code == 0
    job_id: str = read_jobs(imagine_home)[0]["id"]
    return job_id


def test_bash_completes_a_job_id(one_job: str, imagine_home: Path) -> None:
    program = (
        f"source {COMPLETIONS / FILES['bash']}; COMP_WORDS=(imagine show {one_job[:6]}); "
        "COMP_CWORD=2; _imagine_completion imagine; printf '%s\\n' \"${COMPREPLY[@]}\""
    )
    assert _real_shell(["bash", "-c", program], imagine_home).split() == [one_job]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_completes_a_job_with_its_prompt(one_job: str, imagine_home: Path) -> None:
    # compdef and _arguments belong to zsh's completion system: stand-ins print what they get.
    program = (
        'compdef() { :; }; _arguments() { print -r -- "$@"; }; '
        f"source {COMPLETIONS / FILES['zsh']}; words=(imagine show ''); CURRENT=3; "
        "_imagine_completion"
    )
    shown = _real_shell(["zsh", "-c", program], imagine_home)
    assert f'"{one_job}":"#1 a red fox running through snow"' in shown


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completes_a_job_with_its_prompt(one_job: str, imagine_home: Path) -> None:
    program = f"source {COMPLETIONS / FILES['fish']}; complete -C 'imagine show @'"
    shown = _real_shell(["fish", "-c", program], imagine_home).splitlines()
    assert "@1\t#1 a red fox running through snow" in shown
