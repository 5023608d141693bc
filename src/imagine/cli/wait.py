"""`imagine wait [JOB…|--all]`: carry unfinished jobs on — after Ctrl-C, a crash or --no-wait."""

from __future__ import annotations

from typing import Annotated

import typer

from imagine.cli import completion as complete
from imagine.cli import options as opt
from imagine.cli import output
from imagine.cli.drive import Presentation, drive
from imagine.errors import ExitCode, UsageError
from imagine.lifecycle import LIVE
from imagine.session import Session
from imagine.workflow import plan


def wait(
    jobs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Jobs: id, short id or prefix, request id, @N, @last, or a render's file. None: every unfinished job.",
            autocompletion=complete.jobs,
        ),
    ] = None,
    all_jobs: Annotated[bool, typer.Option("--all", help="Every unfinished job.")] = False,
    timeout: opt.Timeout = None,
    json_output: opt.Json = False,
    quiet: opt.Quiet = False,
    progress: opt.Progress = None,
) -> None:
    """Resume polling and downloading until the jobs are finished.

    Example: imagine wait @last
    """
    if jobs and all_jobs:
        raise UsageError("give job references or --all, not both")
    with Session() as session:
        if jobs:
            found = session.ledger.resolve_all(jobs)
        else:
            found = list(reversed(session.ledger.jobs(statuses=LIVE)))
            if not found:
                if not quiet:
                    output.message(f"imagine: no unfinished jobs{_unknown_note(session)}")
                from imagine.cli.share import RunStorage  # uploads an earlier run left undone

                raise typer.Exit(int(RunStorage(session, []).finish([], ExitCode.OK)))
        for base_url in {job.base_url for job in found if job.status.live}:
            session.require_credentials(base_url)
        planned = [
            plan.Planned.of(job, plan.Action.RESUMED if job.status.live else plan.Action.SETTLED)
            for job in found
        ]
        show = Presentation(json=json_output, quiet=quiet, progress=progress)
        code = drive(session, planned, wait=True, timeout=timeout, show=show)
    raise typer.Exit(int(code))


def _unknown_note(session: Session) -> str:
    """Jobs whose answer was lost are not unfinished (nothing to wait for) but want a decision;
    one already retried has had it."""
    unknown = session.ledger.undecided()
    if not unknown:
        return ""
    return (
        f"; {len(unknown)} unknown (answer lost): see `imagine list --status unknown`, "
        "then `imagine retry` or `imagine cancel` each"
    )
