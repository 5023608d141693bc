"""`imagine stats`: where time and money went, read from the ledger.

The figures come from the stats summary the ledger keeps as jobs are written (ledger/summary.py,
migration 017: per UTC day, model, resolution, mode and template, the counts, sums and each
spread's values in integer ms), merged here per group; with --since, the jobs of the window's
first, partial day are read from the jobs themselves. Every figure is exact. The events come from
their own index. What each figure means (README, "Stats, logs and traces"):

- Latency, of jobs that completed: ``queued`` created → submitted (pacing and slots),
  ``rendering`` submitted → the poll that found it done, ``downloading`` that poll → the file
  saved, ``total`` created → saved, to the millisecond. Percentiles are nearest-rank: the
  smallest value with at least p % of the values at or below it.
- Outcomes, of every job created in the window; rates are shares of the finished ones (not queued,
  submitting, running or downloading).
- Cost: the provider's recorded charges (never estimates); per render and per output second over
  complete jobs that carry a charge.
- Polls per job, of submitted jobs that are no longer live.
- Detection lag: the provider finished somewhere between the last poll that found the job pending
  (``last_pending_at``) and the poll that found it done (``completed_at``); the lag is estimated
  as half that window, the same midpoint the ledger uses for render times. Jobs whose first poll
  found them done have no window and are not counted.
- Duplicates prevented: the ``reused`` and ``attached`` events a run records when it finds the
  same request already rendered or rendering, with the money each saved.
"""

from __future__ import annotations

import bisect
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from itertools import chain
from typing import Any

from imagine.api.contract import TICKS_PER_USD
from imagine.jobs import EventKind
from imagine.ledger import summary
from imagine.ledger.store import Ledger
from imagine.ledger.summary import Figures
from imagine.ledger.summary import Outcome as Outcome  # `imagine stats` names its outcomes


class GroupBy(StrEnum):
    MODEL = "model"
    RESOLUTION = "resolution"
    MODE = "mode"
    TEMPLATE = "template"


# Where a group's name is in a summary key (ledger/summary.py: day, model, resolution, mode,
# template).
_KEY_AT = {GroupBy.MODEL: 1, GroupBy.RESOLUTION: 2, GroupBy.MODE: 3, GroupBy.TEMPLATE: 4}
PERCENTS = (50, 90, 95)
LATENCY = ("queued", "rendering", "downloading", "total")
# Buckets of the total-latency histogram, in seconds: [from, to).
HISTOGRAM_EDGES = (0, 10, 30, 60, 120, 300, 600, 1800)


@dataclass(frozen=True)
class Spread:
    """Nearest-rank percentiles of one measure (None when no job has it)."""

    count: int
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    max: float | None = None
    mean: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "p50": _round(self.p50),
            "p90": _round(self.p90),
            "p95": _round(self.p95),
            "max": _round(self.max),
            "mean": _round(self.mean),
        }


@dataclass(frozen=True)
class Cost:
    charged_usd: float  # every recorded charge in the group, whatever the job's outcome
    renders: int  # complete jobs with a charge
    render_usd: float  # their charges
    output_seconds: float  # their video's length

    @property
    def per_render_usd(self) -> float | None:
        return self.render_usd / self.renders if self.renders else None

    @property
    def per_output_second_usd(self) -> float | None:
        return self.render_usd / self.output_seconds if self.output_seconds else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "charged_usd": round(self.charged_usd, 4),
            "renders": self.renders,
            "per_render_usd": _round(self.per_render_usd, 4),
            "per_output_second_usd": _round(self.per_output_second_usd, 4),
        }


