"""`imagine cancel`, `imagine retry` and `imagine rm`: the user's say-so over jobs."""

from __future__ import annotations

from typing import Annotated

import typer

from imagine import ids
from imagine.cli import completion as complete
from imagine.cli import options as opt
from imagine.cli import output
from imagine.cli.drive import Presentation, drive
from imagine.cli.output import shown_path
from imagine.cli.rendering import settings_with
from imagine.errors import ExitCode
from imagine.lifecycle import Job, Status
from imagine.session import Session
from imagine.workflow import job_control, plan, retention, spend_checks, steps

Jobs = Annotated[
    list[str],
    typer.Argument(
        metavar="JOB...",
        help="id, short id or prefix, request id, @N, @last, or a render's file.",
        autocompletion=complete.jobs,
    ),
]


def cancel(jobs: Jobs) -> None:
    """Stop waiting for jobs and mark them canceled.

    A queued job is never sent. xAI's API cannot stop a render already sent: it may still be
    rendered and billed, and its request id stays in the ledger.
    Example: imagine cancel @last
    """
    with Session() as session:
        targets = session.ledger.resolve_all(jobs)
        for target in targets:
            done = job_control.cancel(session.ledger, target)
            job = done.job
            if done.paid:
                output.message(
                    f"#{job.seq} canceled here; it was {done.was}, so the provider may still "
                    "render (and bill) it"
                )
            else:
                output.message(f"#{job.seq} canceled before it was sent: nothing paid")


def retry(
    jobs: Jobs,
    no_wait: opt.NoWait = False,
    timeout: opt.Timeout = None,
    json_output: opt.Json = False,
    quiet: opt.Quiet = False,
    progress: opt.Progress = None,
    yes: opt.Yes = False,
    max_cost: opt.MaxCost = None,
) -> None:
    """Submit failed, expired, blocked, canceled or unknown jobs again, as new linked jobs.

    Example: imagine retry @last
    """
    with Session() as session:
        old = session.ledger.resolve_all(jobs)
        for job in old:  # every job checked before any is sent
            job_control.check_retry(session.ledger, job)
            steps.check_again(session, job)
            session.require_credentials(job.base_url)
        settings = settings_with(session, max_cost_usd=max_cost)
        spend_checks.check_budget(sum(job.cost_estimate_usd or 0.0 for job in old), settings)
        _confirm_unknown([job for job in old if job.status is Status.UNKNOWN], yes=yes)
        fresh = [job_control.retry(session.ledger, job) for job in old]
        for before, after in zip(old, fresh, strict=True):
            if not quiet:
                output.message(f"#{before.seq} retried as #{after.seq} ({ids.short(after.id)})")
        planned = [plan.Planned.of(job, plan.Action.NEW) for job in fresh]
        show = Presentation(json=json_output, quiet=quiet, progress=progress)
        code = drive(session, planned, wait=not no_wait, timeout=timeout, show=show)
    raise typer.Exit(int(code))


def _confirm_unknown(unknown: list[Job], *, yes: bool) -> None:
    """An unknown job may have been accepted: sending it again may pay twice. Say so."""
    if not unknown:
        return
    names = ", ".join(f"#{job.seq}" for job in unknown)
    warning = f"{names} may already have been accepted (and billed); retrying sends it again"
    if yes or not output.stdin_is_terminal():
        output.warn(warning)
        return
    if not output.confirm(f"{warning}. Retry?"):
        raise typer.Exit(int(ExitCode.OK))


def rm(
    jobs: Jobs,
    files: Annotated[
        bool, typer.Option("--files", help="Also delete the MP4, its sidecar and poster.")
    ] = False,
) -> None:
    """Remove finished jobs from the ledger (their files stay unless --files).

    Example: imagine rm @3 --files
    """
    with Session() as session:
        targets = session.ledger.resolve_all(jobs)
        for job in targets:  # every job checked before any is removed
            job_control.check_remove(job)
        for job in targets:
            removed = job_control.remove(
                session.ledger, job, delete_files=files, audit=retention.remove_audit()
            )
            extra = f" and {len(removed.files)} file(s)" if removed.files else ""
            if removed.objects:
                extra += f" and {removed.objects} object(s) in shared storage"
            output.message(f"removed #{job.seq}{extra}")
            if removed.kept_for is not None:
                output.message(
                    f"kept {shown_path(job.output_path)}: it is #{removed.kept_for.seq}'s "
                    f"({removed.kept_for.status}) now"
                )
