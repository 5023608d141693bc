"""Every command explains itself, and the generated reference in docs/ matches the app."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagine import __version__
from imagine.cli.reference import command_paths, help_text, reference
from tests.helpers import Cli

ROOT = Path(__file__).resolve().parents[1]
PATHS = command_paths()  # (once: every worker collects this module)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "imagine")
def test_every_command_has_help(cli: Cli, path: list[str]) -> None:
    result = cli.run(*path, "--help")
    assert result.exit_code == 0
    text = help_text(path)
    assert text.startswith("Usage: imagine")
    summary = text.split("\n\n")[1].strip()
    assert len(summary) > 15, f"imagine {' '.join(path)} needs a help text"


@pytest.mark.parametrize(
    "path",
    [p for p in PATHS if (p and p[0] not in ("config", "auth")) or len(p) == 2],
    ids=lambda p: " ".join(p),
)
def test_every_leaf_command_shows_an_example(path: list[str]) -> None:
    assert "Example: imagine" in help_text(path)


def test_cli_reference_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "cli.md").read_text()
    assert committed == reference(), "docs/cli.md is stale: run python -m imagine.cli.reference"


def test_version(cli: Cli) -> None:
    result = cli.run("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"imagine {__version__}"
