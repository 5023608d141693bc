"""`imagine completion bash|zsh|fish`: print a shell completion script."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from imagine.cli import output


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
    from imagine.cli.completions import script

    output.data(script(shell.value).rstrip("\n"))
