"""`imagine share` and `imagine fetch`, and the shared-storage steps around every run: fetch the
renders a run reuses that this folder lacks, upload what it finished."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Annotated

import typer

from imagine import ids
from imagine.cli import completion as complete
from imagine.cli import output
from imagine.errors import ExitCode, ImagineError, UsageError
from imagine.lifecycle import Brief, Job, Status
from imagine.session import Session
from imagine.workflow import plan

if TYPE_CHECKING:
    from imagine.bucket.transfer import Store

MIB = 1 << 20
# A render another machine made for its own project is uploaded as that machine's run ends:
# how long a run that waited for it waits for that upload, and how often it looks.
SHARED_WAIT_SECONDS = 60.0
SHARED_POLL_SECONDS = 0.5

Jobs = Annotated[
    list[str],
    typer.Argument(
        metavar="JOB...",
        help="id, short id or prefix, request id, @N, @last, or a render's file.",
        autocompletion=complete.jobs,
    ),
]


def share(
    job: Annotated[
        str,
        typer.Argument(
            metavar="JOB",
            help="id, short id or prefix, request id, @N, @last, or a render's file.",
            autocompletion=complete.jobs,
        ),
    ],
    expires: Annotated[
        str,
        typer.Option(
            "--expires",
            metavar="DURATION",
            help="How long the link works: 90m, 12h, 7d (at most 7d).",
        ),
    ] = "1h",
) -> None:
    """Print a signed link to a render's MP4 in shared storage, valid for --expires.

    The bucket stays private.
    Example: imagine share @last --expires 1d
    """
    from imagine.bucket import objects
    from imagine.bucket.objects import Role
    from imagine.bucket.transfer import Store, client, share_seconds

    seconds = share_seconds(expires)
    with Session() as session:
        target = session.ledger.resolve(job)
        video = objects.of_job(session.ledger, target.id).get(Role.VIDEO)
        if video is None:
            raise UsageError(
                f"#{target.seq} is not in shared storage",
                hint='Set storage = "s3://bucket/prefix", then `imagine wait` uploads it.',
            )
        output.data(Store(client()).share(video, seconds))


def fetch(jobs: Jobs) -> None:
    """Fetch renders from shared storage into this project folder (MP4, sidecar, poster).

    Only what the folder lacks is downloaded, checked against its sha256.
    Example: imagine fetch @3
    """
    from imagine.bucket import sync
    from imagine.cli.output import shown_path

    with Session() as session:
        targets = session.ledger.resolve_all(jobs)
        limit = session.settings.max_download_mb * MIB
        make_store = sync.store_once()
        for target in targets:
            root = session.project.root
            job, fetched = sync.fetch(session.ledger, target, root, limit, make_store=make_store)
            word = "fetched" if fetched else "already here"
            output.message(f"#{job.seq} {word}")
            output.data(shown_path(job.output_path))


@dataclass
class RunStorage:
    """The shared-storage side of one run (cli.run.drive): before the engine, fetch the reused
    renders this folder lacks; after it, upload what is complete and not yet stored."""

    session: Session
    planned: list[plan.Planned]
    problems: list[ImagineError] = field(default_factory=list)
    make_store: Callable[[], Store] | None = None  # the run's one S3 client, made when first used

    @classmethod
    def start(cls, session: Session, planned: Sequence[plan.Planned]) -> RunStorage:
        from imagine.bucket import objects, sync

        run = cls(session, list(planned), make_store=sync.store_once())
        reused = any(item.job.status is Status.COMPLETE for item in planned)
        if reused and objects.any_stored(session.ledger):
            run.planned = [run._fetched(item) for item in planned]
        return run

    def take(self, chunk: Sequence[plan.Planned]) -> list[plan.Planned]:
        """A later chunk of a streamed batch, its reused renders fetched as the first ones were."""
        from imagine.bucket import objects

        if any(item.job.status is Status.COMPLETE for item in chunk) and objects.any_stored(
            self.session.ledger
        ):
            chunk = [self._fetched(item) for item in chunk]
        self.planned.extend(chunk)
        return list(chunk)

    def _fetched(self, item: plan.Planned) -> plan.Planned:
        from imagine.bucket import sync

        ledger, root = self.session.ledger, self.session.project.root
        if item.job.status is not Status.COMPLETE:
            return item
        job = ledger.require(item.job.id)
        if not sync.needs_fetch(ledger, job, root):
            return item
        limit = self.session.settings.max_download_mb * MIB
        try:
            job, fetched = sync.fetch(ledger, job, root, limit, make_store=self.make_store)
        except ImagineError as error:
            self.problems.append(error)
            output.warn(
                f"#{job.seq} could not be fetched from shared storage: {error} "
                "(`imagine fetch` tries again; --force renders it anew)"
            )
            return item
        if fetched:
            output.message(
                f"#{job.seq} fetched from shared storage (rendered before, not paid again)"
            )
        return replace(item, job=Brief.of(job))

    def finish(self, job_ids: Sequence[str], code: ExitCode) -> ExitCode:
        """Upload the run's complete jobs (and earlier ones of this project not yet stored);
        a failure keeps the render here and is tried again by the next run."""
        from imagine.bucket import sync

        settings, ledger = self.session.settings, self.session.ledger
        location = sync.location_of(settings.storage)
        if location is not None:
            root = self.session.project.root
            pending = sync.pending(ledger, root, job_ids)
            uploads = sync.upload(ledger, location, pending, root, make_store=self.make_store)
            if uploads.stored:
                numbers = " ".join(f"#{job.seq}" for job in uploads.stored)
                output.message(f"stored {numbers} in {location}")
            if uploads.failed:
                jobs = " ".join(f"#{job.seq}" for job, _ in uploads.failed)
                error = uploads.failed[0][1]
                output.warn(
                    f"{jobs} not uploaded to {location} ({error}); complete here, "
                    f"uploaded by the next run (imagine wait {_refs(uploads.failed)})"
                )
                if not job_ids or any(job.id in job_ids for job, _ in uploads.failed):
                    self.problems.append(error)  # (earlier runs' leftovers only warn)
            self._fetch_others(location, job_ids)
        if code is not ExitCode.OK or not self.problems:
            return code
        return self.problems[0].exit_code

    def _fetch_others(self, location: object, job_ids: Sequence[str]) -> None:
        """Bring here the renders this run waited for that another machine made (for its own
        project: it uploads them as its run ends), once they are in the bucket; waiting for
        that at most ``SHARED_WAIT_SECONDS``."""
        ledger, root = self.session.ledger, str(self.session.project.root)
        waiting = set(job_ids)
        deadline = time.monotonic() + SHARED_WAIT_SECONDS
        while waiting:
            jobs = [job for job in map(ledger.get, waiting) if job is not None]
            jobs = [j for j in jobs if j.status is Status.COMPLETE and j.project_dir != root]
            for job in jobs:
                if job.stored_at is not None:
                    self._fetched(plan.Planned.of(job, plan.Action.ATTACHED))
            waiting = {job.id for job in jobs if job.stored_at is None}
            if not waiting or time.monotonic() > deadline:
                break
            time.sleep(SHARED_POLL_SECONDS)
        if waiting:
            refs = " ".join(ids.short(job_id) for job_id in sorted(waiting))
            output.warn(
                f"{refs}: made on another machine and not in {location} yet;"
                f" `imagine fetch {refs}` brings them here once they are"
            )


def _refs(failed: Sequence[tuple[Job, ImagineError]]) -> str:
    return " ".join(ids.short(job.id) for job, _ in failed)
