"""When to poll next. Scheduled, not looped: the first poll goes near the expected finish learned from
earlier renders of the same shape; later ones follow the reported progress, else back off.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from imagine.ledger.store import HISTORY, Ledger, render_time
from imagine.lifecycle import Job

Shape = tuple[str, str | None, float | None]  # model, resolution, seconds of video


@dataclass(frozen=True)
class PollPolicy:
    first_without_history: float = 1.0
    lead: float = 0.8  # first poll at this fraction of the expected render time
    margin: float = 0.05  # seconds after the predicted finish
    trust_progress: float = 50.0  # below this, progress is a hint, not an aim
    approach: float = 0.6  # fraction of the predicted remaining time to wait while closing in
    minimum: float = 0.5
    maximum: float = 30.0
    growth: float = 1.5


# What an engine given no policy uses; the test suite swaps in a faster one (tests/conftest.py).
DEFAULT = PollPolicy()


def expected_seconds(history: Sequence[float]) -> float | None:
    return statistics.median(history) if history else None


def first_delay(expected: float | None, policy: PollPolicy = PollPolicy()) -> float:
    if expected is None:
        return policy.first_without_history
    return _clamp(expected * policy.lead, policy)


def next_delay(
    elapsed: float,
    progress: float | None,
    expected: float | None,
    polls: int,
    policy: PollPolicy = PollPolicy(),
) -> float:
    """Seconds until the next poll of a job still pending ``elapsed`` seconds after submission."""
    if progress is not None and 5 <= progress < 100:
        remaining = elapsed * 100.0 / progress - elapsed
        if progress < policy.trust_progress:
            # Early on, whole-number progress says little: close in, then aim.
            return _clamp(remaining * policy.approach, policy)
        return _clamp(remaining + policy.margin, policy)
    if expected is not None and expected - elapsed > policy.minimum:
        return _clamp(expected - elapsed + policy.margin, policy)
    base = max(policy.minimum, (expected or 10.0) * 0.1)
    return _clamp(base * policy.growth ** max(0, polls - 1), policy)


def _clamp(seconds: float, policy: PollPolicy) -> float:
    return min(policy.maximum, max(policy.minimum, seconds))


class RenderTimes:
    """The expected render time of each shape of job, from its recent renders: read from the
    ledger once per run, then kept up to date as this run's renders finish."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._history: dict[Shape, list[float]] = {}
        self._expected: dict[Shape, float | None] = {}

    def expected(self, job: Job) -> float | None:
        shape = (job.model, job.resolution, job.output_seconds)
        if shape not in self._history:
            self._history[shape] = self._ledger.render_seconds(*shape)
            self._expected[shape] = expected_seconds(self._history[shape])
        return self._expected[shape]

    def learned(self, job: Job) -> None:
        """A render finished: its time joins the history of its shape (as the ledger would
        give it: the newest first, by the duration the provider reports)."""
        shape = (job.model, job.resolution, job.video_duration)
        history = self._history.get(shape)
        if history is None or not (job.submitted_at and job.completed_at):
            return
        history.insert(0, render_time(job.submitted_at, job.completed_at, job.last_pending_at))
        del history[HISTORY:]
        self._expected[shape] = expected_seconds(history)
