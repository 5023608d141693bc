"""The stats summary (migration 017): what `imagine stats` needs of every job, kept as jobs are
written, so that a report sums a few thousand rows and walks a few indexes in SQL instead of
reading every job.

Each job counts for one ``Tally``: its outcome, its charge, and its value of each spread (latency
stages, polls, detection lag) in integer ms. Three tables hold the tallies:

- ``stats_summary``: one row per UTC day, model, resolution, mode and template, of counts and sums
  (COUNTS): jobs, per outcome, the cost sums, each spread's count and sum (its mean) and the
  total-latency histogram;
- ``stats_hours``: jobs created per hour;
- ``stats_values``: each job's value of each spread, indexed by spread and value (and by spread,
  group and value for each --by column), so that a percentile is the value found after stepping
  over the right number of index entries (``LIMIT 1 OFFSET k``): exact, sorted by the database.

The ledger keeps them up to date in the transaction of each job write (``Ledger.insert``,
``Ledger.write``, ``Ledger.delete``): the job's tally before the write is taken out and the one
after put in, as additions to counts (``ON CONFLICT ... DO UPDATE SET n = n + ...``), so writers
never read a summary row to change it. Plain SQL both SQLite and PostgreSQL run; no trigger.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from imagine.clock import parse

if TYPE_CHECKING:
    from imagine.ledger.db import Connection

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


# The summary's counts and sums, in the order of its columns.
COUNTS = (
    "jobs",
    *(f"n_{outcome}" for outcome in Outcome),
    "charged_ticks",
    "renders",
    "render_ticks",
    "seconds_us",
    *(f"{spread}_{what}" for spread in SPREADS for what in ("n", "sum")),
    *(f"hist_{at}" for at in range(len(HISTOGRAM_EDGES))),
)
_AT = {name: at for at, name in enumerate(COUNTS)}
_EDGES_MS = [edge * 1000 for edge in HISTOGRAM_EDGES]


def counts(one: Tally) -> list[int]:
    """What one job adds to each of COUNTS."""
    row = [0] * len(COUNTS)
    row[0] = 1
    row[_AT[f"n_{one.outcome}"]] = 1
    row[_AT["charged_ticks"]] = one.charged_ticks
    if one.render:
        row[_AT["renders"]] = 1
        row[_AT["render_ticks"]] = one.charged_ticks
        row[_AT["seconds_us"]] = one.seconds_us
    for name, value in zip(SPREADS, one.values, strict=True):
        if value is not None:
            row[_AT[f"{name}_n"]] = 1
            row[_AT[f"{name}_sum"]] = value
    total = one.values[SPREADS.index("total")]
    if total is not None and total >= 0:
        row[_AT[f"hist_{bisect.bisect_right(_EDGES_MS, total) - 1}"]] = 1
    return row


@dataclass
class Figures:
    """The counts and sums of a set of jobs (COUNTS, in order)."""

    counts: list[int] = field(default_factory=lambda: [0] * len(COUNTS))

    def add(self, more: Iterable[int]) -> None:
        self.counts = [a + b for a, b in zip(self.counts, more, strict=True)]

    def __getitem__(self, name: str) -> int:
        return self.counts[_AT[name]]

    @property
    def jobs(self) -> int:
        return self.counts[0]

    @property
    def outcomes(self) -> dict[Outcome, int]:
        return {o: n for o in Outcome if (n := self[f"n_{o}"])}

    def spread(self, name: str) -> tuple[int, int]:
        """How many jobs have a value of the spread, and the values' sum."""
        return self[f"{name}_n"], self[f"{name}_sum"]

    @property
    def histogram(self) -> list[int]:
        return [self[f"hist_{at}"] for at in range(len(HISTOGRAM_EDGES))]


# Counts that can never be below zero while every job write goes through the ledger.
_NEVER_NEGATIVE = [n for n in COUNTS if not n.endswith(("ticks", "_us", "_sum"))]


def in_step(conn: Connection) -> bool:
    """Whether no count is below zero: one is when a job was changed by SQL that bypassed the
    ledger, and then taken out of the summary as the ledger did not count it."""
    negative = " OR ".join(f"{name} < 0" for name in _NEVER_NEGATIVE)
    found = conn.execute(
        f"SELECT 1 FROM stats_summary WHERE {negative}"
        " UNION ALL SELECT 1 FROM stats_hours WHERE jobs < 0"
    ).fetchone()
    return found is None


