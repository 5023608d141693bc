"""Which renders a review shows, and each one's place among the takes of its request."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from imagine.ledger.store import Ledger
from imagine.lifecycle import Job, Status
from imagine.render_files import RenderFiles


class ReviewState(StrEnum):
    """A render's verdict; the ledger keeps pending as NULL (``jobs.review_state``)."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"

    @classmethod
    def of(cls, job: Job) -> ReviewState:
        return cls(job.review_state) if job.review_state else cls.PENDING

    @property
    def stored(self) -> str | None:
        return None if self is ReviewState.PENDING else self.value


@dataclass(frozen=True, slots=True)
class Take:
    """One render as a review shows it: take ``number`` of ``takes`` of the same request."""

    job: Job
    number: int
    takes: int

    @property
    def state(self) -> ReviewState:
        return ReviewState.of(self.job)

    @property
    def video(self) -> Path:
        return Path(self.job.output_path)

    @property
    def poster(self) -> Path:
        return RenderFiles(self.video).poster


@dataclass(frozen=True, slots=True)
class Request:
    """The takes of one request (`-n` variations, and any re-runs), oldest first."""

    key: str
    takes: tuple[Take, ...]

    @property
    def prompt(self) -> str:
        return self.takes[0].job.prompt or ""


def request_key(job: Job) -> str:
    """Jobs asking for the same thing: takes differ only in their variation number, which the
    request body does not carry (nor a re-run, which sends the very same body)."""
    return "\x1f".join(
        (job.project_dir, job.base_url, job.route, job.model, job.request_json or job.prompt or "")
    )


def renders(ledger: Ledger, project_dir: Path) -> list[Job]:
    """The project's finished renders, oldest first; a render reported as abusive is not shown."""
    rows = ledger.conn.execute(
        "SELECT * FROM jobs WHERE status = ? AND project_dir = ? AND reported_at IS NULL"
        " ORDER BY seq",
        (Status.COMPLETE.value, str(project_dir)),
    )
    return [Job.from_row(row) for row in rows]


def group(jobs: Iterable[Job]) -> list[Request]:
    """Takes by request, numbered in the order they were made; the newest request first."""
    found: dict[str, list[Job]] = {}
    for job in sorted(jobs, key=lambda job: job.seq):
        found.setdefault(request_key(job), []).append(job)
    requests = [
        Request(key, tuple(Take(job, n, len(jobs)) for n, job in enumerate(jobs, 1)))
        for key, jobs in found.items()
    ]
    requests.sort(key=lambda request: max(take.job.seq for take in request.takes), reverse=True)
    return requests


def select(
    ledger: Ledger,
    project_dir: Path,
    *,
    since: str | None = None,
    state: ReviewState | None = None,
) -> list[Request]:
    """The requests with takes made since ``since`` (an ISO time) and in ``state``. A take keeps
    its number among all its request's takes, even when older ones are not shown."""
    shown = []
    for request in group(renders(ledger, project_dir)):
        takes = tuple(
            take
            for take in request.takes
            if (since is None or take.job.created_at >= since)
            and (state is None or take.state is state)
        )
        if takes:
            shown.append(Request(request.key, takes))
    return shown


def shown_job(ledger: Ledger, project_dir: Path, job_id: str) -> Job | None:
    """The job if a review of ``project_dir`` may show it (its files may be served), else None."""
    job = ledger.get(job_id)
    if job is None or job.status is not Status.COMPLETE or job.reported_at is not None:
        return None
    return job if job.project_dir == str(project_dir) else None
