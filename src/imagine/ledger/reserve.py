"""The budget's SQL: what a period has spent, and the check-and-reserve made as a job is sent.

Run inside the caller's IMMEDIATE transaction (``leases.try_start``), so the figures read and the
reservation written are one step that no other process can come between. Amounts are summed in
the provider's ticks (integers): three $0.10 jobs are exactly $0.30, never $0.30000000000000004.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imagine import clock
from imagine.api.contract import TICKS_PER_USD
from imagine.ledger.store import Ledger
from imagine.lifecycle import BlockReason, BlockSource, EventKind, Status
from imagine.money.caps import Budget, Cap, Refusal, refusal
from imagine.money.pricing import usd_to_ticks

if TYPE_CHECKING:
    from imagine.ledger.db import Connection

# session.SIM_BASE_URL: jobs of the in-process simulator (--sim) are free and count toward nothing.
FREE_BASE_URL = "sim:in-process"
# A job's charge, or while it has none, its reservation (NULL once released), in ticks.
SPEND_TICKS = (
    f"COALESCE(cost_ticks, CAST(ROUND(COALESCE(reserved_usd, 0) * {TICKS_PER_USD}) AS INTEGER))"
)


def spend_ticks(
    conn: Connection, start: float, end: float, project_dir: str | None = None
) -> tuple[int, int]:
    """Ticks charged, and ticks reserved and not yet charged, by jobs sent in [start, end)."""
    sql = (
        "SELECT COALESCE(SUM(cost_ticks), 0), COALESCE(SUM(CASE WHEN cost_ticks IS NULL"
        f" THEN {SPEND_TICKS} END), 0) FROM jobs"
        " WHERE spent_at >= ? AND spent_at < ? AND base_url != ?"
    )
    args: list[Any] = [clock.iso(start), clock.iso(end), FREE_BASE_URL]
    if project_dir is not None:
        sql += " AND project_dir = ?"
        args.append(project_dir)
    charged, reserved = conn.execute(sql, args).fetchone()
    return int(charged), int(reserved)


def admit(
    conn: Connection, job_id: str, budget: Budget, now: float
) -> tuple[Refusal | None, dict[str, Any]]:
    """Whether the queued job fits every cap that applies to it; if it does, the values that
    reserve its estimate (written by the caller with the move to submitting)."""
    row = conn.execute(
        "SELECT cost_estimate_usd, project_dir, base_url FROM jobs WHERE id = ?", (job_id,)
    ).fetchone()
    estimate = float(row[0] or 0.0)
    held: dict[str, Any] = {"reserved_usd": estimate, "spent_at": clock.iso(now)}
    if row[2] == FREE_BASE_URL:
        return None, held
    needed = usd_to_ticks(estimate)
    for cap in budget.caps:
        if not cap.applies_to(row[1]):
            continue
        charged, reserved = spend_ticks(conn, *budget.window(cap.period, now), cap.project_dir)
        if charged + reserved + needed > usd_to_ticks(cap.usd):
            return refusal(cap, charged, reserved, needed), held
    return None, held


def block(ledger: Ledger, conn: Connection, job_id: str, refused: Refusal) -> None:
    """Inside the caller's transaction: the queued job is blocked by the cap, never sent."""
    cap: Cap = refused.cap
    ledger.write(
        conn,
        job_id,
        Status.QUEUED,
        EventKind.BLOCKED_LOCALLY,
        {
            "status": Status.BLOCKED.value,
            "updated_at": clock.iso(),
            "block_source": BlockSource.LOCAL.value,
            "block_reason": BlockReason.BUDGET.value,
            "block_rule": cap.rule,
            "error_code": "budget",
            "error_message": refused.message(),
            "lease_owner": None,
            "lease_expires_at": None,
        },
        refused.detail(),
    )
