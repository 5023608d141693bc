"""Completion scripts: generated from the app, committed, and checked for staleness and syntax."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from imagine.cli.completions import FILES, script
from tests.helpers import Cli

COMPLETIONS = Path(__file__).resolve().parents[1] / "completions"


@pytest.mark.parametrize("shell", sorted(FILES))
def test_committed_scripts_are_up_to_date(shell: str) -> None:
    committed = (COMPLETIONS / FILES[shell]).read_text()
    assert committed == script(shell), (
        f"completions/{FILES[shell]} is stale: run `python -m imagine.cli.completions completions`"
    )


@pytest.mark.parametrize("shell", sorted(FILES))
def test_completion_command_prints_the_script(cli: Cli, shell: str) -> None:
    result = cli.run("completion", shell)
    assert result.exit_code == 0
    assert result.stdout == script(shell).rstrip("\n") + "\n"


def _bash_complete(*words: str) -> list[str]:
    line = " ".join(f"'{w}'" for w in words)
    program = (
        f"source {COMPLETIONS / FILES['bash']}; COMP_WORDS=({line}); "
        f"COMP_CWORD={len(words) - 1}; _imagine; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    )
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_bash_completes_commands_options_and_values() -> None:
    assert "gen" in _bash_complete("imagine", "g")
    assert _bash_complete("imagine", "config", "s") == ["set"]
    assert {"--no-audio", "--no-wait"} <= set(_bash_complete("imagine", "gen", "--no"))
    assert _bash_complete("imagine", "gen", "--resolution", "") == ["480p", "720p", "1080p"]
    assert _bash_complete("imagine", "completion", "") == ["bash", "zsh", "fish"]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_script_parses() -> None:
    subprocess.run(["zsh", "-n", str(COMPLETIONS / FILES["zsh"])], check=True)


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completes_values() -> None:
    program = f"source {COMPLETIONS / FILES['fish']}; complete -C 'imagine gen --resolution '"
    done = subprocess.run(["fish", "-c", program], capture_output=True, text=True, check=True)
    assert [line.split("\t")[0] for line in done.stdout.splitlines()] == ["480p", "720p", "1080p"]
