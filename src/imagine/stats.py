"""`imagine stats`: where time and money went, read from the ledger.

One pass of SQLite over the ``jobs_stats`` index (migration 015: the columns stats reads, and each
job's durations in ms kept there as it is written) gives every count and sum of a group and each
spread's values as one list, which Python sorts for the percentiles; the events come from their
own index. What each figure means (README, "Stats, logs and traces"):

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
import json
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from imagine.api.contract import TICKS_PER_USD
from imagine.jobs import EventKind
from imagine.ledger.store import Ledger

if TYPE_CHECKING:
    from imagine.ledger.db import Connection


class GroupBy(StrEnum):
    MODEL = "model"
    RESOLUTION = "resolution"
    MODE = "mode"
    TEMPLATE = "template"


_KEY = {
    GroupBy.MODEL: "model",
    GroupBy.RESOLUTION: "resolution",
    GroupBy.MODE: "mode",
    # A template's versions apart: an A/B of v2 against v3 is the point of grouping by it.
    GroupBy.TEMPLATE: "template_name || ' v' || COALESCE(CAST(template_version AS TEXT), '?')",
}
PERCENTS = (50, 90, 95)


# Each spread: its value per job in ms (the generated columns of migration 015, or a count), and
# which jobs it is taken of. A duration is NULL when either of its times is (an imported render
# was never submitted here), and left out: each phase is of the complete jobs that have it.
_COMPLETED = "status = 'complete'"
LATENCY: dict[str, tuple[str, str]] = {
    "queued": ("stat_queued_ms", _COMPLETED),
    "rendering": ("stat_rendering_ms", _COMPLETED),
    "downloading": ("stat_downloading_ms", _COMPLETED),
    "total": ("stat_total_ms", _COMPLETED),
}
POLLS = (
    "poll_count",
    "stat_queued_ms IS NOT NULL AND status NOT IN ('queued', 'submitting', 'running', 'downloading')",
)
DETECTION_LAG = ("stat_lag_ms", "stat_lag_ms IS NOT NULL")
# Buckets of the total-latency histogram, in seconds: [from, to).
HISTOGRAM_EDGES = (0, 10, 30, 60, 120, 300, 600, 1800)


class Outcome(StrEnum):
    """What became of a job, as `imagine stats` counts it."""

    COMPLETE = "complete"
    FAILED = "failed"
    EXPIRED = "expired"
    BLOCKED_PROVIDER = "blocked_provider"
    BLOCKED_LOCAL = "blocked_local"
    CANCELED = "canceled"
    UNKNOWN = "unknown"
    LIVE = "live"


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
    params = {"since": since}
    where = "created_at >= :since" if since else "1"
    groups: list[Group] = []
    if by is None:
        (all_jobs,) = _figures(conn, _figures_sql(None, where), params)
    else:
        # One grouped pass; the totals are the groups' sums and merged lists (SQLite's sort of
        # the rows by group costs as much as a second pass).
        found = _figures(conn, _figures_sql(_KEY[by], where), params)
        groups = sorted(map(_group, found), key=lambda g: (-g.jobs, g.key or ""))
        all_jobs = _merged(found)
    overall = _group(all_jobs)
    events = _event_counts(conn, since)
    none = (0, 0.0)
    reused, attached = events.get(EventKind.REUSED, none), events.get(EventKind.ATTACHED, none)
    return Report(
        since=since,
        by=by,
        overall=overall,
        groups=groups,
        reused=reused[0],
        attached=attached[0],
        saved_usd=reused[1] + attached[1],
        rate_limited=events.get(EventKind.RATE_LIMITED, none)[0],
        resubmitted=events.get(EventKind.RETRIED, none)[0],
        answers_lost=events.get(EventKind.ANSWER_LOST, none)[0],
        histogram=_histogram(all_jobs.values["total"]),
        per_hour=[(row[0], row[1]) for row in conn.execute(_per_hour_sql(where), params)],
    )


# Each spread: which jobs it is taken of, and its value for each (SQL).
SPREADS: dict[str, tuple[str, str]] = {
    **LATENCY,
    "polls": POLLS,
    "detection_lag": DETECTION_LAG,
}
_LIVE = "('queued', 'submitting', 'running', 'downloading')"
# Outcome counts as SQL sums (one pass, no sorting), in Outcome's order.
_OUTCOME_SUMS = {
    Outcome.COMPLETE: "status = 'complete'",
    Outcome.FAILED: "status = 'failed'",
    Outcome.EXPIRED: "status = 'expired'",
    Outcome.BLOCKED_PROVIDER: "status = 'blocked' AND block_source IS NOT 'local'",
    Outcome.BLOCKED_LOCAL: "status = 'blocked' AND block_source IS 'local'",
    Outcome.CANCELED: "status = 'canceled'",
    Outcome.UNKNOWN: "status = 'unknown'",
    Outcome.LIVE: f"status IN {_LIVE}",
}


def _figures_sql(column: str | None, where: str) -> str:
    """Every figure of a group in one pass over the jobs_stats index (migration 015): counts
    and sums, and each spread's values as one list (``group_concat``) for Python to sort."""
    sums = ", ".join(f"total({test})" for test in _OUTCOME_SUMS.values())
    complete = "status = 'complete'"
    lists = ", ".join(
        f"group_concat(CASE WHEN {which} THEN {value} END)" for value, which in SPREADS.values()
    )
    return (
        f"SELECT {column or 'NULL'} AS k, count(*), {sums}, total(cost_ticks),"
        f" count(CASE WHEN {complete} AND cost_ticks IS NOT NULL THEN 1 END),"
        f" total(CASE WHEN {complete} THEN cost_ticks END),"
        f" total(CASE WHEN {complete} AND cost_ticks IS NOT NULL THEN video_duration END),"
        f" {lists}"
        f" FROM jobs INDEXED BY jobs_stats WHERE {where}"
        + (f" GROUP BY {column}" if column else "")
    )


