"""The command line: a thin layer over the core. The only place that prints or exits."""

from __future__ import annotations


def main() -> None:
    from imagine.cli.app import app

    app(prog_name="imagine")


__all__ = ["main"]
