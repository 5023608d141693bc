"""How a command's --help lists its arguments: by name, as every other CLI does.

Typer's plain help adds each argument's Python type (`JOB... <list[str]>`, `FILE <str>`);
options name their value with a metavar instead (`-n, --limit N`), set where each is declared.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand


class ImagineCommand(TyperCommand):
    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments: list[tuple[str, str]] = []
        options: list[tuple[str, str]] = []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((_without_type(param, ctx, record[0]), record[1]))
            elif param.param_type_name == "option":
                options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def _without_type(param: Any, ctx: Any, name: str) -> str:
    shown = param.display_type_rich(ctx)
    return name.removesuffix(f" {shown}") if shown else name
