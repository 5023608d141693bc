"""The ledger: every job and every transition, one transaction per logical write."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from imagine import clock, paths
from imagine.errors import JobNotFound
from imagine.jobs import COLUMNS, Job, Status
from imagine.ledger.db import connect, transaction
from imagine.ledger.migrations import migrate

_IDS_PER_QUERY = 500  # under SQLite's limit on ? marks in one statement
# Renders of one shape whose times predict the next one's.
HISTORY = 20
# Statuses whose planned output path is spoken for. Failed, canceled, blocked and expired jobs
# give theirs back, and so does an unknown one: its answer, request id and all, was lost, so it
# can never download; `imagine retry` then writes the file the request was meant to make.
_HOLDS_PATH = ("queued", "submitting", "running", "downloading", "complete")


def _updated(job: Job, values: Mapping[str, Any]) -> Job:
    """The job as it now stands in the ledger, without reading it back."""
    changes = dict(values)
    if "status" in changes:
        changes["status"] = Status(changes["status"])
    if "generate_audio" in changes:
        changes["generate_audio"] = bool(changes["generate_audio"])
    return replace(job, **changes)


class StaleTransition(Exception):
    """The job was not in the state the caller expected (another process moved it first)."""


@dataclass(frozen=True)
class Event:
    job_id: str
    at: str
    event: str
    from_status: str | None
    to_status: str | None
    detail: dict[str, Any] | None


class Ledger:
    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path

    @classmethod
    def open(cls, path: Path | None = None) -> Ledger:
        where = path or paths.ledger_file()
        conn = connect(where)
        migrate(conn)
        return cls(conn, where)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with transaction(self.conn) as conn:
            yield conn

    # -- writing -------------------------------------------------------------------------------

    def insert(
        self,
        values: Mapping[str, Any] | Callable[[int], Mapping[str, Any]],
        *,
        detail: Mapping[str, Any] | None = None,
        audit: Mapping[str, Any] | None = None,
        unless: Callable[[], Job | None] | None = None,
    ) -> Job:
        """Add a job. ``values`` may be a function of the job's number, called under the write
        lock, so that names derived from it (and checks against other jobs) cannot race.
        ``unless``, also called under the lock, may name an existing job to return instead."""
        now = clock.iso()
        with self.transaction() as conn:
            existing = unless() if unless else None
            if existing is not None:
                return existing
            if callable(values):
                (last,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM jobs").fetchone()
                (used,) = conn.execute(
                    "SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'jobs'"
                ).fetchone()
                seq = max(last, used) + 1
                row = {"seq": seq, "created_at": now, "updated_at": now, **values(seq)}
            else:
                row = {"created_at": now, "updated_at": now, **values}
            unknown = set(row) - set(COLUMNS)
            if unknown:
                raise ValueError(f"not job columns: {sorted(unknown)}")
            names = ", ".join(row)
            marks = ", ".join("?" for _ in row)
            conn.execute(f"INSERT INTO jobs ({names}) VALUES ({marks})", tuple(row.values()))
            self._event(conn, row["id"], "created", None, row["status"], detail, now)
            if audit is not None:
                entry = {"at": now, "job_id": row["id"], **audit}
                columns = ", ".join(entry)
                conn.execute(
                    f"INSERT INTO audit_log ({columns}) VALUES ({', '.join('?' for _ in entry)})",
                    tuple(entry.values()),
                )
        return self.require(row["id"])

    def audit_log(self, limit: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM audit_log ORDER BY id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [dict(row) for row in self.conn.execute(sql)]

    def update(
        self,
        job_id: str,
        event: str,
        *,
        expect: Iterable[Status] | None = None,
        detail: Mapping[str, Any] | None = None,
        **values: Any,
    ) -> Job:
        """Change a job and record the event, atomically; ``expect`` guards against races."""
        with self.transaction() as conn:
            current = self._get(conn, job_id)
            if current is None:
                raise JobNotFound(f"no job {job_id} in the ledger")
            if expect is not None and current.status not in set(expect):
                raise StaleTransition(f"job {job_id} is {current.status}")
            values = {**values, "updated_at": clock.iso()}
            self._write(conn, current, event, values, detail)
        return _updated(current, values)

    def move(
        self, job: Job, event: str, *, detail: Mapping[str, Any] | None = None, **values: Any
    ) -> Job | None:
        """Change ``job`` only if it is still in the status the caller saw; None if someone moved
        it first. Cheaper than ``update``: the status check is part of the UPDATE itself."""
        values = {**values, "updated_at": clock.iso()}
        with self.transaction() as conn:
            if not self._write(conn, job, event, values, detail):
                return None
        return _updated(job, values)

    def _write(
        self,
        conn: sqlite3.Connection,
        job: Job,
        event: str,
        values: Mapping[str, Any],
        detail: Mapping[str, Any] | None,
    ) -> bool:
        """Set ``values`` (which include ``updated_at``) on the job's row, only while it still has
        ``job``'s status, and record the event. False if the row had moved on."""
        assignments = ", ".join(f"{name} = ?" for name in values)
        changed = conn.execute(
            f"UPDATE jobs SET {assignments} WHERE id = ? AND status = ?",
            (*values.values(), job.id, str(job.status)),
        )
        if changed.rowcount == 0:
            return False
        to_status = values.get("status")
        if to_status is not None or event != "update":
            self._event(conn, job.id, event, job.status, to_status, detail, values["updated_at"])
        return True

    def _event(
        self,
        conn: sqlite3.Connection,
        job_id: str,
        event: str,
        from_status: str | None,
        to_status: str | None,
        detail: Mapping[str, Any] | None,
        at: str,
    ) -> None:
        conn.execute(
            "INSERT INTO job_events (job_id, at, event, from_status, to_status, detail_json)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                job_id,
                at,
                event,
                from_status,
                to_status,
                json.dumps(dict(detail)) if detail else None,
            ),
        )

    # -- reading -------------------------------------------------------------------------------

    def _get(self, conn: sqlite3.Connection, job_id: str) -> Job | None:
        row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job.from_row(row) if row else None

    def get(self, job_id: str) -> Job | None:
        return self._get(self.conn, job_id)

    def require(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job is None:
            raise JobNotFound(f"no job {job_id} in the ledger")
        return job

    def statuses(self, job_ids: Sequence[str]) -> dict[str, Status]:
        """The status of each job that exists, in a few queries however many jobs are asked."""
        found: dict[str, Status] = {}
        for start in range(0, len(job_ids), _IDS_PER_QUERY):
            chunk = job_ids[start : start + _IDS_PER_QUERY]
            marks = ", ".join("?" for _ in chunk)
            rows = self.conn.execute(f"SELECT id, status FROM jobs WHERE id IN ({marks})", chunk)
            found.update((job_id, Status(status)) for job_id, status in rows)
        return found

    def resolve_all(self, refs: Iterable[str]) -> list[Job]:
        """The jobs named, each once, in the order given; a bad reference fails before any is
        returned, so a command acts on all of them or on none."""
        return list({job.id: job for job in map(self.resolve, refs)}.values())

    def resolve(self, ref: str) -> Job:
        """A job from what a user types: an id, a unique id prefix, a request id, @last or @N."""
        text = ref.strip()
        if text.lower() == "@last":
            row = self.conn.execute("SELECT * FROM jobs ORDER BY seq DESC LIMIT 1").fetchone()
            if row is None:
                raise JobNotFound("there are no jobs yet: start one with `imagine gen`")
            return Job.from_row(row)
        if re.fullmatch(r"@\d+", text):
            row = self.conn.execute("SELECT * FROM jobs WHERE seq = ?", (int(text[1:]),)).fetchone()
            if row is None:
                raise JobNotFound(f"no job {text}: see `imagine list` for job numbers")
            return Job.from_row(row)
        if not re.fullmatch(r"[0-9A-Za-z-]{4,}", text):
            raise JobNotFound(
                f"{ref!r} is not a job reference: give an id (or 4+ characters of one), @last or @N"
            )
        rows = self.conn.execute(
            "SELECT * FROM jobs WHERE id LIKE ? OR request_id = ? ORDER BY seq DESC LIMIT 3",
            (text.lower() + "%", text),
        ).fetchall()
        if not rows:
            raise JobNotFound(f"no job matches {ref!r}: see `imagine list`")
        if len(rows) > 1:
            raise JobNotFound(f"{ref!r} matches several jobs: give more characters of the id")
        return Job.from_row(rows[0])

    def jobs(
        self,
        *,
        statuses: Iterable[Status] | None = None,
        since: str | None = None,
        text: str | None = None,
        limit: int | None = None,
    ) -> list[Job]:
        """Jobs newest first, filtered."""
        where, args = [], []
        if statuses is not None:
            wanted = [str(s) for s in statuses]
            where.append(f"status IN ({', '.join('?' for _ in wanted)})")
            args.extend(wanted)
        if since is not None:
            where.append("created_at >= ?")
            args.append(since)
        if text:
            where.append(
                "(prompt LIKE ? ESCAPE '\\' OR id LIKE ? OR output_path LIKE ? ESCAPE '\\')"
            )
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            args.extend([pattern, text.lower() + "%", pattern])
        sql = "SELECT * FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [Job.from_row(row) for row in self.conn.execute(sql, args)]

    def by_fingerprint(self, fingerprint: str) -> list[Job]:
        rows = self.conn.execute(
            "SELECT * FROM jobs WHERE fingerprint = ? ORDER BY seq DESC", (fingerprint,)
        )
        return [Job.from_row(row) for row in rows]

    def complete_outputs(self, project_dir: Path) -> set[str]:
        """The files of the project's complete jobs."""
        rows = self.conn.execute(
            "SELECT output_path FROM jobs WHERE status = ? AND project_dir = ?",
            (Status.COMPLETE.value, str(project_dir)),
        )
        return {path for (path,) in rows}

    def undecided(self) -> list[Job]:
        """Unknown jobs not yet retried: each waits for the user to retry or cancel it."""
        rows = self.conn.execute(
            "SELECT * FROM jobs WHERE status = ? AND NOT EXISTS (SELECT 1 FROM job_events e "
            "WHERE e.job_id = jobs.id AND e.event = 'retried') ORDER BY seq",
            (Status.UNKNOWN.value,),
        )
        return [Job.from_row(row) for row in rows]

    def job_choices(
        self, typed: str, statuses: Iterable[Status] | None, limit: int
    ) -> list[tuple[int, str, str | None]]:
        """(seq, id, prompt) of the newest jobs the reference being typed can become, for shell
        completion: `@N…` by ranges of seq, an id prefix by a range of the id index, nothing typed
        by seq; each bounded by LIMIT, so a 100,000-job ledger answers like an empty one."""
        where, args = [], []
        if typed.startswith("@"):
            digits = typed[1:]
            if digits and not digits.isdigit():
                return []
            if digits:
                (top,) = self.conn.execute("SELECT coalesce(max(seq), 0) FROM jobs").fetchone()
                ranges = []
                for extra in range(len(str(top)) - len(digits) + 1):  # @12: 12, 120-129, …
                    low = int(digits) * 10**extra
                    ranges.append("seq BETWEEN ? AND ?")
                    args += [low, low + 10**extra - 1]
                if not ranges:
                    return []
                where.append("(" + " OR ".join(ranges) + ")")
        elif typed:
            where.append("id >= ? AND id < ?")
            args += [typed.lower(), typed.lower() + "\uffff"]
        order = "id" if typed and not typed.startswith("@") else "seq"  # the index searched
        if statuses is not None:
            where.append("status = ?")
        sql = "SELECT seq, id, prompt FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order} DESC LIMIT {int(limit)}"
        # One query per status, each walking the status index from the newest: a status IN (…)
        # would sort every match (every finished job, for `rm`) to keep the newest few.
        found: list[tuple[int, str, str | None]] = []
        for status in [None] if statuses is None else statuses:
            found += self.conn.execute(sql, [*args, *([] if status is None else [str(status)])])
        found.sort(key=lambda row: row[0] if order == "seq" else row[1], reverse=True)
        return [(seq, job_id, prompt) for seq, job_id, prompt in found[:limit]]

    def output_taken(self, path: Path) -> bool:
        return self.path_holder(path) is not None

    def path_holder(self, path: Path) -> Job | None:
        """The job whose file ``path`` is (or will be), if any. A failed or canceled job's path
        may be another's now: its retry's, or a re-run's."""
        marks = ", ".join("?" for _ in _HOLDS_PATH)
        row = self.conn.execute(
            f"SELECT * FROM jobs WHERE output_path = ? AND status IN ({marks}) LIMIT 1",
            (str(path), *_HOLDS_PATH),
        ).fetchone()
        return Job.from_row(row) if row else None

    def events(self, job_id: str) -> list[Event]:
        rows = self.conn.execute("SELECT * FROM job_events WHERE job_id = ? ORDER BY id", (job_id,))
        return [
            Event(
                job_id=row["job_id"],
                at=row["at"],
                event=row["event"],
                from_status=row["from_status"],
                to_status=row["to_status"],
                detail=json.loads(row["detail_json"]) if row["detail_json"] else None,
            )
            for row in rows
        ]

    def render_seconds(self, model: str, resolution: str | None, seconds: float) -> list[float]:
        """How long recent renders of this shape took at the provider (newest first)."""
        rows = self.conn.execute(
            "SELECT submitted_at, completed_at, last_pending_at FROM jobs"
            " WHERE model = ? AND resolution IS ? AND video_duration = ?"
            " AND completed_at IS NOT NULL AND submitted_at IS NOT NULL"
            f" ORDER BY seq DESC LIMIT {HISTORY}",
            (model, resolution, seconds),
        )
        return [render_time(*row) for row in rows]


def render_time(submitted_at: str, completed_at: str, last_pending_at: str | None) -> float:
    """How long a render took at the provider: it finished between the last poll that found it
    pending and the one that found it done."""
    done = clock.parse(completed_at)
    if last_pending_at:
        done = (done + clock.parse(last_pending_at)) / 2
    return max(0.0, done - clock.parse(submitted_at))
