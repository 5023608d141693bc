"""The stats summary (migration 017): what `imagine stats` needs of every job, kept as jobs are
written, so that a report reads a few thousand small rows and walks a few indexes instead of
reading every job.

Each job counts for one ``Tally``: its outcome, its charge, and its value of each spread (latency
stages, polls, detection lag) in integer ms. Two tables hold the tallies:

- ``stats_summary``: one row per UTC day, model, resolution, mode and template: how many jobs, per
  outcome, per hour, the cost sums, each spread's count and sum (its mean) and the total-latency
  histogram's counts;
- ``stats_values``: each job's value of each spread, indexed by spread and value (and by spread,
  group and value for each --by column), so that a percentile is the value found after stepping
  over the right number of index entries (``LIMIT 1 OFFSET k``), exact, sorted by the database.

The ledger keeps both up to date in the transaction of each job write (``Ledger.insert``,
``Ledger.write``, ``Ledger.delete``): the job's tally before the write is taken out and the one
after put in. Plain SQL both SQLite and PostgreSQL run; no trigger.
"""

from __future__ import annotations

import bisect
import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from imagine.clock import parse

# The job columns a tally is made of: a write that sets none of them leaves the summary alone.
FIELDS = (
    "id",
    "created_at",
    "status",
    "block_source",
    "model",
    "resolution",
    "mode",
    "template_name",
    "template_version",
    "submitted_at",
    "completed_at",
    "downloaded_at",
    "last_pending_at",
    "poll_count",
    "cost_ticks",
    "video_duration",
)
_LIVE = frozenset(("queued", "submitting", "running", "downloading"))
# Spreads, in the order of the report: four latency stages, polls per job, detection lag.
SPREADS = ("queued", "rendering", "downloading", "total", "polls", "detection_lag")
# Buckets of the total-latency histogram, in seconds: [from, to).
HISTOGRAM_EDGES = (0, 10, 30, 60, 120, 300, 600, 1800)
# The stats_values column of each --by: a group's values are an index range of its own.
GROUP_COLUMNS = ("model", "resolution", "mode", "template")
# A summary key's columns; a missing resolution or template is stored as "" (key columns are
# NOT NULL: a primary key may hold no NULL in PostgreSQL).
KEY_COLUMNS = ("day", "model", "resolution", "mode", "template")


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


Key = tuple[str, str, str, str, str]


@dataclass(frozen=True)
class Tally:
    """What one job counts for in the stats."""

    job_id: str
    created_at: str
    key: Key
    hour: str  # "14": the hour of the day it was created (UTC)
    outcome: Outcome
    charged_ticks: int  # its recorded charge, whatever its outcome
    render: bool  # complete, with a charge: counts for cost per render and per output second
    seconds_us: int  # its video's length in microseconds, when ``render``
    values: tuple[int | None, ...]  # one per SPREADS, None where the job has none


def template_key(name: str | None, version: int | None) -> str | None:
    """A template's group: its name and version apart (an A/B of v2 against v3)."""
    if name is None:
        return None
    return f"{name} v{'?' if version is None else version}"


def _ms(start: str | None, end: str | None, per: int = 1) -> int | None:
    """The ms from ``start`` to ``end`` (divided by ``per``); None when either is missing or is
    no time (a hand-edited row must not stop every later write of its job)."""
    if not start or not end:
        return None
    try:
        return round((parse(end) - parse(start)) * 1000 / per)
    except (TypeError, ValueError):
        return None


def outcome_of(status: str, block_source: str | None) -> Outcome:
    if status == "blocked":
        return Outcome.BLOCKED_LOCAL if block_source == "local" else Outcome.BLOCKED_PROVIDER
    return Outcome.LIVE if status in _LIVE else Outcome(status)


