"""Shell completion through the program itself (Click's protocol as Typer ships it): the script
`imagine completion SHELL` prints runs `imagine` on each TAB with `_IMAGINE_COMPLETE=complete_SHELL`,
and the answer comes from the live command tree and the ledger, so it is never stale.

The completers below are what TAB offers for a value; each imports only what it reads.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from typer._completion_shared import get_completion_script

from imagine.cli import output
from imagine.cli.complete_words import COMPLETE_VAR, JOBS_OFFERED, description, statuses

PROG = "imagine"
FILES = {"bash": "imagine.bash", "zsh": "_imagine", "fish": "imagine.fish"}


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def completion(
    shell: Annotated[Shell, typer.Argument(help="bash, zsh or fish.")],
) -> None:
    """Print the completion script for a shell.

    Example: imagine completion bash > ~/.local/share/bash-completion/completions/imagine
    """
    output.data(script(shell.value).rstrip("\n"))


def script(shell: str) -> str:
    """The script a shell sources: it asks `imagine` itself what to offer on each TAB."""
    text = get_completion_script(prog_name=PROG, complete_var=COMPLETE_VAR, shell=shell)
    return text.rstrip("\n") + "\n"


# -- what TAB offers -------------------------------------------------------------------------


def jobs(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Job ids (described by number and prompt), @last and @N, newest first."""
    from imagine import paths
    from imagine.ledger.store import Ledger

    found = [("@last", "the newest job")] if "@last".startswith(incomplete) else []
    where = paths.ledger_file()
    if isinstance(where, Path) and not where.exists():  # completing must not create a ledger
        return found
    with Ledger.open(where) as ledger:
        choices = ledger.job_choices(incomplete, statuses(ctx.info_name), JOBS_OFFERED)
    by_number = incomplete.startswith("@")
    for seq, job_id, prompt in choices:
        value = f"@{seq}" if by_number else job_id
        found.append((value, description(seq, prompt)))
    return found


def video(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """A video to edit or extend: a job when the word starts with @, else nothing, so that the
    shell offers file names."""
    return jobs(ctx, incomplete) if incomplete.startswith("@") else []


def setting_names(incomplete: str) -> list[tuple[str, str]]:
    from imagine.config import BUDGET_SETTINGS, SETTINGS

    known = {**SETTINGS, **BUDGET_SETTINGS}
    return [(key, setting.help) for key, setting in known.items() if key.startswith(incomplete)]


def setting_values(ctx: typer.Context, incomplete: str) -> list[str]:
    """Values for `config set KEY <TAB>`: the closed sets, else the value in force now."""
    from imagine.api import contract

    key = ctx.params.get("key") or ""
    closed: dict[str, Iterable[str]] = {
        "model": contract.MODELS,
        "aspect": contract.ASPECT_RATIOS,
        "resolution": contract.RESOLUTIONS,
        "audio": ("true", "false"),
        "duration": (str(s) for s in range(1, 16)),
    }
    if key in closed:
        return _among(closed[key], incomplete)
    return []


def _among(values: Iterable[str], incomplete: str) -> list[str]:
    return [value for value in values if value.startswith(incomplete)]


def models(incomplete: str) -> list[str]:
    from imagine.api import contract

    return _among(contract.MODELS, incomplete)


def aspects(incomplete: str) -> list[str]:
    from imagine.api import contract

    return _among(contract.ASPECT_RATIOS, incomplete)


def resolutions(incomplete: str) -> list[str]:
    from imagine.api import contract

    return _among(contract.RESOLUTIONS, incomplete)


def status_names(incomplete: str) -> list[str]:
    from imagine.jobs import Status

    return _among((s.value for s in Status), incomplete)


def progress_modes(incomplete: str) -> list[str]:
    from imagine.cli.options import PROGRESS_MODES

    return _among(PROGRESS_MODES, incomplete)


def templates(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Template names for -t, each described by its version and description."""
    from imagine import templates as found
    from imagine.errors import ImagineError
    from imagine.project import find_project

    try:
        defined = found.load(find_project(ctx.params.get("project")).config_file)
    except ImagineError:  # a broken definition: the command itself will say what is wrong
        return []
    return [
        (name, f"v{item.version} {item.description or ''}".rstrip())
        for name, item in sorted(defined.items())
        if name.startswith(incomplete)
    ]


def write_all(folder: str) -> list[str]:
    """Regenerate the committed scripts in completions/."""
    written = []
    for shell, name in FILES.items():
        path = Path(folder) / name
        path.write_text(script(shell))
        written.append(str(path))
    return written


if __name__ == "__main__":
    for line in write_all(sys.argv[1] if len(sys.argv) > 1 else "completions"):
        sys.stdout.write(line + "\n")