# The indexes of stats_values, each covering its queries (created_at for --since), so that a
# step of a percentile's walk is one index entry: all jobs, and one per --by column.
VALUE_INDEXES = [
    ("stats_values_all", "spread, value, created_at"),
    *((f"stats_values_{c}", f"spread, {c}, value, created_at") for c in GROUP_COLUMNS),
]
_INSERT_VALUES = (
    "INSERT INTO stats_values (job_id, spread, value, created_at, model, resolution, mode,"
    " template) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_ADD_COUNTS = (
    f"INSERT INTO stats_summary ({', '.join((*KEY_COLUMNS, *COUNTS))})"
    f" VALUES ({', '.join('?' for _ in (*KEY_COLUMNS, *COUNTS))})"
    f" ON CONFLICT ({', '.join(KEY_COLUMNS)}) DO UPDATE SET "
    + ", ".join(f"{name} = stats_summary.{name} + excluded.{name}" for name in COUNTS)
)
_ADD_HOUR = (
    "INSERT INTO stats_hours (hour, jobs) VALUES (?, ?)"
    " ON CONFLICT (hour) DO UPDATE SET jobs = stats_hours.jobs + excluded.jobs"
)


def apply(conn: Connection, before: Tally | None, after: Tally | None) -> None:
    """Inside the caller's transaction, once the job's row is written, move its tally in the
    summary from ``before`` (None: a new job) to ``after`` (None: a deleted job). Nothing is
    written when they are equal."""
    if before == after:
        return
    _move_values(conn, before, after)
    changes: dict[Key, list[int]] = {}
    hours: Counter[str] = Counter()
    for one, sign in ((before, -1), (after, 1)):
        if one is None:
            continue
        row = changes.setdefault(one.key, [0] * len(COUNTS))
        changes[one.key] = [a + sign * b for a, b in zip(row, counts(one), strict=True)]
        hours[one.created_at[:13]] += sign
    for key, row in changes.items():
        if any(row):
            conn.execute(_ADD_COUNTS, (*key, *row))
    for hour, n in hours.items():
        if n:
            conn.execute(_ADD_HOUR, (hour, n))


def _values(one: Tally) -> list[tuple[Any, ...]]:
    _, model, resolution, mode, template = one.key
    return [
        (one.job_id, name, value, one.created_at, model, resolution, mode, template)
        for name, value in zip(SPREADS, one.values, strict=True)
        if value is not None
    ]


def _move_values(conn: Connection, before: Tally | None, after: Tally | None) -> None:
    old, new = (_values(one) if one else [] for one in (before, after))
    if old == new:
        return
    # Every row of the job goes, not just those its old fields predict: a row the fields no longer
    # account for (the job's row changed by hand, or by an older imagine) would refuse the insert.
    conn.execute("DELETE FROM stats_values WHERE job_id = ?", ((old or new)[0][0],))
    if new:
        conn.executemany(_INSERT_VALUES, new)


SELECT_FIELDS = f"SELECT {', '.join(FIELDS)} FROM jobs"


def fields_of(conn: Connection, job_id: str) -> dict[str, Any] | None:
    """The job's FIELDS as the ledger holds them now (None: no such job)."""
    row = conn.execute(f"{SELECT_FIELDS} WHERE id = ?", (job_id,)).fetchone()
    return dict(zip(FIELDS, row, strict=True)) if row else None


def tally_of(conn: Connection, job_id: str) -> Tally | None:
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


def rebuild(conn: Connection) -> None:
    """Inside the caller's transaction, the whole summary made afresh from the jobs (the
    backfill of migration 017, and the cure should a write ever bypass the ledger)."""
    rows: dict[Key, Figures] = {}
    hours: Counter[str] = Counter()
    values: list[tuple[Any, ...]] = []
    for one in tallies(conn.execute(SELECT_FIELDS).fetchall()):
        rows.setdefault(one.key, Figures()).add(counts(one))
        hours[one.created_at[:13]] += 1
        values += _values(one)
    for table in ("stats_summary", "stats_hours", "stats_values"):
        conn.execute(f"DELETE FROM {table}")
    conn.executemany(_ADD_COUNTS, [(*key, *figures.counts) for key, figures in rows.items()])
    conn.executemany(_ADD_HOUR, hours.items())
    # Sorting all values once per index is far cheaper than adding them one by one to each.
    for name, _ in VALUE_INDEXES:
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    conn.executemany(_INSERT_VALUES, values)
    for name, columns in VALUE_INDEXES:
        conn.execute(f"CREATE INDEX {name} ON stats_values({columns})")