def tally(job: Mapping[str, Any]) -> Tally:
    """The tally of a job from its columns (FIELDS). Latency is of complete jobs; a stage whose
    two times are not both known (an imported render was never submitted here) has none. Polls
    are of submitted jobs no longer live; detection lag is half the window between the last poll
    that found the job pending and the one that found it done."""
    status = job["status"]
    created, submitted = job["created_at"], job["submitted_at"]
    completed, downloaded = job["completed_at"], job["downloaded_at"]
    complete = status == "complete"
    latency = (
        (
            _ms(created, submitted),
            _ms(submitted, completed),
            _ms(completed, downloaded),
            _ms(created, downloaded),
        )
        if complete
        else (None, None, None, None)
    )
    settled = bool(created and submitted) and status not in _LIVE
    ticks = job["cost_ticks"]
    render = complete and ticks is not None
    template = template_key(job["template_name"], job["template_version"])
    key = (created[:10], job["model"], job["resolution"] or "", job["mode"], template or "")
    return Tally(
        job_id=job["id"],
        created_at=created,
        key=key,
        hour=created[11:13],
        outcome=outcome_of(status, job["block_source"]),
        charged_ticks=ticks or 0,
        render=render,
        seconds_us=round((job["video_duration"] or 0) * 1_000_000) if render else 0,
        values=(
            *latency,
            job["poll_count"] if settled else None,
            _ms(job["last_pending_at"], completed, 2),
        ),
    )


@dataclass
class Figures:
    """The summary of a set of jobs (one row's, or a report group's): counts and sums."""

    jobs: int = 0
    hours: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    charged_ticks: int = 0
    renders: int = 0
    render_ticks: int = 0
    seconds_us: int = 0
    # Per spread: how many jobs have a value, and the values' sum.
    spreads: dict[str, list[int]] = field(default_factory=lambda: {s: [0, 0] for s in SPREADS})
    histogram: list[int] = field(default_factory=lambda: [0] * len(HISTOGRAM_EDGES))

    def add(self, one: Tally, sign: int = 1) -> bool:
        """Count ``one`` in (sign 1) or take it out (sign -1). False when it cannot have been
        counted here (a job the summary does not hold as it is: the row was changed behind the
        ledger's back), and then the figures are of no use."""
        self.jobs += sign
        self.charged_ticks += sign * one.charged_ticks
        if one.render:
            self.renders += sign
            self.render_ticks += sign * one.charged_ticks
            self.seconds_us += sign * one.seconds_us
        held = _bump(self.hours, one.hour, sign) and _bump(self.outcomes, one.outcome, sign)
        for name, value in zip(SPREADS, one.values, strict=True):
            if value is not None:
                spread = self.spreads[name]
                spread[0] += sign
                spread[1] += sign * value
                held = held and spread[0] >= 0
        at = _bucket(one.values[SPREADS.index("total")])
        if at is not None:
            self.histogram[at] += sign
            held = held and self.histogram[at] >= 0
        return held and self.jobs >= 0

    def merge(self, other: Figures) -> None:
        self.jobs += other.jobs
        for name, n in other.hours.items():
            self.hours[name] = self.hours.get(name, 0) + n
        for name, n in other.outcomes.items():
            self.outcomes[name] = self.outcomes.get(name, 0) + n
        self.charged_ticks += other.charged_ticks
        self.renders += other.renders
        self.render_ticks += other.render_ticks
        self.seconds_us += other.seconds_us
        for name, (count, total) in other.spreads.items():
            spread = self.spreads[name]
            spread[0] += count
            spread[1] += total
        self.histogram = [a + b for a, b in zip(self.histogram, other.histogram, strict=True)]

    def to_json(self) -> str:
        return json.dumps(
            [
                self.hours,
                self.outcomes,
                [self.charged_ticks, self.renders, self.render_ticks, self.seconds_us],
                [self.spreads[name] for name in SPREADS],
                self.histogram,
            ],
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, jobs: int, text: str) -> Figures:
        hours, outcomes, cost, spreads, histogram = json.loads(text)
        charged, renders, render_ticks, seconds_us = cost
        figures = dict(zip(SPREADS, spreads, strict=True))
        return cls(
            jobs, hours, outcomes, charged, renders, render_ticks, seconds_us, figures, histogram
        )


_EDGES_MS = [edge * 1000 for edge in HISTOGRAM_EDGES]


def _bucket(total_ms: int | None) -> int | None:
    """The histogram bucket of a total latency (None: none, or below the first edge)."""
    if total_ms is None:
        return None
    at = bisect.bisect_right(_EDGES_MS, total_ms) - 1
    return at if at >= 0 else None


def _bump(counts: dict[str, int], name: str, sign: int) -> bool:
    """Add ``sign`` to a count; False if it would go below zero."""
    n = counts.get(name, 0) + sign
    if n:
        counts[name] = n
    else:
        counts.pop(name, None)
    return n >= 0


_WHERE_KEY = " AND ".join(f"{column} = ?" for column in KEY_COLUMNS)


