"""Sharing one ledger between processes: job leases, the global in-flight cap and start pacing.

Each check-and-set runs inside one IMMEDIATE transaction, so two processes can never both take the
same job, the same slot or the same start time. On PostgreSQL, shared by machines, a claim locks
the job's row alone (``FOR UPDATE SKIP LOCKED``: a job another machine is writing at this moment
is theirs for now), and every start takes the ledger's start lock, under which the cap, the
model's pacing row (``FOR UPDATE``) and the budget are read and written in one transaction.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, replace

from imagine import clock
from imagine.errors import JobNotFound
from imagine.ledger import reserve as spending
from imagine.ledger.store import Ledger
from imagine.lifecycle import EventKind, Job, Status
from imagine.money.caps import Budget, Refusal

# Renders in flight at the provider. A job being downloaded has finished rendering: it no longer
# holds a slot, so the next render can start while the file comes down.
IN_FLIGHT = (Status.SUBMITTING.value, Status.RUNNING.value)


CAP_RECHECK = 0.5  # seconds to wait before asking again when every slot is taken
# A render nobody follows (sent with --no-wait, its process gone) still holds a slot at the
# provider until it finishes; one submitted longer ago than this has surely finished (the SDK gives
# up on a render after 10 minutes), so it no longer counts, lest unwatched jobs block every start.
UNWATCHED_SLOT_SECONDS = 600.0


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def claim(ledger: Ledger, job_id: str, owner: str, seconds: float) -> Job | None:
    """Take a live job's lease if it is free, ours, expired, or held by a process that has died;
    the job as it then stands, read under the same lock. None while another live process holds
    it. A job no longer live is returned as it is, its lease left alone."""
    now = clock.now()
    skip_locked = " FOR UPDATE SKIP LOCKED" if ledger.shared else ""
    with ledger.transaction(lock="rows") as conn:
        row = conn.execute(f"SELECT * FROM jobs WHERE id = ?{skip_locked}", (job_id,)).fetchone()
        if row is None:
            if skip_locked and ledger.get(job_id) is not None:
                return None  # another machine is writing it this moment
            raise JobNotFound(f"no job {job_id} in the ledger")
        job = Job.from_row(row)
        if not job.status.live:
            return job
        current, expires = job.lease_owner, job.lease_expires_at
        free = current is None or current == owner or expires is None or expires < clock.iso(now)
        if not free and not _is_dead(current or ""):
            return None
        until = clock.iso(now + seconds)
        conn.execute(
            "UPDATE jobs SET lease_owner = ?, lease_expires_at = ? WHERE id = ?",
            (owner, until, job_id),
        )
    return replace(job, lease_owner=owner, lease_expires_at=until)


def _is_dead(owner: str) -> bool:
    """True when the owner is a process on this machine that no longer runs."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def renew(ledger: Ledger, owner: str, seconds: float) -> None:
    with ledger.transaction(lock="rows") as conn:
        conn.execute(
            "UPDATE jobs SET lease_expires_at = ? WHERE lease_owner = ?",
            (clock.iso(clock.now() + seconds), owner),
        )


def release(ledger: Ledger, job_id: str, owner: str) -> None:
    with ledger.transaction(lock="rows") as conn:
        conn.execute(
            "UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL"
            " WHERE id = ? AND lease_owner = ?",
            (job_id, owner),
        )


def holder(ledger: Ledger, job_id: str) -> str | None:
    row = ledger.conn.execute(
        "SELECT lease_owner FROM jobs WHERE id = ? AND lease_expires_at > ?",
        (job_id, clock.iso()),
    ).fetchone()
    return str(row[0]) if row and row[0] else None


@dataclass(frozen=True)
class Start:
    """What ``try_start`` decided: ``wait`` is 0 when the job may be sent now, -1 when it is no
    longer queued (another process moved it), else the seconds to wait before asking again.
    ``slots_left`` counts the slots still free after this start."""

    wait: float
    slots_left: int = 0
    refused: Refusal | None = None  # blocked by a budget cap instead (wait is then -1)


def try_start(
    ledger: Ledger,
    job_id: str,
    model: str,
    *,
    rps: float,
    cap: int,
    budget: Budget | None = None,
) -> Start:
    """Mark the job ``submitting`` if a slot is free, its start time has come and its estimate
    fits the budget (reserved in the same write); blocked, if it does not fit.

    Slots are counted over every render in flight at the provider, in every process sharing this
    ledger: jobs whose lease a process holds, and running jobs nobody holds (sent with --no-wait)
    submitted in the last ``UNWATCHED_SLOT_SECONDS``. Starts are spaced 1/rps apart per model (a
    token bucket of depth one).
    """
    now = clock.now()
    with ledger.transaction(lock="starts") as conn:
        row = conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None or row[0] != Status.QUEUED.value:
            return Start(-1.0)
        marks = ", ".join("?" for _ in IN_FLIGHT)
        (in_flight,) = conn.execute(
            f"SELECT COUNT(*) FROM jobs WHERE status IN ({marks})"
            " AND ((lease_owner IS NOT NULL AND lease_expires_at > ?)"
            " OR (status = ? AND submitted_at > ?))",
            (
                *IN_FLIGHT,
                clock.iso(now),
                Status.RUNNING.value,
                clock.iso(now - UNWATCHED_SLOT_SECONDS),
            ),
        ).fetchone()
        if in_flight >= cap:
            return Start(CAP_RECHECK)
        lock_row = " FOR UPDATE" if ledger.shared else ""
        row = conn.execute(
            f"SELECT next_start_at FROM pacing WHERE model = ?{lock_row}", (model,)
        ).fetchone()
        next_start = float(row[0]) if row else 0.0
        if next_start > now:
            return Start(next_start - now, cap - in_flight)
        refused, held = spending.admit(conn, job_id, budget or Budget(), now)
        if refused is not None:
            spending.block(ledger, conn, job_id, refused)
            return Start(-1.0, refused=refused)
        conn.execute(
            "INSERT INTO pacing (model, next_start_at) VALUES (?, ?)"
            " ON CONFLICT(model) DO UPDATE SET next_start_at = excluded.next_start_at",
            (model, max(now, next_start) + 1.0 / rps),
        )
        stamp = clock.iso(now)
        ledger.write(
            conn,
            job_id,
            Status.QUEUED,
            EventKind.SUBMITTING,
            {"status": Status.SUBMITTING.value, "updated_at": stamp, **held},
        )
    return Start(0.0, cap - in_flight - 1)


def slow_down(ledger: Ledger, model: str, seconds: float) -> None:
    """After a 429, push the model's next start back for every process."""
    until = clock.now() + seconds
    with ledger.transaction(lock="rows") as conn:
        conn.execute(
            "INSERT INTO pacing (model, next_start_at) VALUES (?, ?)"
            " ON CONFLICT(model) DO UPDATE SET next_start_at = CASE"
            " WHEN pacing.next_start_at > excluded.next_start_at THEN pacing.next_start_at"
            " ELSE excluded.next_start_at END",
            (model, until),
        )
