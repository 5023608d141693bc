"""`imagine report`, `imagine purge` and `imagine gc`: the end of a render's life, audited."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from imagine import config
from imagine.cli import completion as complete
from imagine.cli import output
from imagine.cli.listing import parse_since
from imagine.cli.output import shown_path
from imagine.errors import ExitCode, UsageError
from imagine.ledger.store import Ledger
from imagine.project import find_project
from imagine.workflow import retention as core

JobRef = Annotated[
    str,
    typer.Argument(
        metavar="JOB",
        help="id, short id or prefix, request id, @N, @last, or a render's file.",
        autocompletion=complete.jobs,
    ),
]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Show what would be deleted; delete nothing.")
]
Json = Annotated[bool, typer.Option("--json", help="One JSON object per job purged.")]


def report(
    job_ref: JobRef,
    reason: Annotated[
        str,
        typer.Option(
            "--reason", metavar="TEXT", help="Why it is reported (kept in the audit log)."
        ),
    ],
) -> None:
    """Report a render: it is hidden from list and review, and the report is audited.

    The file stays until it is purged (imagine purge JOB). See them with imagine list --reported.

    Example: imagine report @3 --reason "shows a real person"
    """
    with Ledger.open() as ledger:
        job = core.report(ledger, ledger.resolve(job_ref), reason)
    output.message(f"reported #{job.seq}: hidden from `imagine list` (see it with --reported)")


def purge(
    jobs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="JOB...",
            help="Jobs to purge (id, @N, @last, a render's file); else every finished job "
            "matching the options.",
            autocompletion=complete.jobs,
            show_default=False,
        ),
    ] = None,
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than", metavar="AGE", help="Only jobs created before: 30d, 12h, 2w or a date."
        ),
    ] = None,
    project: Annotated[
        Path | None,
        typer.Option("--project", metavar="DIR", help="Only jobs made in this project folder."),
    ] = None,
    dry_run: DryRun = False,
    yes: Annotated[bool, typer.Option("-y", "--yes", help="Do not ask for confirmation.")] = False,
    json_output: Json = False,
) -> None:
    """Delete finished jobs and their files (MP4, sidecar, poster), each deletion audited.

    Jobs still live are never purged. On a terminal you are asked first; scripts pass --yes.

    Example: imagine purge --older-than 30d --project . --dry-run
    """
    if not jobs and older_than is None and project is None:
        raise UsageError("say what to purge: JOB…, --older-than AGE or --project DIR")
    criteria = core.Criteria(
        before=parse_since(older_than, "--older-than") if older_than else None,
        project_dir=find_project(project).root if project is not None else None,
    )
    with Ledger.open() as ledger:
        named = ledger.resolve_all(jobs) if jobs else None
        planned = core.plan(ledger, core.select(ledger, criteria, named))
        if not planned:
            output.message("nothing to purge")
            return
        if dry_run:
            _show(planned, json_output, deleted=False)
            return
        _confirm(planned, yes=yes)
        done = core.purge(ledger, planned, criteria)
    _show_done(done, json_output)


def gc(dry_run: DryRun = False, json_output: Json = False) -> None:
    """Purge finished jobs older than the retention_days setting, with their files.

    Without retention_days nothing is deleted. Meant for cron or CI: it never asks.

    Example: imagine config set retention_days 30 && imagine gc
    """
    settings = config.load(find_project().config_file)
    criteria = core.retention_criteria(settings.retention_days)
    if criteria is None:
        output.message(
            "retention_days is not set: nothing to do "
            "(imagine config set retention_days 30 purges finished jobs older than 30 days)"
        )
        return
    with Ledger.open() as ledger:
        planned = core.plan(ledger, core.select(ledger, criteria))
        if not planned:
            output.message(f"nothing older than {settings.retention_days} days to purge")
            return
        if dry_run:
            _show(planned, json_output, deleted=False)
            return
        done = core.purge(ledger, planned, criteria)
    _show_done(done, json_output)


def _confirm(planned: list[core.Planned], *, yes: bool) -> None:
    if yes:
        return
    files = sum(len(item.files) for item in planned)
    size = sum(item.bytes for item in planned)
    what = f"{len(planned)} job(s) and {files} file(s) ({_mb(size)})"
    if not output.stdin_is_terminal():
        raise UsageError(
            f"purge would delete {what}: pass --yes to confirm, or --dry-run to list them"
        )
    if not output.confirm(f"Delete {what}? This cannot be undone."):
        output.message("nothing deleted")
        raise typer.Exit(int(ExitCode.OK))


def _show(planned: list[core.Planned], json_output: bool, *, deleted: bool) -> None:
    for item in planned:
        job = item.job
        if json_output:
            output.json_line(_document(job.id, job.seq, str(job.status), item.files, deleted))
            continue
        files = ", ".join(shown_path(str(path)) for path in item.files) or "no files"
        output.data(f"would purge #{job.seq} ({job.status}, created {job.created_at}): {files}")
    if not json_output:
        total = sum(len(item.files) for item in planned)
        size = sum(item.bytes for item in planned)
        output.message(
            f"dry run: {len(planned)} job(s) and {total} file(s) ({_mb(size)}) would be deleted"
        )


def _show_done(done: list[core.Purged], json_output: bool) -> None:
    for item in done:
        job = item.job
        if json_output:
            output.json_line(_document(job.id, job.seq, str(job.status), item.files, True))
        else:
            output.data(f"purged #{job.seq} and {len(item.files)} file(s)")
    if not json_output:
        files = sum(len(item.files) for item in done)
        output.message(f"purged {len(done)} job(s) and {files} file(s); see imagine audit")


def _document(
    job_id: str, seq: int, status: str, files: tuple[Path, ...], deleted: bool
) -> dict[str, object]:
    return {
        "id": job_id,
        "number": seq,
        "status": status,
        "files": [str(path) for path in files],
        "deleted": deleted,
    }


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"
