"""docs/cli.md, generated from every command's --help (and checked against it by the tests)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def command_paths() -> list[list[str]]:
    import typer

    from imagine.cli.app import app

    root = typer.main.get_command(app)
    found: list[list[str]] = [[]]

    def walk(command: Any, path: list[str]) -> None:
        if not hasattr(command, "list_commands"):
            return
        for name in sorted(command.list_commands(None)):
            found.append([*path, name])
            walk(command.get_command(None, name), [*path, name])

    walk(root, [])
    return found


def help_text(path: list[str]) -> str:
    from typer.testing import CliRunner

    from imagine.cli.app import app

    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "100"}, terminal_width=100)
    return result.stdout.rstrip() + "\n"


def reference() -> str:
    parts = [
        "# Command-line reference",
        "",
        "Generated from `--help` by `python -m imagine.cli.reference docs/cli.md`; "
        "a test fails when it is stale.",
        "",
    ]
    for path in command_paths():
        title = " ".join(["imagine", *path])
        parts += [f"## {title}", "", "```", help_text(path).rstrip(), "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/cli.md")
    target.write_text(reference())
    sys.stdout.write(f"{target}\n")
