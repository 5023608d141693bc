"""Where the money went: spend and what is left of each budget, from the ledger alone.

Every figure counts a job at its ``spent_at`` (the moment it was sent, when its estimate was
reserved) in the budget's calendar (``budget.timezone``, else local time), exactly as the caps
do. Totals are the provider's recorded charges (``cost_ticks``) only; the reservations of jobs
sent and not yet charged, and the estimates of jobs still queued, are reported apart, never
added in. Jobs of the in-process simulator (--sim) are free and not counted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from imagine import clock
from imagine.errors import UsageError
from imagine.ledger.reserve import FREE_BASE_URL, SPEND_TICKS, spend_ticks
from imagine.money.caps import Budget, Cap, Period
from imagine.money.pricing import ticks_to_usd

if TYPE_CHECKING:
    from imagine.ledger.db import Connection

DEFAULT_DAYS = 30
_DAYS_PER_QUERY = 300  # (label, start, end) triples, under SQLite's older 999-parameter limit


class By(StrEnum):
    DAY = "day"
    MODEL = "model"
    PROJECT = "project"
    TEMPLATE = "template"


# The expression a breakdown groups by (day is grouped on calendar windows instead).
_KEYS = {
    By.MODEL: "model || ' ' || COALESCE(resolution, '-')",
    By.PROJECT: "project_dir",
    By.TEMPLATE: "COALESCE(template_name || ' v' || COALESCE(CAST(template_version AS TEXT), '?'), '-')",
}
# Held reservations: a job sent, without a charge, whose reservation was not released.
_RESERVED = f"CASE WHEN cost_ticks IS NULL THEN {SPEND_TICKS} ELSE 0 END"


@dataclass(frozen=True)
class Group:
    """One line of a breakdown: the charges recorded, and apart, the reservations held."""

    key: str
    jobs: int  # jobs sent in the window (charged or not)
    charged_ticks: int
    reserved_ticks: int

    @property
    def charged_usd(self) -> float:
        return ticks_to_usd(self.charged_ticks)

    @property
    def reserved_usd(self) -> float:
        return ticks_to_usd(self.reserved_ticks)

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "jobs": self.jobs,
            "charged_usd": round(self.charged_usd, 6),
            "charged_ticks": self.charged_ticks,
            "reserved_usd": round(self.reserved_usd, 6),
        }


@dataclass(frozen=True)
class Allowance:
    """A cap and what is left of it now."""

    rule: str
    scope: str  # user | project
    period: str
    cap_usd: float
    charged_usd: float
    reserved_usd: float
    project_dir: str | None

    @property
    def left_usd(self) -> float:
        return max(0.0, self.cap_usd - self.charged_usd - self.reserved_usd)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["left_usd"] = round(self.left_usd, 6)
        for name in ("charged_usd", "reserved_usd"):
            data[name] = round(data[name], 6)
        return data


@dataclass(frozen=True)
class Spend:
    charged_usd: float
    reserved_usd: float

    def as_json(self) -> dict[str, Any]:
        return {
            "charged_usd": round(self.charged_usd, 6),
            "reserved_usd": round(self.reserved_usd, 6),
        }


@dataclass(frozen=True)
class Usage:
    timezone: str
    since: date  # the first calendar day counted
    until: date  # today
    by: By
    charged_ticks: int  # the total: recorded charges only
    jobs_charged: int
    reserved_ticks: int  # apart: held for jobs sent and not yet charged
    queued_estimate_usd: float  # apart: jobs not yet sent
    today: Spend
    month: Spend
    allowances: tuple[Allowance, ...]
    groups: tuple[Group, ...]

    @property
    def charged_usd(self) -> float:
        return ticks_to_usd(self.charged_ticks)

    def as_json(self) -> dict[str, Any]:
        return {
            "timezone": self.timezone,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "by": str(self.by),
            "charged_usd": round(self.charged_usd, 6),
            "charged_ticks": self.charged_ticks,
            "jobs_charged": self.jobs_charged,
            "reserved_usd": round(ticks_to_usd(self.reserved_ticks), 6),
            "queued_estimate_usd": round(self.queued_estimate_usd, 6),
            "today": self.today.as_json(),
            "month": self.month.as_json(),
            "budgets": [allowance.as_json() for allowance in self.allowances],
            "groups": [group.as_json() for group in self.groups],
        }


def parse_since(text: str | None, today: date) -> date:
    """``7d`` (the last 7 calendar days, today included) or a date (2026-11-01)."""
    if text is None:
        return today - timedelta(days=DEFAULT_DAYS - 1)
    value = text.strip().lower()
    days = re.fullmatch(r"(\d{1,5})d", value)
    if days:
        count = int(days.group(1))
        if count < 1:
            raise UsageError(f"--since {text}: give 1d or more, or a date like 2026-11-01")
        return today - timedelta(days=count - 1)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"--since {text!r} is neither a number of days (7d) nor a date (2026-11-01)"
        ) from None


def report(
    conn: Connection,
    budget: Budget,
    *,
    since: str | None = None,
    by: By = By.DAY,
    now: float | None = None,
) -> Usage:
    moment = clock.now() if now is None else now
    zone = budget.zone()
    today = datetime.fromtimestamp(moment, zone).date()
    first = parse_since(since, today)
    start = _midnight(first, budget)
    end = budget.window(Period.DAY, moment)[1]
    charged, jobs_charged, reserved = _totals(conn, start, end)
    groups = _days(conn, first, today, budget) if by is By.DAY else _grouped(conn, by, start, end)
    return Usage(
        timezone=budget.timezone or _local_zone_name(),
        since=first,
        until=today,
        by=by,
        charged_ticks=charged,
        jobs_charged=jobs_charged,
        reserved_ticks=reserved,
        queued_estimate_usd=_queued(conn),
        today=_spend(conn, budget, Period.DAY, moment),
        month=_spend(conn, budget, Period.MONTH, moment),
        allowances=allowances(conn, budget, moment),
        groups=groups,
    )


def _local_zone_name() -> str:
    return datetime.now().astimezone().tzname() or "local"


def _midnight(day: date, budget: Budget) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=budget.zone()).timestamp()


_COUNTED = "spent_at >= ? AND spent_at < ? AND base_url != ?"


def _totals(conn: Connection, start: float, end: float) -> tuple[int, int, int]:
    charged, jobs, reserved = conn.execute(
        "SELECT COALESCE(SUM(cost_ticks), 0), COUNT(cost_ticks),"
        f" COALESCE(SUM({_RESERVED}), 0) FROM jobs WHERE {_COUNTED}",
        (clock.iso(start), clock.iso(end), FREE_BASE_URL),
    ).fetchone()
    return int(charged), int(jobs), int(reserved)


def _grouped(conn: Connection, by: By, start: float, end: float) -> tuple[Group, ...]:
    rows = conn.execute(
        f"SELECT {_KEYS[by]} AS key, COUNT(*), COALESCE(SUM(cost_ticks), 0),"
        f" COALESCE(SUM({_RESERVED}), 0) FROM jobs WHERE {_COUNTED}"
        " GROUP BY key ORDER BY 3 DESC, key",
        (clock.iso(start), clock.iso(end), FREE_BASE_URL),
    )
    return tuple(Group(str(key), int(n), int(c), int(r)) for key, n, c, r in rows)


def _days(conn: Connection, first: date, last: date, budget: Budget) -> tuple[Group, ...]:
    """Every calendar day from ``first`` to ``last``, days without spend included (a chart's
    gaps are news too). Each day is a window on the spent_at index."""
    windows: list[tuple[str, str, str]] = []
    day = first
    while day <= last:
        following = day + timedelta(days=1)
        start, end = _midnight(day, budget), _midnight(following, budget)
        windows.append((day.isoformat(), clock.iso(start), clock.iso(end)))
        day = following
    found: dict[str, Group] = {}
    for at in range(0, len(windows), _DAYS_PER_QUERY):
        chunk = windows[at : at + _DAYS_PER_QUERY]
        values = ", ".join("(?, ?, ?)" for _ in chunk)
        rows = conn.execute(
            f"WITH days(day, day_start, day_end) AS (VALUES {values})"
            " SELECT day, COUNT(jobs.id), COALESCE(SUM(cost_ticks), 0),"
            f" COALESCE(SUM({_RESERVED}), 0)"
            " FROM days JOIN jobs ON spent_at >= day_start AND spent_at < day_end AND base_url != ?"
            " GROUP BY day",
            (*(value for window in chunk for value in window), FREE_BASE_URL),
        )
        found.update((d, Group(d, int(n), int(c), int(r))) for d, n, c, r in rows)
    return tuple(found.get(label, Group(label, 0, 0, 0)) for label, _, _ in windows)


def _queued(conn: Connection) -> float:
    (total,) = conn.execute(
        "SELECT COALESCE(SUM(cost_estimate_usd), 0) FROM jobs WHERE status = 'queued'"
        " AND base_url != ?",
        (FREE_BASE_URL,),
    ).fetchone()
    return float(total)


def _spend(conn: Connection, budget: Budget, period: Period, now: float) -> Spend:
    charged, reserved = spend_ticks(conn, *budget.window(period, now))
    return Spend(ticks_to_usd(charged), ticks_to_usd(reserved))


def _allowance(conn: Connection, budget: Budget, cap: Cap, now: float) -> Allowance:
    charged, reserved = spend_ticks(conn, *budget.window(cap.period, now), cap.project_dir)
    return Allowance(
        rule=cap.rule,
        scope="project" if cap.project_dir else "user",
        period=str(cap.period),
        cap_usd=cap.usd,
        charged_usd=ticks_to_usd(charged),
        reserved_usd=ticks_to_usd(reserved),
        project_dir=cap.project_dir,
    )


def allowances(conn: Connection, budget: Budget, now: float | None = None) -> tuple[Allowance, ...]:
    """Every cap of ``budget`` with what is left of it now."""
    moment = clock.now() if now is None else now
    return tuple(_allowance(conn, budget, cap, moment) for cap in budget.caps)


def left(allowances: Sequence[Allowance]) -> Allowance | None:
    """The tightest of the caps: the one with the least left."""
    return min(allowances, key=lambda a: a.left_usd, default=None)
