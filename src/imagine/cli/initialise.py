"""`imagine init`: make a folder a project."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from imagine.cli import output
from imagine.project import init_project


def init(
    folder: Annotated[
        Path, typer.Argument(help="The folder to make a project [default: the current one].")
    ] = Path(),
) -> None:
    """Create imagine.toml (project settings) and renders/ in a folder.

    Renders made anywhere below it land in its renders/ folder and use its settings.
    Example: imagine init my-film
    """
    marker = init_project(folder)
    output.message(f"created {marker} and {marker.parent / 'renders'}/")
    output.data(str(marker.parent))