@dataclass(frozen=True)
class Group:
    key: str | None  # the model, resolution, mode or template; None for all jobs (or none set)
    jobs: int
    outcomes: dict[Outcome, int]
    latency: dict[str, Spread]
    cost: Cost
    polls: Spread
    detection_lag: Spread

    @property
    def finished(self) -> int:
        return self.jobs - self.outcomes.get(Outcome.LIVE, 0)

    def rate(self, outcome: Outcome) -> float | None:
        return self.outcomes.get(outcome, 0) / self.finished if self.finished else None

    def as_dict(self) -> dict[str, Any]:
        rated = [o for o in Outcome if o is not Outcome.LIVE]
        return {
            "key": self.key,
            "jobs": self.jobs,
            "outcomes": {str(o): self.outcomes.get(o, 0) for o in Outcome},
            "rates": {str(o): _round(self.rate(o), 4) for o in rated},
            "latency_s": {name: spread.as_dict() for name, spread in self.latency.items()},
            "cost": self.cost.as_dict(),
            "polls": self.polls.as_dict(),
            "detection_lag_s": self.detection_lag.as_dict(),
        }


@dataclass(frozen=True)
class Report:
    since: str | None
    by: GroupBy | None
    overall: Group
    groups: list[Group]
    reused: int
    attached: int
    saved_usd: float
    rate_limited: int  # submissions the provider refused with 429 and that were queued again
    resubmitted: int  # jobs sent again by `imagine retry`
    answers_lost: int  # submissions whose answer was lost (the job became unknown)
    histogram: list[tuple[float, float | None, int]]  # total latency: [from, to) seconds, jobs
    per_hour: list[tuple[str, int]]  # "2026-11-30T14", jobs created in that hour (UTC)

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "by": str(self.by) if self.by else None,
            "overall": self.overall.as_dict(),
            "groups": [group.as_dict() for group in self.groups],
            "duplicates": {
                "reused": self.reused,
                "attached": self.attached,
                "saved_usd": round(self.saved_usd, 4),
            },
            "retries": {"rate_limited": self.rate_limited, "resubmitted": self.resubmitted},
            "unknown": {
                "jobs": self.overall.outcomes.get(Outcome.UNKNOWN, 0),
                "answers_lost": self.answers_lost,
            },
            "latency_histogram": [
                {"from_s": low, "to_s": high, "jobs": n} for low, high, n in self.histogram
            ],
            "jobs_per_hour": [{"hour": hour + ":00Z", "jobs": n} for hour, n in self.per_hour],
        }


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def report(ledger: Ledger, *, since: str | None = None, by: GroupBy | None = None) -> Report:
    """The whole `imagine stats` answer for jobs created since ``since`` (an ISO time; all
    jobs when None), with one group per ``by`` value besides the totals."""
    conn = ledger.conn
    parts: dict[str | None, list[Figures]] = {}
    hours: Counter[str] = Counter()
    for key, figures in _window(conn, since):
        parts.setdefault(key[_KEY_AT[by]] or None if by else None, []).append(figures)
        for hour, n in figures.hours.items():
            hours[f"{key[0]}T{hour}"] += n
    merged = {key: _merged(found) for key, found in parts.items()}
    all_jobs = _merged(merged.values()) if by else merged.get(None, Figures())
    groups = [_group(key, figures) for key, figures in merged.items()] if by else []
    groups.sort(key=lambda g: (-g.jobs, g.key or ""))
    events = _event_counts(conn, since)
    none = (0, 0.0)
    reused, attached = events.get(EventKind.REUSED, none), events.get(EventKind.ATTACHED, none)
    return Report(
        since=since,
        by=by,
        overall=_group(None, all_jobs),
        groups=groups,
        reused=reused[0],
        attached=attached[0],
        saved_usd=reused[1] + attached[1],
        rate_limited=events.get(EventKind.RATE_LIMITED, none)[0],
        resubmitted=events.get(EventKind.RETRIED, none)[0],
        answers_lost=events.get(EventKind.ANSWER_LOST, none)[0],
        histogram=_histogram(all_jobs.values["total"]),
        per_hour=sorted(hours.items()),
    )


