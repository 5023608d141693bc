"""Spending caps over days and months, held across every process that shares a ledger.

A cap counts, over its calendar period (a day or a month in the budget's time zone):
the provider's recorded charges, plus the reservations of jobs sent and not yet charged, plus
the estimate of the job about to be sent. The check and the reservation are one write in the
ledger (``imagine.ledger.reserve.admit``, inside the transaction that marks the job submitting),
so no number of processes can together cross a cap.

A reservation (``jobs.reserved_usd``, the job's estimate) is held from the moment the job is
marked submitting until one of these:
- the provider reports the charge: the reservation is settled to it;
- the job fails or expires, or is refused or rate-limited before it was accepted: it is released,
  since the provider bills for videos it made and reports what it bills (a charge reported with a
  failure is recorded and counted all the same);
- otherwise it is kept: a job blocked by the provider's moderation (moderated outputs may be
  billed), an ``unknown`` one (it may have been accepted), one canceled after it was sent (the
  provider may render it anyway), and one finished without a charge reported all count at their
  estimate, in the period they were sent in.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from imagine.lifecycle import Status
from imagine.money.pricing import format_usd, ticks_to_usd

if TYPE_CHECKING:
    from imagine.config import Settings

# Statuses whose move drops a job's reservation: nothing was made, so nothing is owed.
RELEASES = frozenset({Status.QUEUED, Status.FAILED, Status.EXPIRED})


class Period(StrEnum):
    DAY = "day"
    MONTH = "month"

    @property
    def setting(self) -> str:
        return "daily_usd" if self is Period.DAY else "monthly_usd"

    @property
    def this(self) -> str:
        return "today" if self is Period.DAY else "this month"

    @property
    def next(self) -> str:
        return "tomorrow" if self is Period.DAY else "next month"


@dataclass(frozen=True)
class Cap:
    period: Period
    usd: float
    project_dir: str | None = None  # None: every job in the ledger (the user's cap)

    @property
    def rule(self) -> str:
        """``jobs.block_rule`` of a job this cap refused."""
        return f"project {self.period.setting}" if self.project_dir else self.period.setting

    @property
    def raise_with(self) -> str:
        scope = " --project" if self.project_dir else ""
        return f"imagine config set{scope} budget.{self.period.setting} N"

    def applies_to(self, project_dir: str) -> bool:
        return self.project_dir is None or self.project_dir == project_dir


@dataclass(frozen=True)
class Budget:
    caps: tuple[Cap, ...] = ()
    timezone: str | None = None  # IANA name; None: the system's local time (TZ is honoured)

    def zone(self) -> tzinfo | None:
        return zoneinfo.ZoneInfo(self.timezone) if self.timezone else None

    def window(self, period: Period, now: float) -> tuple[float, float]:
        """The calendar day or month holding ``now``, as epoch seconds [start, end). Dates are
        moved on the wall clock (a naive local time, or one in a ZoneInfo zone), so a day with a
        daylight-saving change is 23 or 25 hours long, as it is for the person living it."""
        local = datetime.fromtimestamp(now, self.zone())
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if period is Period.MONTH:
            start = start.replace(day=1)
            carry, month = divmod(start.month, 12)
            end = start.replace(year=start.year + carry, month=month + 1)
        else:
            end = start + timedelta(days=1)
        return start.timestamp(), end.timestamp()


def of_settings(settings: Settings, project_dir: str) -> Budget:
    """The caps in force for a command run in the project at ``project_dir``."""
    given = (
        (Period.DAY, settings.daily_usd, None),
        (Period.MONTH, settings.monthly_usd, None),
        (Period.DAY, settings.project_daily_usd, project_dir),
        (Period.MONTH, settings.project_monthly_usd, project_dir),
    )
    caps = tuple(Cap(period, usd, where) for period, usd, where in given if usd is not None)
    return Budget(caps, settings.budget_timezone)


@dataclass(frozen=True)
class Refusal:
    """A job a cap would not let through, and the figures that say why."""

    cap: Cap
    charged_usd: float
    reserved_usd: float
    needed_usd: float

    @property
    def spent_usd(self) -> float:
        return self.charged_usd + self.reserved_usd

    @property
    def left_usd(self) -> float:
        return max(0.0, self.cap.usd - self.spent_usd)

    def message(self) -> str:
        cap = self.cap
        whose = "this project's " if cap.project_dir else ""
        name = "daily" if cap.period is Period.DAY else "monthly"
        return (
            f"not sent: {whose}{name} budget {format_usd(cap.usd)} ({cap.rule}) would be crossed: "
            f"{format_usd(self.spent_usd)} spent {cap.period.this} "
            f"({format_usd(self.charged_usd)} charged + {format_usd(self.reserved_usd)} reserved), "
            f"{format_usd(self.left_usd)} left, this job needs {format_usd(self.needed_usd)}. "
            f"Raise it with `{cap.raise_with}`, or wait until {cap.period.next}"
        )

    def detail(self) -> Mapping[str, Any]:
        """What the ledger's event records of the refusal."""
        return {
            "rule": self.cap.rule,
            "cap_usd": self.cap.usd,
            "charged_usd": round(self.charged_usd, 6),
            "reserved_usd": round(self.reserved_usd, 6),
            "needed_usd": round(self.needed_usd, 6),
        }


def refusal(cap: Cap, charged_ticks: int, reserved_ticks: int, needed_ticks: int) -> Refusal:
    return Refusal(
        cap, ticks_to_usd(charged_ticks), ticks_to_usd(reserved_ticks), ticks_to_usd(needed_ticks)
    )


def settled(values: Mapping[str, Any]) -> dict[str, Any]:
    """What else a move of a job writes for its reservation: settled when the charge is
    recorded, released when the job ends without making a video (see the module's rule)."""
    status = values.get("status")
    if values.get("cost_ticks") is not None or (status is not None and Status(status) in RELEASES):
        return {"reserved_usd": None}
    return {}
