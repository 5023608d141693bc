"""Everything a running simulator knows, shared by the request threads."""

from __future__ import annotations

import random
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from imagine.atomic import write_atomic
from imagine.sim.clips import ClipCache, shared_cache_folder
from imagine.sim.counters import Stats
from imagine.sim.files import FileStore
from imagine.sim.knobs import SimConfig, updated
from imagine.sim.ratelimit import StartLimiter
from imagine.sim.timeline import Job, JobStore
from imagine.sim.wire import Response, error_response


class SimState:
    def __init__(self, config: SimConfig) -> None:
        folder = config.state_dir
        self.config = config
        self.stats = Stats()
        self.limiter = StartLimiter()
        self.jobs = JobStore(folder / "jobs" if folder else None)
        self.files = FileStore(folder / "files" if folder else None)
        self.clips = ClipCache(folder / "media" if folder else shared_cache_folder())
        self.secret = _secret(folder)
        self.api_key = config.api_keys[0] if config.api_keys else f"xai-sim-{secrets.token_hex(16)}"
        self.netlocs: set[str] = set()  # host:port spellings that reach this simulator
        self._random = random.Random(config.seed)
        self._random_lock = threading.Lock()

    def configure(self, changes: dict[str, Any]) -> SimConfig:
        """Apply knob changes (ValueError if invalid); a new seed restarts the random sequence."""
        self.config = updated(self.config, changes)
        if "seed" in changes:
            with self._random_lock:
                self._random.seed(self.config.seed)
        return self.config

    def reset(self) -> None:
        self.stats.reset()
        self.limiter.reset()

    def chance(self, rate: float) -> bool:
        """True with probability ``rate`` (never draws for 0, so unused knobs keep runs reproducible)."""
        if rate <= 0:
            return False
        with self._random_lock:
            return self._random.random() < rate

    def uniform(self, low: float, high: float) -> float:
        with self._random_lock:
            return self._random.uniform(low, high)

    def status(self, job: Job) -> str:
        return job.status(time.time(), self.config.expire_after)

    def error(self, status: int, code: str, message: str) -> Response:
        return error_response(status, code, message, legacy=self.config.legacy_errors)

    def describe_job(self, request_id: str) -> dict[str, Any] | None:
        job = self.jobs.get(request_id)
        if job is None:
            return None
        return {
            "status": self.status(job),
            "route": job.route,
            "model": job.model,
            "created_at": job.created_at,
            "finish_at": job.finish_at,
            "output_seconds": job.output_seconds,
        }

    def snapshot(self) -> dict[str, Any]:
        return self.stats.snapshot(self.describe_job)


def _secret(folder: Path | None) -> bytes:
    """The media-URL signing key; kept in the state folder so a restarted simulator honours old URLs."""
    if folder is None:
        return secrets.token_bytes(32)
    path = folder / "secret"
    if path.exists():
        return path.read_bytes()
    folder.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    write_atomic(path, key, mode=0o600)
    return key