def _window(conn: sqlite3.Connection, since: str | None) -> Iterator[tuple[summary.Key, Figures]]:
    """The summary of the jobs created since ``since``, by summary key: the whole days from the
    stats summary, and the jobs of the first, partial day tallied here from their rows."""
    sql = "SELECT day, model, resolution, mode, template, jobs, figures FROM stats_summary"
    if since is None:
        rows = conn.execute(sql)
    else:
        next_day = (date.fromisoformat(since[:10]) + timedelta(days=1)).isoformat()
        partial: dict[summary.Key, Figures] = {}
        jobs = conn.execute(
            f"{summary.SELECT_FIELDS} WHERE created_at >= ? AND created_at < ?",
            (since, next_day),
        )
        for one in summary.tallies(jobs):
            partial.setdefault(one.key, Figures()).add(one)
        yield from partial.items()
        rows = conn.execute(f"{sql} WHERE day >= ?", (next_day,))
    for row in rows:
        yield (row[0], row[1], row[2], row[3], row[4]), Figures.from_json(row[5], row[6])


def _merged(parts: Iterable[Figures]) -> Figures:
    """Several summaries as one (each spread's sorted lists merged: a sort of sorted runs)."""
    total = Figures()
    outcomes: Counter[str] = Counter()
    runs: dict[str, list[list[int]]] = {name: [] for name in summary.SPREADS}
    for part in parts:
        total.jobs += part.jobs
        outcomes.update(part.outcomes)
        total.charged_ticks += part.charged_ticks
        total.renders += part.renders
        total.render_ticks += part.render_ticks
        total.seconds_us += part.seconds_us
        for name, values in part.values.items():
            runs[name].append(values)
    total.outcomes = dict(outcomes)
    total.values = {name: sorted(chain.from_iterable(lists)) for name, lists in runs.items()}
    return total


def _group(key: str | None, figures: Figures) -> Group:
    values = figures.values
    return Group(
        key=key,
        jobs=figures.jobs,
        outcomes={Outcome(name): n for name, n in figures.outcomes.items()},
        latency={name: _spread(values[name], 1000) for name in LATENCY},
        cost=Cost(
            figures.charged_ticks / TICKS_PER_USD,
            figures.renders,
            figures.render_ticks / TICKS_PER_USD,
            figures.seconds_us / 1_000_000,
        ),
        polls=_spread(values["polls"]),
        detection_lag=_spread(values["detection_lag"], 1000),
    )


def _spread(values: list[int], per: int = 1) -> Spread:
    """Nearest-rank percentiles of sorted ``values`` (divided by ``per``: ms to seconds). Python
    sorts 100,000 numbers in a few ms; SQLite's window functions take ten times longer."""
    count = len(values)
    if not count:
        return Spread(0)
    p50, p90, p95 = (values[max(0, -(-count * p // 100) - 1)] / per for p in PERCENTS)
    return Spread(count, p50, p90, p95, values[-1] / per, sum(values) / count / per)


# The events counted by the report, each with the money it saved (reused, attached).
COUNTED_EVENTS = (
    EventKind.REUSED,
    EventKind.ATTACHED,
    EventKind.RATE_LIMITED,
    EventKind.RETRIED,
    EventKind.ANSWER_LOST,
)


def _event_counts(conn: sqlite3.Connection, since: str | None) -> dict[str, tuple[int, float]]:
    """Counted events recorded in the window (by their own time, not their job's), from the
    job_events_kind index (migration 015)."""
    kinds = ", ".join(f"'{kind}'" for kind in COUNTED_EVENTS)
    window = "AND at >= :since" if since else ""
    sql = (
        "SELECT event, count(*), total(json_extract(detail_json, '$.saved_usd'))"
        f" FROM job_events WHERE event IN ({kinds}) {window} GROUP BY event"
    )
    return {row[0]: (row[1], row[2]) for row in conn.execute(sql, {"since": since})}


def _histogram(totals: list[int]) -> list[tuple[float, float | None, int]]:
    """Sorted total latencies (ms) counted into HISTOGRAM_EDGES' buckets (seconds)."""
    edges = HISTOGRAM_EDGES
    highs: list[float | None] = [*edges[1:], None]
    starts = [bisect.bisect_left(totals, low * 1000) for low in edges]
    ends = [*starts[1:], len(totals)]
    return [
        (low, high, end - start)
        for low, high, start, end in zip(edges, highs, starts, ends, strict=True)
    ]
