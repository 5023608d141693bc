"""`imagine stats`: where time and money went, read from the ledger.

The figures come from the stats summary the ledger keeps as jobs are written (ledger/summary.py,
migration 017): the counts and sums of each group summed by SQL over its rows (one per UTC day,
model, resolution, mode and template), and each percentile read from an index of every job's
values in ms by stepping over as many entries as its rank. With --since, the jobs of the window's
first, partial day are tallied from their own rows. Every figure is exact. The events come from
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

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from imagine.api.contract import TICKS_PER_USD
from imagine.ledger import summary
from imagine.ledger.store import Ledger
from imagine.ledger.summary import HISTOGRAM_EDGES, Figures
from imagine.ledger.summary import Outcome as Outcome  # `imagine stats` names its outcomes
from imagine.lifecycle import EventKind

if TYPE_CHECKING:
    from imagine.ledger.db import Connection


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


class _OutOfStep(Exception):
    """The stats summary lacks values its counts promise: jobs were changed by SQL that did not
    go through the ledger."""


def report(ledger: Ledger, *, since: str | None = None, by: GroupBy | None = None) -> Report:
    """The whole `imagine stats` answer for jobs created since ``since`` (an ISO time; all
    jobs when None), with one group per ``by`` value besides the totals."""
    try:
        return _report(ledger.conn, since, by)
    except _OutOfStep:
        with ledger.transaction() as conn:
            summary.rebuild(conn)
        return _report(ledger.conn, since, by)


def _report(conn: Connection, since: str | None, by: GroupBy | None) -> Report:
    first_day = _first_day(conn, since) if since else []
    parts = _figures(conn, since, by, first_day)
    all_jobs = Figures()
    for figures in parts.values():
        all_jobs.add(figures.counts)
    per_hour = _per_hour(conn, since, first_day)
    if not summary.in_step(conn):
        raise _OutOfStep
    values = _Values(conn, since)
    groups = [_group(values, by, key, figures) for key, figures in parts.items()] if by else []
    groups.sort(key=lambda g: (-g.jobs, g.key or ""))
    events = _event_counts(conn, since)
    none = (0, 0.0)
    reused, attached = events.get(EventKind.REUSED, none), events.get(EventKind.ATTACHED, none)
    highs: list[float | None] = [*HISTOGRAM_EDGES[1:], None]
    return Report(
        since=since,
        by=by,
        overall=_group(values, None, None, all_jobs),
        groups=groups,
        reused=reused[0],
        attached=attached[0],
        saved_usd=reused[1] + attached[1],
        rate_limited=events.get(EventKind.RATE_LIMITED, none)[0],
        resubmitted=events.get(EventKind.RETRIED, none)[0],
        answers_lost=events.get(EventKind.ANSWER_LOST, none)[0],
        histogram=list(zip(HISTOGRAM_EDGES, highs, all_jobs.histogram, strict=True)),
        per_hour=per_hour,
    )


def _next_day(since: str) -> str:
    return (date.fromisoformat(since[:10]) + timedelta(days=1)).isoformat()


def _first_day(conn: Connection, since: str) -> list[summary.Tally]:
    """The tallies of the jobs created on the window's first, partial day, from their rows."""
    rows = conn.execute(
        f"{summary.SELECT_FIELDS} WHERE created_at >= ? AND created_at < ?",
        (since, _next_day(since)),
    )
    return list(summary.tallies(rows.fetchall()))


def _figures(
    conn: Connection,
    since: str | None,
    by: GroupBy | None,
    first_day: list[summary.Tally],
) -> dict[str | None, Figures]:
    """The counts and sums of each group (one, None, without ``by``) of the jobs created since
    ``since``: summed by SQL over the summary's whole days, plus the first day's jobs."""
    column = str(by) if by else "''"
    sums = ", ".join(f"SUM({name})" for name in summary.COUNTS)
    sql = f"SELECT {column}, {sums} FROM stats_summary"
    params: tuple[str, ...] = ()
    if since is not None:
        sql += " WHERE day >= ?"
        params = (_next_day(since),)
    if by:
        sql += f" GROUP BY {column}"
    found: dict[str | None, Figures] = {}
    for row in conn.execute(sql, params):
        if row[1]:  # no jobs: SUM over no rows, or only rows whose jobs are gone
            found[row[0] or None] = Figures([int(n) for n in row[1:]])  # PostgreSQL: numeric
    for one in first_day:
        key = one.key[_KEY_AT[by]] or None if by else None
        found.setdefault(key, Figures()).add(summary.counts(one))
    return found


def _per_hour(
    conn: Connection, since: str | None, first_day: list[summary.Tally]
) -> list[tuple[str, int]]:
    sql = "SELECT hour, jobs FROM stats_hours WHERE jobs <> 0"
    if since is None:
        return [(hour, n) for hour, n in conn.execute(f"{sql} ORDER BY hour")]
    hours = Counter(one.created_at[:13] for one in first_day)
    hours.update(dict(conn.execute(f"{sql} AND hour >= ?", (_next_day(since),)).fetchall()))
    return sorted(hours.items())


class _Values:
    """The n-th smallest value of a spread among the jobs of a group in the window: the entry
    found after stepping over n entries of its stats_values index (ledger/summary.py), from
    whichever end is nearer."""

    def __init__(self, conn: Connection, since: str | None) -> None:
        self.conn = conn
        self.since = since

    def nth(self, spread: str, by: GroupBy | None, key: str | None, n: int, count: int) -> int:
        where, params = ["spread = ?"], [spread]
        if by is not None:
            where.append(f"{by} = ?")
            params.append(key or "")
        if self.since is not None:
            where.append("created_at >= ?")
            params.append(self.since)
        descending = n > count // 2
        row = self.conn.execute(
            f"SELECT value FROM stats_values WHERE {' AND '.join(where)}"
            f" ORDER BY value{' DESC' if descending else ''} LIMIT 1 OFFSET ?",
            (*params, count - 1 - n if descending else n),
        ).fetchone()
        if row is None:
            raise _OutOfStep
        return int(row[0])


def _group(values: _Values, by: GroupBy | None, key: str | None, figures: Figures) -> Group:
    def spread(name: str, per: int = 1) -> Spread:
        count, total = figures.spread(name)
        if not count:
            return Spread(0)
        p50, p90, p95, top = (
            values.nth(name, by, key, n, count) / per
            for n in (*(max(0, -(-count * p // 100) - 1) for p in PERCENTS), count - 1)
        )
        return Spread(count, p50, p90, p95, top, total / count / per)

    return Group(
        key=key,
        jobs=figures.jobs,
        outcomes=figures.outcomes,
        latency={name: spread(name, 1000) for name in LATENCY},
        cost=Cost(
            figures["charged_ticks"] / TICKS_PER_USD,
            figures["renders"],
            figures["render_ticks"] / TICKS_PER_USD,
            figures["seconds_us"] / 1_000_000,
        ),
        polls=spread("polls"),
        detection_lag=spread("detection_lag", 1000),
    )


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
    window = "AND at >= ?" if since else ""
    sql = (
        "SELECT event, count(*), total(CAST(json_extract(detail_json, '$.saved_usd') AS REAL))"
        f" FROM job_events WHERE event IN ({kinds}) {window} GROUP BY event"
    )
    rows = conn.execute(sql, (since,) if since else ())
    return {row[0]: (row[1], row[2]) for row in rows}
