"""Keeping the bucket and the project folder in step: upload what this project finished, fetch
back what the ledger knows is stored but this folder lacks. The CLI calls these around a run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from imagine.bucket import objects
from imagine.bucket.location import Location, parse
from imagine.bucket.objects import Role, StoredObject
from imagine.bucket.transfer import StorageError, Store, client
from imagine.errors import ImagineError, UsageError
from imagine.ledger.store import Ledger
from imagine.lifecycle import Job, Status
from imagine.render_files import RenderFiles

UPLOAD_THREADS = 4  # renders uploaded at once (each in parts, in parallel, by boto3)


def location_of(storage: str | None) -> Location | None:
    return parse(storage) if storage else None


@dataclass
class Uploads:
    stored: list[Job] = field(default_factory=list)
    failed: list[tuple[Job, ImagineError]] = field(default_factory=list)


def upload(
    ledger: Ledger,
    location: Location,
    jobs: Sequence[Job],
    project_dir: Path,
    store: Store | None = None,
    make_store: Callable[[], Store] | None = None,
) -> Uploads:
    """Upload each complete job of this project (several at once, in threads) and record them; a
    job whose upload fails stays complete, unstored, for the next run to try again."""
    found = Uploads()
    todo = [job for job in jobs if job.status is Status.COMPLETE and job.stored_at is None]
    # Only this project's renders: a job this run attached to, made for another machine's
    # project, is that machine's to upload (two uploads of one key at once help nobody).
    todo = [job for job in todo if job.project_dir == str(project_dir)]
    todo = [job for job in todo if Path(job.output_path).is_file()]
    if not todo:
        return found
    try:
        store = store or (make_store or _default_store)()
    except ImagineError as error:
        found.failed.extend((job, error) for job in todo)
        return found

    def one(job: Job) -> list[StoredObject] | ImagineError:
        try:
            return store.upload(location, job, project_dir)
        except ImagineError as error:
            return error
        except OSError as error:  # the file went while it was read
            return StorageError(f"could not read {job.output_path} to upload it ({error.strerror})")

    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        done = list(pool.map(one, todo))
    for job, result in zip(todo, done, strict=True):  # ledger writes on this thread only
        if isinstance(result, ImagineError):
            found.failed.append((job, result))
        else:
            found.stored.append(objects.record(ledger, job, result))
    return found


def pending(ledger: Ledger, project_dir: Path, done: Sequence[str]) -> list[Job]:
    """The jobs a run uploads: those it finished, then this project's earlier ones not stored."""
    jobs = [job for job in (ledger.get(job_id) for job_id in dict.fromkeys(done)) if job]
    seen = {job.id for job in jobs}
    return jobs + [job for job in objects.not_stored(ledger, project_dir) if job.id not in seen]


def needs_fetch(ledger: Ledger, job: Job, project_dir: Path) -> bool:
    """A complete job stored in the bucket whose MP4 this project folder lacks, or has at
    another path than the ledger's (the ledger's is another machine's copy)."""
    if job.status is not Status.COMPLETE or job.stored_at is None:
        return False
    video = objects.of_job(ledger, job.id).get(Role.VIDEO)
    if video is None:
        return False
    local = project_dir / video.relpath
    return str(local) != job.output_path or not _intact(local, video)


def fetch(
    ledger: Ledger,
    job: Job,
    project_dir: Path,
    max_bytes: int,
    store: Store | None = None,
    make_store: Callable[[], Store] | None = None,
) -> tuple[Job, bool]:
    """Bring the job's files into this project folder from the bucket (not from the provider,
    whose link expires; not by rendering again). The job as the ledger then has it, and whether
    anything was downloaded."""
    stored = objects.of_job(ledger, job.id)
    video = stored.get(Role.VIDEO)
    if video is None:
        raise UsageError(
            f"#{job.seq} is not in shared storage",
            hint="Only renders uploaded since storage was set can be fetched.",
        )
    local = project_dir / video.relpath
    fetched = False
    if not _intact(local, video):
        store = store or (make_store or _default_store)()
        for role, item in stored.items():
            dest = local if role is Role.VIDEO else project_dir / item.relpath
            if role is Role.VIDEO or not _intact(dest, item):
                store.download(item, dest, max_bytes)
        fetched = True
    if fetched or str(local) != job.output_path:
        job = objects.moved(ledger, job, local, RenderFiles(local).sidecar, video.url)
    return job, fetched


def _default_store() -> Store:
    return Store(client())


def store_once() -> Callable[[], Store]:
    """What makes the one Store of a run: its S3 client is built at the first transfer and then
    shared (boto3 takes tens of milliseconds and megabytes per client), and goes with the run."""
    made: list[Store] = []

    def make() -> Store:
        if not made:
            made.append(_default_store())
        return made[0]

    return make


def _intact(path: Path, stored: StoredObject) -> bool:
    """The local copy has the object's size (its sha256 was checked when it arrived)."""
    try:
        return path.is_file() and path.stat().st_size == stored.bytes
    except OSError:
        return False
