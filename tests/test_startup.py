"""Start-up pays only for what a command uses: help, version and completion of a command name
import no command module, so none of the network, the engine, the ledger or PyAV."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import typer

from imagine.cli.app import COMMANDS, app
from tests.helpers import Cli

HEAVY = ("httpx", "asyncio", "sqlite3", "imagine.engine", "imagine.ledger", "av", "rich")

PROBE = """
import json, sys
sys.argv = ["imagine", *sys.argv[1:]]
from imagine.cli import main
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _modules_after(*args: str, env: dict[str, str] | None = None) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("args", [("--help",), ("--version",), ()], ids=repr)
def test_help_and_version_import_nothing_heavy(args: tuple[str, ...]) -> None:
    loaded = _modules_after(*args)
    assert "typer" in loaded
    assert [name for name in HEAVY if name in loaded] == []


def test_list_loads_the_ledger_but_not_the_network_the_engine_or_rich() -> None:
    loaded = _modules_after("list")
    assert "sqlite3" in loaded
    unused = ("httpx", "asyncio", "imagine.engine", "av", "rich")  # "no jobs yet" is plain text
    assert [name for name in unused if name in loaded] == []


def test_the_listed_summaries_are_the_commands_own() -> None:
    root = typer.main.get_command(app)
    for name, (_, summary) in COMMANDS.items():
        command = root.get_command(None, name)  # type: ignore[attr-defined]
        first_paragraph = (command.help or "").split("\n\n")[0].strip()
        assert summary == " ".join(first_paragraph.split()), (
            f"COMMANDS[{name!r}] in src/imagine/cli/commands.py: copy the first paragraph of its help"
        )


def test_a_mistyped_command_is_still_suggested(cli: Cli) -> None:
    result = cli.run("gne")
    assert result.exit_code == 2
    assert "Did you mean 'gen'?" in result.stderr