@dataclass(frozen=True)
class _Figures:
    """What one pass gives of a group: counts, sums and each spread's sorted values (ms)."""

    key: str | None
    jobs: int
    outcomes: dict[Outcome, int]
    cost: tuple[float, int, float, float]  # charged ticks, renders, their ticks, their seconds
    values: dict[str, list[int]]


def _figures(conn: Connection, sql: str, params: dict[str, Any]) -> list[_Figures]:
    found = []
    for row in conn.execute(sql, params):
        at = 2 + len(_OUTCOME_SUMS)
        outcomes = {o: int(n) for o, n in zip(_OUTCOME_SUMS, row[2:at], strict=True) if n}
        charged, renders, render_ticks, seconds = row[at : at + 4]
        values = dict(zip(SPREADS, map(_values, row[at + 4 :]), strict=True))
        found.append(
            _Figures(row[0], row[1], outcomes, (charged, renders, render_ticks, seconds), values)
        )
    return found


def _merged(groups: list[_Figures]) -> _Figures:
    """All groups as one (the sorted lists merged: a sort of sorted runs is a merge)."""
    outcomes: Counter[Outcome] = Counter()
    for group in groups:
        outcomes.update(group.outcomes)
    charged, renders, render_ticks, seconds = (sum(g.cost[i] for g in groups) for i in range(4))
    values = {name: sorted(v for g in groups for v in g.values[name]) for name in SPREADS}
    jobs = sum(group.jobs for group in groups)
    cost = (charged, int(renders), render_ticks, seconds)
    return _Figures(None, jobs, dict(outcomes), cost, values)


def _group(figures: _Figures) -> Group:
    charged, renders, render_ticks, seconds = figures.cost
    values = figures.values
    return Group(
        key=figures.key,
        jobs=figures.jobs,
        outcomes=figures.outcomes,
        latency={name: _spread(values[name], 1000) for name in LATENCY},
        cost=Cost(charged / TICKS_PER_USD, int(renders), render_ticks / TICKS_PER_USD, seconds),
        polls=_spread(values["polls"]),
        detection_lag=_spread(values["detection_lag"], 1000),
    )


def _values(text: str | None) -> list[int]:
    """The integers SQLite listed, sorted (JSON's parser reads them fastest)."""
    values: list[int] = json.loads(f"[{text}]") if text else []
    values.sort()
    return values


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


def _event_counts(conn: Connection, since: str | None) -> dict[str, tuple[int, float]]:
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


def _per_hour_sql(where: str) -> str:
    return (
        "SELECT substr(created_at, 1, 13) AS hour, count(*) FROM jobs INDEXED BY jobs_stats"
        f" WHERE {where} GROUP BY hour ORDER BY hour"
    )
