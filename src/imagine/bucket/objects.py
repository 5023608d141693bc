"""What the ledger knows of a render's copies in the shared bucket (table ``stored_objects``).

Everything another machine needs to fetch a render is here (bucket, key, size, sha256 and the
file's path inside its project); credentials never are: they come from the AWS_* variables.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from imagine import clock
from imagine.ledger.store import Ledger
from imagine.lifecycle import EventKind, Job, Status


class Role(StrEnum):
    """Which of a render's files an object is."""

    VIDEO = "video"
    SIDECAR = "sidecar"
    POSTER = "poster"


@dataclass(frozen=True)
class StoredObject:
    role: Role
    bucket: str
    key: str
    bytes: int
    sha256: str
    relpath: str  # where the file sits inside a project folder, e.g. renders/x.mp4

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def of_job(ledger: Ledger, job_id: str) -> dict[Role, StoredObject]:
    rows = ledger.conn.execute(
        "SELECT role, bucket, key, bytes, sha256, relpath FROM stored_objects WHERE job_id = ?",
        (job_id,),
    )
    found = {}
    for row in rows:
        role = Role(row["role"])
        found[role] = StoredObject(role, *(row[name] for name in _FIELDS[1:]))
    return found


_FIELDS = ("role", "bucket", "key", "bytes", "sha256", "relpath")


def any_stored(ledger: Ledger) -> bool:
    """Whether the ledger holds any render in a bucket (a single user's never does)."""
    return ledger.conn.execute("SELECT 1 FROM stored_objects LIMIT 1").fetchone() is not None


def record(ledger: Ledger, job: Job, objects: list[StoredObject]) -> Job:
    """All of a job's objects are in the bucket: write them and stamp the job, in one go."""
    now = clock.iso()
    with ledger.transaction() as conn:
        conn.execute("DELETE FROM stored_objects WHERE job_id = ?", (job.id,))
        conn.executemany(
            "INSERT INTO stored_objects (job_id, role, bucket, key, bytes, sha256, relpath,"
            " uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (job.id, str(o.role), o.bucket, o.key, o.bytes, o.sha256, o.relpath, now)
                for o in objects
            ],
        )
        ledger.write(
            conn,
            job.id,
            job.status,
            EventKind.STORED,
            {"stored_at": now, "updated_at": now},
            {"objects": [o.url for o in objects]},
        )
    return ledger.require(job.id)


def forget(ledger: Ledger, job: Job) -> None:
    """The job's objects were deleted from the bucket."""
    now = clock.iso()
    with ledger.transaction() as conn:
        conn.execute("DELETE FROM stored_objects WHERE job_id = ?", (job.id,))
        conn.execute("UPDATE jobs SET stored_at = NULL, updated_at = ? WHERE id = ?", (now, job.id))


def not_stored(ledger: Ledger, project_dir: Path, limit: int = 1000) -> list[Job]:
    """This project's complete renders not (yet) in the bucket, oldest first: those whose
    upload failed or was cut short, and those made before storage was set."""
    rows = ledger.conn.execute(
        "SELECT * FROM jobs WHERE status = ? AND stored_at IS NULL AND project_dir = ?"
        " ORDER BY seq LIMIT ?",
        (str(Status.COMPLETE), str(project_dir), limit),
    )
    return [Job.from_row(row) for row in rows]


def moved(ledger: Ledger, job: Job, video: Path, sidecar: Path, source: str) -> Job:
    """The job's files were fetched from the bucket to ``video``: the ledger's path follows the
    newest working copy (a machine sharing the ledger has its own project folder)."""
    detail = {"from": source, "to": str(video)}
    if str(video) == job.output_path:
        return ledger.update(job.id, EventKind.RESTORED, detail=detail)
    return ledger.update(
        job.id,
        EventKind.RESTORED,
        detail=detail,
        output_path=str(video),
        sidecar_path=str(sidecar),
    )
