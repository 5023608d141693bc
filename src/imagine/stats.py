"""`imagine stats`: where time and money went, read from the ledger.

Every figure is computed by SQLite over the ``jobs`` and ``job_events`` tables (a few passes,
each returning a handful of rows), so a 100,000-job ledger answers in well under a second. What
each figure means (README, "Stats, logs and traces"):

- Latency, of jobs that completed: ``queued`` created → submitted (pacing and slots),
  ``rendering`` submitted → the poll that found it done, ``downloading`` that poll → the file
  saved, ``total`` created → saved. Percentiles are nearest-rank: the smallest value with at least
  p % of the values at or below it.
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

import itertools
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from imagine.api.contract import TICKS_PER_USD
from imagine.jobs import EventKind
from imagine.ledger.store import Ledger


class GroupBy(StrEnum):
    MODEL = "model"
    RESOLUTION = "resolution"
    MODE = "mode"
    TEMPLATE = "template"


_KEY = {
    GroupBy.MODEL: "model",
    GroupBy.RESOLUTION: "resolution",
    GroupBy.MODE: "mode",
    GroupBy.TEMPLATE: "template_name",
}
PERCENTS = (50, 90, 95)


def _seconds(start: str, end: str) -> str:
    return f"(julianday({end}) - julianday({start})) * 86400.0"


_COMPLETED = "status = 'complete' AND submitted_at IS NOT NULL AND downloaded_at IS NOT NULL"
# Each measure: its SQL value per job, and which jobs it is taken of.
LATENCY: dict[str, tuple[str, str]] = {
    "queued": (_seconds("created_at", "submitted_at"), _COMPLETED),
    "rendering": (_seconds("submitted_at", "completed_at"), _COMPLETED),
    "downloading": (_seconds("completed_at", "downloaded_at"), _COMPLETED),
    "total": (_seconds("created_at", "downloaded_at"), _COMPLETED),
}
POLLS = (
    "poll_count",
    "submitted_at IS NOT NULL AND status NOT IN ('queued', 'submitting', 'running', 'downloading')",
)
DETECTION_LAG = (
    _seconds("last_pending_at", "completed_at") + " / 2",
    "completed_at IS NOT NULL AND last_pending_at IS NOT NULL",
)
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


_OUTCOME_SQL = (
    "CASE WHEN status = 'blocked' AND block_source = 'local' THEN 'blocked_local'"
    " WHEN status = 'blocked' THEN 'blocked_provider'"
    " WHEN status IN ('queued', 'submitting', 'running', 'downloading') THEN 'live'"
    " ELSE status END"
)


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


_Rows = dict[str | None, list[Any]]  # rows of one query, by group key


class _Query:
    """The window every query of one report shares."""

    def __init__(self, ledger: Ledger, since: str | None) -> None:
        self.conn = ledger.conn
        self.where = "created_at >= :since" if since else "1"
        self.params = {"since": since}

    def rows(self, sql: str) -> list[Any]:
        return list(self.conn.execute(sql, self.params))

    def by_key(self, sql: str) -> _Rows:
        found: _Rows = {}
        for row in self.rows(sql):
            found.setdefault(row[0], []).append(row)
        return found

    def scalar(self, sql: str) -> Any:
        return self.conn.execute(sql, self.params).fetchone()[0]


def report(ledger: Ledger, *, since: str | None = None, by: GroupBy | None = None) -> Report:
    """The whole `imagine stats` answer for jobs created since ``since`` (an ISO time; all
    jobs when None), with one group per ``by`` value besides the totals."""
    query = _Query(ledger, since)
    overall = _groups(query, "NULL")[None] if _has_jobs(query) else _empty()
    groups = list(_groups(query, _KEY[by]).values()) if by else []
    groups.sort(key=lambda group: (-group.jobs, group.key or ""))
    events = _event_counts(query, since)
    reused, attached = (
        events.get(EventKind.REUSED, (0, 0.0)),
        events.get(EventKind.ATTACHED, (0, 0.0)),
    )
    return Report(
        since=since,
        by=by,
        overall=overall,
        groups=groups,
        reused=reused[0],
        attached=attached[0],
        saved_usd=reused[1] + attached[1],
        rate_limited=events.get(EventKind.RATE_LIMITED, (0, 0.0))[0],
        resubmitted=events.get(EventKind.RETRIED, (0, 0.0))[0],
        answers_lost=events.get(EventKind.ANSWER_LOST, (0, 0.0))[0],
        histogram=_histogram(query),
        per_hour=[(row[0], row[1]) for row in query.rows(_per_hour_sql(query.where))],
    )


def _has_jobs(query: _Query) -> bool:
    return bool(query.scalar(f"SELECT EXISTS (SELECT 1 FROM jobs WHERE {query.where})"))


def _empty() -> Group:
    return Group(
        None, 0, {}, {name: Spread(0) for name in LATENCY}, Cost(0, 0, 0, 0), Spread(0), Spread(0)
    )


def _groups(query: _Query, key: str) -> dict[str | None, Group]:
    """One Group per value of the column ``key`` (``NULL``: one group of every job)."""
    where = query.where
    counts = query.by_key(_counts_sql(key, where))
    latency = {name: query.by_key(_spread_sql(key, *m, where)) for name, m in LATENCY.items()}
    polls = query.by_key(_spread_sql(key, *POLLS, where))
    lag = query.by_key(_spread_sql(key, *DETECTION_LAG, where))
    costs = query.by_key(_cost_sql(key, where))
    found = {}
    for value, rows in counts.items():
        outcomes = {Outcome(row[1]): row[2] for row in rows}
        cost = costs[value][0]
        found[value] = Group(
            key=value,
            jobs=sum(outcomes.values()),
            outcomes=outcomes,
            latency={name: _spread(latency[name].get(value)) for name in LATENCY},
            cost=Cost(cost[1] / TICKS_PER_USD, cost[2], cost[3] / TICKS_PER_USD, cost[4]),
            polls=_spread(polls.get(value)),
            detection_lag=_spread(lag.get(value)),
        )
    return found


def _spread(rows: list[Any] | None) -> Spread:
    """Nearest-rank percentiles of the values SQLite listed (``group_concat``): sorting
    100,000 numbers is Python's quickest job, and SQLite's slowest."""
    if not rows or rows[0][1] is None:
        return Spread(0)
    values = sorted(map(float, rows[0][1].split(",")))
    count = len(values)
    p50, p90, p95 = (values[max(0, -(-count * p // 100) - 1)] for p in PERCENTS)
    return Spread(count, p50, p90, p95, values[-1], sum(values) / count)


# The events counted by the report, each with the money it saved (reused, attached).
COUNTED_EVENTS = (
    EventKind.REUSED,
    EventKind.ATTACHED,
    EventKind.RATE_LIMITED,
    EventKind.RETRIED,
    EventKind.ANSWER_LOST,
)


def _event_counts(query: _Query, since: str | None) -> dict[str, tuple[int, float]]:
    """Counted events recorded in the window (by their own time, not their job's)."""
    kinds = ", ".join(f"'{kind}'" for kind in COUNTED_EVENTS)
    window = "AND at >= :since" if since else ""
    sql = (
        "SELECT event, count(*), total(json_extract(detail_json, '$.saved_usd'))"
        f" FROM job_events WHERE event IN ({kinds}) {window} GROUP BY event"
    )
    return {row[0]: (row[1], row[2]) for row in query.rows(sql)}


def _histogram(query: _Query) -> list[tuple[float, float | None, int]]:
    edges = HISTOGRAM_EDGES
    cases = " ".join(f"WHEN x < {high} THEN {low}" for low, high in itertools.pairwise(edges))
    value, which = LATENCY["total"]
    sql = (
        f"SELECT CASE {cases} ELSE {edges[-1]} END AS bucket, count(*) FROM"
        f" (SELECT {value} AS x FROM jobs WHERE {query.where} AND {which}) GROUP BY bucket"
    )
    found = {row[0]: row[1] for row in query.rows(sql)}
    highs: list[float | None] = [*edges[1:], None]
    return [(low, high, found.get(low, 0)) for low, high in zip(edges, highs, strict=True)]


def _per_hour_sql(where: str) -> str:
    return (
        "SELECT substr(created_at, 1, 13) AS hour, count(*) FROM jobs"
        f" WHERE {where} GROUP BY hour ORDER BY hour"
    )


def _counts_sql(key: str, where: str) -> str:
    return (
        f"SELECT {key} AS k, {_OUTCOME_SQL} AS outcome, count(*) FROM jobs WHERE {where}"
        " GROUP BY k, outcome"
    )


def _cost_sql(key: str, where: str) -> str:
    return (
        f"SELECT {key} AS k, total(cost_ticks),"
        " count(CASE WHEN status = 'complete' AND cost_ticks IS NOT NULL THEN 1 END),"
        " total(CASE WHEN status = 'complete' THEN cost_ticks END),"
        " total(CASE WHEN status = 'complete' AND cost_ticks IS NOT NULL"
        " THEN video_duration END)"
        f" FROM jobs WHERE {where} GROUP BY k"
    )


def _spread_sql(key: str, value: str, which: str, where: str) -> str:
    """Every value of ``value`` over the jobs ``which``, one list per key."""
    return (
        f"SELECT k, group_concat(x) FROM (SELECT {key} AS k, {value} AS x FROM jobs"
        f" WHERE {where} AND {which}) WHERE x IS NOT NULL GROUP BY k"
    )
