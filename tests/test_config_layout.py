"""`config set` and `unset` keep every comment, the order and the layout of a file a person wrote."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Cli

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "imagine.toml"


def _ok(result: Any) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 0, result.stderr


def _comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith("#")]


def test_project_file_keeps_comments_order_and_layout(cli: Cli, project: Path) -> None:
    shutil.copy(EXAMPLE, project / "imagine.toml")
    original = EXAMPLE.read_text()
    for args in (
        ["set", "--project", "max_cost_usd", "3"],
        ["set", "--project", "confirm_above_usd", "0.5"],
        ["set", "--project", "prices.grok-imagine-video.480p", "0.06"],
        ["unset", "--project", "aspect"],
    ):
        _ok(cli.run("config", *args))
    text = (project / "imagine.toml").read_text()
    assert _comments(text) == _comments(original)
    lines = text.splitlines()
    # Edited in place; the new setting joins the settings, not the comment over [prices…].
    assert (
        lines.index("max_cost_usd = 3.0") == original.splitlines().index("max_cost_usd = 5.0") - 1
    )
    assert lines[lines.index("max_cost_usd = 3.0") + 1] == "confirm_above_usd = 0.5"
    assert lines[lines.index('[prices."grok-imagine-video"]') - 1].startswith("# Prices used")
    assert '"480p" = 0.06' in lines and "aspect" not in text
    table = tomllib.loads(text)
    assert list(table)[:4] == ["model", "resolution", "duration", "output"]
    assert table["prices"]["grok-imagine-video"] == {"480p": 0.06, "720p": 0.07}


def test_set_then_unset_gives_back_the_very_same_file(cli: Cli, project: Path) -> None:
    shutil.copy(EXAMPLE, project / "imagine.toml")
    _ok(cli.run("config", "set", "--project", "concurrency", "3"))
    _ok(cli.run("config", "unset", "--project", "concurrency"))
    _ok(cli.run("config", "set", "--project", "prices.grok-imagine-video.1080p", "0.2"))
    _ok(cli.run("config", "unset", "--project", "prices.grok-imagine-video.1080p"))
    assert (project / "imagine.toml").read_text() == EXAMPLE.read_text()


@pytest.mark.usefixtures("project")
def test_user_config_keeps_its_comments(cli: Cli, imagine_home: Path) -> None:
    config = imagine_home / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('# my defaults\nresolution = "720p"  # sharper\n\n# pacing\nrps = 2.0\n')
    _ok(cli.run("config", "set", "resolution", "480p"))
    _ok(cli.run("config", "set", "duration", "4"))
    assert config.read_text() == (
        '# my defaults\nresolution = "480p"  # sharper\n\n# pacing\nrps = 2.0\nduration = 4\n'
    )
