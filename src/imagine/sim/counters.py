"""Counters that tests and benchmarks read over HTTP (GET /sim/stats) to assert on client behaviour."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

COUNTERS = (
    "submissions",
    "duplicate_bodies",
    "rejected",
    "rate_limited",
    "server_errors",
    "dropped",
    "polls_total",
    "downloads",
    "download_bytes",
    "truncated",
    "media_auth_headers",
    "uploads",
    # accepted submissions that carried keyframes, a last frame, voices, storage_options, a user
    "with_keyframes",
    "with_last_frame",
    "with_voices",
    "with_storage",
    "with_user",
)


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._counts: Counter[str] = Counter()
            self._by_route: Counter[str] = Counter()
            self._bodies: Counter[str] = Counter()
            self._polls: Counter[str] = Counter()
            self._jobs: list[str] = []

    def add(self, name: str, amount: int = 1) -> None:
        if name not in COUNTERS:
            raise KeyError(name)
        with self._lock:
            self._counts[name] += amount

    def submission(
        self, route: str, body_sha256: str, request_id: str, features: tuple[str, ...] = ()
    ) -> None:
        """An accepted POST that made a job (including one whose answer is then dropped)."""
        with self._lock:
            self._counts["submissions"] += 1
            for name in features:
                self._counts[f"with_{name}"] += 1
            if self._bodies[body_sha256]:
                self._counts["duplicate_bodies"] += 1
            self._bodies[body_sha256] += 1
            self._by_route[route] += 1
            self._jobs.append(request_id)

    def poll(self, request_id: str) -> None:
        with self._lock:
            self._counts["polls_total"] += 1
            self._polls[request_id] += 1

    def snapshot(self, describe_job: Callable[[str], dict[str, Any] | None]) -> dict[str, Any]:
        with self._lock:
            data: dict[str, Any] = {name: self._counts[name] for name in COUNTERS}
            data["submissions_by_route"] = dict(self._by_route)
            data["bodies"] = dict(self._bodies)
            data["polls"] = dict(self._polls)
            job_ids = list(self._jobs)
        jobs = {request_id: describe_job(request_id) for request_id in job_ids}
        data["jobs"] = {key: value for key, value in jobs.items() if value is not None}
        return data
