"""`imagine ledger path|migrate`: where the ledger is; copy it into a team's PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from imagine import paths
from imagine.cli import options as opt
from imagine.cli import output
from imagine.cli.helptext import ImagineCommand
from imagine.errors import ConfigError, ExitCode
from imagine.ledger.address import check_url, describe, is_postgres

app = typer.Typer(
    help="Say where the ledger is, or copy it into a PostgreSQL ledger that machines share.\n\n"
    "Example: imagine ledger migrate --to postgresql://ci@db.internal:5432/imagine",
    no_args_is_help=True,
)


@app.command("path", cls=ImagineCommand)
def path(json_output: opt.Json = False) -> None:
    """Print where the ledger is: its file, or its PostgreSQL URL (never with a password).

    Example: imagine ledger path --json
    """
    where = paths.ledger_file()
    backend = "postgresql" if isinstance(where, str) else "sqlite"
    if json_output:
        output.json_line({"backend": backend, "location": describe(where)})
    else:
        output.data(describe(where))


@app.command("migrate", cls=ImagineCommand)
def migrate(
    to: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="URL",
            show_default=False,
            help="The PostgreSQL ledger to copy into (postgresql://user@host:5432/db).",
        ),
    ],
    source: Annotated[
        Path | None,
        typer.Option(
            "--from",
            metavar="FILE",
            show_default=False,
            help="The SQLite ledger to copy [default: this machine's ledger].",
        ),
    ] = None,
    json_output: opt.Json = False,
) -> None:
    """Copy this SQLite ledger into PostgreSQL; run again to finish or check a copy.

    Every job, event and audit entry is copied (rows already there are left alone), in one
    transaction, then each table is counted and checksummed on both sides. Exit 0 when they
    agree. The target must be empty or hold an earlier copy of this ledger.

    Example: imagine ledger migrate --to postgresql://ci@db.internal:5432/imagine
    """
    from imagine.ledger.copy import copy
    from imagine.ledger.store import Ledger

    try:
        url = check_url(to) if not is_postgres(to) else to.strip()
    except ValueError as error:
        raise ConfigError(f"--to: {error}", hint="Give postgresql://user@host:5432/db") from None
    here = source.expanduser() if source is not None else paths.ledger_file()
    if isinstance(here, str):
        raise ConfigError(
            f"the ledger here is already PostgreSQL ({describe(here)})",
            hint="Give the SQLite file to copy with --from",
        )
    if not here.is_file():
        raise ConfigError(f"no ledger at {here}", hint="Give the SQLite file to copy with --from")
    with Ledger.open(here) as ledger, Ledger.open(url) as target:
        tables = copy(ledger, target)
    whole = all(table.whole for table in tables)
    if json_output:
        output.json_line(
            {
                "from": str(here),
                "to": describe(url),
                "whole": whole,
                "tables": [
                    {
                        "table": t.name,
                        "rows": t.source_rows,
                        "copied": t.target_rows,
                        "sha256": t.source_sum,
                        "copied_sha256": t.target_sum,
                    }
                    for t in tables
                ],
            }
        )
    else:
        width = max(len(t.name) for t in tables) + 2
        for t in tables:
            verdict = "ok" if t.whole else "DIFFERS"
            output.data(
                f"{t.name.ljust(width)}{t.source_rows:>9} → {t.target_rows:<9} "
                f"sha256 {t.source_sum[:16]} {verdict}"
            )
        output.message(
            f"copied {here} into {describe(url)}: every table agrees"
            if whole
            else "the copy differs from the ledger: run it again, or copy into an empty database"
        )
    if not whole:
        raise typer.Exit(int(ExitCode.JOB_FAILED))
