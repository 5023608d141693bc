"""The command line: a thin layer over the core. The only place that prints or exits."""

from __future__ import annotations


def main() -> None:
    import os

    if os.environ.get("_IMAGINE_COMPLETE"):  # a TAB: job references are answered before Typer
        from imagine.cli.quick import answer

        if answer():
            return
    from imagine.cli.app import app

    app(prog_name="imagine")


__all__ = ["main"]
