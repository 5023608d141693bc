"""How a run of the engine is set up: pacing, caps, waiting, timeouts; read by every stage."""

from __future__ import annotations

from dataclasses import dataclass, field

from imagine.engine import schedule
from imagine.engine.download import Limits
from imagine.money.caps import Budget


@dataclass(frozen=True)
class EngineOptions:
    rps: float = 1.0
    concurrency: int = 4
    wait: bool = True
    timeout: float | None = None
    lease_seconds: float = 60.0
    poll: schedule.PollPolicy = field(default_factory=lambda: schedule.DEFAULT)
    download_attempts: int = 6
    download: Limits = field(default_factory=Limits)
    # Jobs driven at once (rendering, polled, downloading, or waiting for a slot); the rest of a
    # batch waits as ledger rows only.
    max_active: int = 256
    # Spending caps, checked and reserved as each job is sent (imagine.money.caps).
    budget: Budget = field(default_factory=Budget)
