"""Jobs: what the simulator promised at submission, and what a poll sees at any later moment.

The outcome (done, failed, moderated) and the finish time are decided when a job is created, so a
job's status is a pure function of the clock. That makes persistence one JSON file written once.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from imagine.atomic import write_atomic

PENDING, DONE, FAILED, EXPIRED = "pending", "done", "failed", "expired"
MODERATED = "moderated"  # an outcome, not a status: polls show it as done without a url
GENERIC_FAILURE = {"code": "internal_error", "message": "Video generation failed."}

_RESOLUTION_FACTOR = {"480p": 1.0, "720p": 1.4, "1080p": 2.0}
_REWORK_FACTOR = 1.3  # edits and extensions take longer than fresh generations


@dataclass(frozen=True)
class Job:
    request_id: str
    route: str
    mode: str
    model: str
    resolution: str
    width: int
    height: int
    output_seconds: float
    audio: bool
    seed: int
    created_at: float
    finish_at: float
    outcome: str
    cost_ticks: int
    error: dict[str, str] | None = None
    stored: dict[str, Any] | None = None  # storage_options: the Files API copy (file_output)

    def status(self, now: float, expire_after: float | None) -> str:
        if now < self.finish_at:
            return PENDING
        if self.outcome == FAILED:
            return FAILED
        if expire_after is not None and now >= self.finish_at + expire_after:
            return EXPIRED
        return DONE

    def progress(self, now: float) -> int:
        """0..99 rising linearly from creation to finish (100 is only ever shown when done)."""
        span = self.finish_at - self.created_at
        if span <= 0:
            return 99
        return max(0, min(99, int(100 * (now - self.created_at) / span)))

    @property
    def has_media(self) -> bool:
        return self.outcome == DONE


def mean_render_seconds(
    *, mode: str, resolution: str, output_seconds: float, speed: float, render_time: float | None
) -> float:
    """Tens of seconds at speed 1, like the real API: longer clips, more pixels and edits take longer."""
    if render_time is not None:
        return render_time
    seconds = (8 + 2.5 * output_seconds) * _RESOLUTION_FACTOR.get(resolution, 1.0)
    if mode in ("edit", "extension"):
        seconds *= _REWORK_FACTOR
    return seconds / speed


class JobStore:
    """All jobs by request id, kept in memory and, with a state folder, one JSON file per job."""

    def __init__(self, folder: Path | None) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._folder = folder
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            self._jobs.update(_load(folder))

    def add(self, job: Job) -> None:
        if self._folder is not None:
            data = json.dumps(asdict(job), indent=1).encode()
            write_atomic(self._folder / f"{job.request_id}.json", data)
        with self._lock:
            self._jobs[job.request_id] = job

    def get(self, request_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(request_id)


def _load(folder: Path) -> dict[str, Job]:
    jobs = {}
    for path in sorted(folder.glob("*.json")):
        record = _read_record(path)
        if record is not None:
            jobs[record.request_id] = record
    return jobs


def _read_record(path: Path) -> Job | None:
    # A record that does not parse belongs to another version or got damaged: skip it, do not crash.
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return Job(**data)
    except (OSError, ValueError, TypeError):
        return None