def apply(conn: sqlite3.Connection, before: Tally | None, after: Tally | None) -> None:
    """Inside the caller's transaction, once the job's row is written, move its tally in the
    summary from ``before`` (None: a new job) to ``after`` (None: a deleted job). Nothing is
    written when they are equal. Should ``before`` not be in the summary (a row changed by SQL
    of someone else's), the whole summary is made afresh from the jobs as they now are."""
    if before == after:
        return
    _move_values(conn, before, after)
    changes: dict[Key, list[tuple[Tally, int]]] = {}
    if before is not None:
        changes.setdefault(before.key, []).append((before, -1))
    if after is not None:
        changes.setdefault(after.key, []).append((after, 1))
    for key, moves in changes.items():
        row = conn.execute(
            f"SELECT jobs, figures FROM stats_summary WHERE {_WHERE_KEY}", key
        ).fetchone()
        figures = Figures.from_json(row[0], row[1]) if row else Figures()
        if not all([figures.add(one, sign) for one, sign in moves]):
            rebuild(conn)
            return
        _store(conn, key, figures, exists=row is not None)


def _values(one: Tally) -> list[tuple[Any, ...]]:
    _, model, resolution, mode, template = one.key
    return [
        (one.job_id, name, value, one.created_at, model, resolution, mode, template)
        for name, value in zip(SPREADS, one.values, strict=True)
        if value is not None
    ]


_INSERT_VALUES = (
    "INSERT INTO stats_values (job_id, spread, value, created_at, model, resolution, mode,"
    " template) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def _move_values(conn: sqlite3.Connection, before: Tally | None, after: Tally | None) -> None:
    old, new = (_values(one) if one else [] for one in (before, after))
    if old == new:
        return
    if old:
        conn.execute("DELETE FROM stats_values WHERE job_id = ?", (old[0][0],))
    if new:
        conn.executemany(_INSERT_VALUES, new)


def _store(conn: sqlite3.Connection, key: Key, figures: Figures, *, exists: bool) -> None:
    if figures.jobs == 0:
        conn.execute(f"DELETE FROM stats_summary WHERE {_WHERE_KEY}", key)
    elif exists:
        conn.execute(
            f"UPDATE stats_summary SET jobs = ?, figures = ? WHERE {_WHERE_KEY}",
            (figures.jobs, figures.to_json(), *key),
        )
    else:
        conn.execute(
            f"INSERT INTO stats_summary ({', '.join(KEY_COLUMNS)}, jobs, figures)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (*key, figures.jobs, figures.to_json()),
        )


SELECT_FIELDS = f"SELECT {', '.join(FIELDS)} FROM jobs"


def fields_of(conn: sqlite3.Connection, job_id: str) -> dict[str, Any] | None:
    """The job's FIELDS as the ledger holds them now (None: no such job)."""
    row = conn.execute(f"{SELECT_FIELDS} WHERE id = ?", (job_id,)).fetchone()
    return dict(zip(FIELDS, row, strict=True)) if row else None


def tally_of(conn: sqlite3.Connection, job_id: str) -> Tally | None:
    """The job's tally as the ledger holds it now (None: no such job)."""
    fields = fields_of(conn, job_id)
    return tally(fields) if fields else None


def changed(fields: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A job's FIELDS once ``values`` are written over them (as SQLite stores them: a word of a
    StrEnum as its text), without reading the row again."""
    after = dict(fields)
    for name, value in values.items():
        if name in after:
            after[name] = str(value) if isinstance(value, StrEnum) else value
    return after


def tallies(rows: Iterable[Iterable[Any]]) -> Iterable[Tally]:
    """Tallies of rows selected with SELECT_FIELDS."""
    for row in rows:
        yield tally(dict(zip(FIELDS, row, strict=True)))


def rebuild(conn: sqlite3.Connection) -> None:
    """Inside the caller's transaction, the whole summary made afresh from the jobs (the
    backfill of migration 017, and the cure should a write ever bypass the ledger)."""
    rows: dict[Key, Figures] = {}
    values: list[tuple[Any, ...]] = []
    for one in tallies(conn.execute(SELECT_FIELDS).fetchall()):
        rows.setdefault(one.key, Figures()).add(one)
        values += _values(one)
    conn.execute("DELETE FROM stats_summary")
    conn.execute("DELETE FROM stats_values")
    conn.executemany(_INSERT_VALUES, values)
    for key, figures in rows.items():
        _store(conn, key, figures, exists=False)
