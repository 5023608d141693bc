"""The ledger: every job and every transition, one transaction per logical write."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from imagine import clock, ids, paths, render_files
from imagine.errors import JobNotFound
from imagine.ledger import summary
from imagine.ledger.db import Connection, Lock, open_ledger, transaction
from imagine.ledger.migrations import migrate
from imagine.lifecycle import COLUMNS, EventKind, Job, Status, check_move
from imagine.render_files import RenderFiles

_MAX_SEQ = 2**63 - 1  # the largest integer SQLite stores
_MAX_SEQ_DIGITS = len(str(_MAX_SEQ))
_IDS_PER_QUERY = 500  # under SQLite's limit on ? marks in one statement
SHORT_ID = ids.SHORT_LENGTH
# Spelled exactly as in the index jobs_short_id (migration 006), or SQLite will not use it.
_SHORT_ID_SQL = f"substr(id, -{SHORT_ID})"
_CANDIDATES = 5  # jobs named when a reference matches several
# Renders of one shape whose times predict the next one's.
HISTORY = 20
# Statuses whose planned output path is spoken for. Failed, canceled, blocked and expired jobs
# give theirs back, and so does an unknown one: its answer, request id and all, was lost, so it
# can never download; `imagine retry` then writes the file the request was meant to make.
_HOLDS_PATH = ("queued", "submitting", "running", "downloading", "complete")
_SUMMARY_FIELDS = frozenset(summary.FIELDS)  # a write that sets any of these moves the stats


def _updated(job: Job, values: Mapping[str, Any]) -> Job:
    """The job as it now stands in the ledger, without reading it back."""
    changes = dict(values)
    if "status" in changes:
        changes["status"] = Status(changes["status"])
    if "generate_audio" in changes:
        changes["generate_audio"] = bool(changes["generate_audio"])
    return replace(job, **changes)


def _job_number(digits: str) -> int | None:
    """The N of ``@N``, or None when no job can carry it: SQLite integers end at 2**63 - 1,
    and Python refuses to read a number of more than 4,300 digits."""
    if len(digits) > _MAX_SEQ_DIGITS:
        return None
    number = int(digits)
    return number if number <= _MAX_SEQ else None


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
    def __init__(self, conn: Connection, path: Path | str) -> None:
        self.conn = conn
        self.path = path  # a SQLite file, or a PostgreSQL URL

    @classmethod
    def open(cls, path: Path | str | None = None) -> Ledger:
        where = path or paths.ledger_file()
        conn = open_ledger(where)
        try:
            migrate(conn)
        except BaseException:
            conn.close()
            raise
        return cls(conn, where)

    @property
    def shared(self) -> bool:
        """Whether machines share this ledger (PostgreSQL), not only this machine's processes."""
        return self.conn.dialect == "postgresql"

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self, lock: Lock = "ledger") -> Iterator[Connection]:
        with transaction(self.conn, lock) as conn:
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
                seq = _next_seq(conn)
                row = {"seq": seq, "created_at": now, "updated_at": now, **values(seq)}
            else:
                row = {"created_at": now, "updated_at": now, **values}
            unknown = set(row) - set(COLUMNS)
            if unknown:
                raise ValueError(f"not job columns: {sorted(unknown)}")
            check_move(None, row["status"], EventKind.CREATED)
            names = ", ".join(row)
            marks = ", ".join("?" for _ in row)
            conn.execute(f"INSERT INTO jobs ({names}) VALUES ({marks})", tuple(row.values()))
            summary.apply(conn, None, summary.tally_of(conn, row["id"]))
            self._event(conn, row["id"], EventKind.CREATED, None, row["status"], detail, now)
            if audit is not None:
                self.audit(conn, {"at": now, "job_id": row["id"], **audit})
        return self.require(row["id"])

    def audit(self, conn: Connection, entry: Mapping[str, Any]) -> None:
        """Add an audit log entry inside the caller's transaction; ``detail`` is kept as JSON."""
        entry = dict(entry)
        if "detail" in entry and not isinstance(entry["detail"], str):
            entry["detail"] = json.dumps(entry["detail"], ensure_ascii=False)
        columns = ", ".join(entry)
        conn.execute(
            f"INSERT INTO audit_log ({columns}) VALUES ({', '.join('?' for _ in entry)})",
            tuple(entry.values()),
        )

    def add_audit(self, entry: Mapping[str, Any]) -> None:
        """An audit entry of its own (not a job's creation), e.g. an admin policy refusal."""
        with self.transaction() as conn:
            self.audit(conn, {"at": clock.iso(), **entry})

    def audit_log(self, limit: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM audit_log ORDER BY id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        entries = []
        for row in self.conn.execute(sql):
            entry = dict(row)
            detail = entry.get("detail")
            entry["detail"] = json.loads(detail) if detail else None
            entries.append(entry)
        return entries

    def update(
        self,
        job_id: str,
        event: EventKind,
        *,
        expect: Iterable[Status] | None = None,
        detail: Mapping[str, Any] | None = None,
        **values: Any,
    ) -> Job:
        """Change a job and record the event, atomically; ``expect`` guards against races.
        A change of status not in ``jobs.TRANSITIONS`` raises IllegalTransition (a bug)."""
        with self.transaction() as conn:
            current = self._get(conn, job_id)
            if current is None:
                raise JobNotFound(f"no job {job_id} in the ledger")
            if expect is not None and current.status not in set(expect):
                raise StaleTransition(f"job {job_id} is {current.status}")
            values = {**values, "updated_at": clock.iso()}
            self.write(conn, current.id, current.status, event, values, detail)
        return _updated(current, values)

    def move(
        self,
        job: Job,
        event: EventKind,
        *,
        detail: Mapping[str, Any] | None = None,
        **values: Any,
    ) -> Job | None:
        """Change ``job`` only if it is still in the status the caller saw; None if someone moved
        it first. Cheaper than ``update``: the status check is part of the UPDATE itself."""
        values = {**values, "updated_at": clock.iso()}
        with self.transaction() as conn:
            if not self.write(conn, job.id, job.status, event, values, detail):
                return None
        return _updated(job, values)

    def write(
        self,
        conn: Connection,
        job_id: str,
        status: Status,
        event: EventKind,
        values: Mapping[str, Any],
        detail: Mapping[str, Any] | None = None,
    ) -> bool:
        """Inside the caller's transaction, set ``values`` (which include ``updated_at``) on the
        job's row, only while it still has ``status``, and record the event. False if the row
        had moved on; IllegalTransition, before anything is written, for a move the state
        machine does not allow."""
        to_status = values.get("status")
        check_move(status, to_status, event)
        # The job's share of the stats summary moves with it (ledger/summary.py).
        before = summary.fields_of(conn, job_id) if not _SUMMARY_FIELDS.isdisjoint(values) else None
        assignments = ", ".join(f"{name} = ?" for name in values)
        changed = conn.execute(
            f"UPDATE jobs SET {assignments} WHERE id = ? AND status = ?",
            (*values.values(), job_id, str(status)),
        )
        if changed.rowcount == 0:
            return False
        if before is not None:
            summary.apply(
                conn, summary.tally(before), summary.tally(summary.changed(before, values))
            )
        if to_status is not None or event != EventKind.UPDATE:
            self._event(conn, job_id, event, status, to_status, detail, values["updated_at"])
        return True

    def delete(self, conn: Connection, job_id: str) -> None:
        """Inside the caller's transaction, forget a job (its events go with it), and its share
        of the stats summary."""
        before = summary.tally_of(conn, job_id)
        conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        summary.apply(conn, before, None)

    def note(self, notes: Iterable[tuple[str, EventKind, Mapping[str, Any] | None]]) -> None:
        """Record events that change nothing about their jobs (one of ``jobs.NOTES`` each, with
        its detail), in one write; a job no longer in the ledger is passed over."""
        now = clock.iso()
        with self.transaction() as conn:
            for job_id, event, detail in notes:
                check_move(None, None, event)
                row = conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
                if row is not None:
                    self._event(conn, job_id, event, row["status"], None, detail, now)

    def _event(
        self,
        conn: Connection,
        job_id: str,
        event: EventKind,
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

    def _get(self, conn: Connection, job_id: str) -> Job | None:
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
        """A job from anything the tool prints or a user types: its id, a unique prefix of it,
        the 8-character short id (or a prefix of that), the provider's request id, @last, @N
        (or #N), or the path of its MP4 or sidecar. Every form is answered by an index."""
        text = ref.strip()
        if text.lower() == "@last":
            row = self.conn.execute("SELECT * FROM jobs ORDER BY seq DESC LIMIT 1").fetchone()
            if row is None:
                raise JobNotFound("there are no jobs yet: start one with `imagine gen`")
            return Job.from_row(row)
        if re.fullmatch(r"[@#]\d+", text):
            number = _job_number(text[1:])
            row = None
            if number is not None:
                row = self.conn.execute("SELECT * FROM jobs WHERE seq = ?", (number,)).fetchone()
            if row is None:
                raise JobNotFound(f"no job {text}: see `imagine list` for job numbers")
            return Job.from_row(row)
        if _looks_like_path(text):
            return self._by_path(ref, text)
        if not re.fullmatch(r"[0-9A-Za-z-]{4,}", text):
            raise JobNotFound(
                f"{ref!r} is not a job reference: give an id (or 4+ characters of one), "
                "@last, @N or the path of a render"
            )
        return self._by_id(ref, text)

    def _by_id(self, ref: str, text: str) -> Job:
        key = text.lower()
        exact = self._one("SELECT * FROM jobs WHERE id = ?", key) or self._one(
            "SELECT * FROM jobs WHERE request_id = ?", text
        )
        if exact is not None:
            return exact
        # A prefix of the id, or of its last 8 characters (what `imagine list` and every hint
        # print): each a range on an index. Ids are [0-9a-z], all below "~".
        found = {job.id: job for job in self._range("id", key)}
        if len(key) <= SHORT_ID:
            found.update((job.id, job) for job in self._range(_SHORT_ID_SQL, key))
        if not found:
            raise JobNotFound(f"no job matches {ref!r}: see `imagine list`")
        if len(found) > 1:
            raise JobNotFound(_ambiguous(ref, found.values()))
        return next(iter(found.values()))

    def _one(self, sql: str, value: str) -> Job | None:
        row = self.conn.execute(sql, (value,)).fetchone()
        return Job.from_row(row) if row else None

    def _range(self, expression: str, prefix: str) -> list[Job]:
        # No ORDER BY: the rows come in the index's order, so a short prefix that matches
        # thousands of jobs still reads only the few needed to say it is ambiguous.
        rows = self.conn.execute(
            f"SELECT * FROM jobs WHERE {expression} >= ? AND {expression} < ?"
            f" LIMIT {_CANDIDATES + 1}",
            (prefix, prefix + "~"),
        )
        return [Job.from_row(row) for row in rows]

    def _by_path(self, ref: str, text: str) -> Job:
        """The job whose file (MP4, sidecar, poster) is at ``text``: the one that holds the path
        now if several jobs planned it (a failed job and its retry), else the newest."""
        if "\0" in text:  # no file has such a name (and the OS refuses to look it up)
            raise JobNotFound(f"no job made {ref!r}: a file name cannot hold a NUL character")
        absolute = Path(os.path.abspath(Path(text).expanduser()))
        try:
            real = absolute.resolve()
        except (OSError, RuntimeError, ValueError):  # a symlink loop: the path as given is all
            real = absolute
        names = {
            str(p) for base in (absolute, real) for p in (base, RenderFiles.of_file(base).video)
        }
        marks = ", ".join("?" for _ in names)
        rows = self.conn.execute(
            f"SELECT * FROM jobs WHERE output_path IN ({marks}) ORDER BY seq DESC", tuple(names)
        ).fetchall()
        jobs = [Job.from_row(row) for row in rows]
        if not jobs:
            raise JobNotFound(f"no job made {ref!r}: see `imagine list` for the jobs' files")
        holders = [job for job in jobs if job.status in _HOLDS_PATH]
        return (holders or jobs)[0]

    def jobs(
        self,
        *,
        statuses: Iterable[Status] | None = None,
        since: str | None = None,
        text: str | None = None,
        limit: int | None = None,
        review: str | None = None,
        before: str | None = None,
        project_dir: str | None = None,
        reported: bool = True,
    ) -> list[Job]:
        """Jobs newest first, filtered: ``review`` "pending" means complete and not yet reviewed;
        ``reported=False``: none that a user reported."""
        where, args = [], []
        if review == "pending":
            where.append("review_state IS NULL AND status = 'complete'")
        elif review is not None:
            where.append("review_state = ?")
            args.append(review)
        if statuses is not None:
            wanted = [str(s) for s in statuses]
            where.append(f"status IN ({', '.join('?' for _ in wanted)})")
            args.extend(wanted)
        if since is not None:
            where.append("created_at >= ?")
            args.append(since)
        if before is not None:
            where.append("created_at < ?")
            args.append(before)
        if project_dir is not None:
            where.append("project_dir = ?")
            args.append(project_dir)
        if not reported:
            where.append("reported_at IS NULL")
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
        """The files of the project's complete jobs (read once per project folder, when the
        folder is first walked for renders: see ``folder_indexed``)."""
        rows = self.conn.execute(
            "SELECT output_path FROM jobs WHERE status = ? AND project_dir = ?",
            (Status.COMPLETE.value, str(project_dir)),
        )
        return {path for (path,) in rows}

    def folder_indexed(self, project_dir: Path) -> bool:
        """Whether the project folder's renders were ever looked for (its sidecars read into
        ``found_renders``); until then a request may have been rendered by another machine."""
        row = self.conn.execute(
            "SELECT 1 FROM project_folders WHERE project_dir = ?", (str(project_dir),)
        ).fetchone()
        return row is not None

    def index_folder(self, project_dir: Path, found: Iterable[tuple[str, str]]) -> None:
        """Record the renders found in a project folder (sidecar path, fingerprint) that the
        ledger has no job for, and that the folder has been looked through."""
        folder, now = str(project_dir), clock.iso()
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO found_renders (sidecar_path, project_dir, fingerprint, found_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (sidecar_path) DO UPDATE SET"
                " project_dir = excluded.project_dir, fingerprint = excluded.fingerprint,"
                " found_at = excluded.found_at",
                [(sidecar, folder, fingerprint, now) for sidecar, fingerprint in found],
            )
            conn.execute(
                "INSERT INTO project_folders (project_dir, indexed_at) VALUES (?, ?)"
                " ON CONFLICT (project_dir) DO UPDATE SET indexed_at = excluded.indexed_at",
                (folder, now),
            )

    def found_renders(self, project_dir: Path, fingerprint: str) -> list[str]:
        """Sidecars found on disk in the project for this request, newest record first."""
        rows = self.conn.execute(
            "SELECT sidecar_path FROM found_renders WHERE fingerprint = ? AND project_dir = ?"
            " ORDER BY COALESCE(found_at, '') DESC, sidecar_path DESC",
            (fingerprint, str(project_dir)),
        )
        return [path for (path,) in rows]

    def undecided(self) -> list[Job]:
        """Unknown jobs not yet retried: each waits for the user to retry or cancel it."""
        rows = self.conn.execute(
            "SELECT * FROM jobs WHERE status = ? AND NOT EXISTS (SELECT 1 FROM job_events e "
            "WHERE e.job_id = jobs.id AND e.event = ?) ORDER BY seq",
            (Status.UNKNOWN.value, EventKind.RETRIED.value),
        )
        return [Job.from_row(row) for row in rows]

    def job_choices(
        self, typed: str, statuses: Iterable[str] | None, limit: int
    ) -> list[tuple[int, str, str | None]]:
        """(seq, id, prompt) of the newest jobs a reference being typed can become (shell
        completion; see ledger/choices.py)."""
        from imagine.ledger.choices import job_choices

        return job_choices(self.conn, typed, statuses, limit)

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
            " WHERE model = ? AND resolution IS NOT DISTINCT FROM ? AND video_duration = ?"
            " AND completed_at IS NOT NULL AND submitted_at IS NOT NULL"
            f" ORDER BY seq DESC LIMIT {HISTORY}",
            (model, resolution, seconds),
        )
        return [render_time(*row) for row in rows]


def _next_seq(conn: Connection) -> int:
    """The next job's number, under the write lock: past every job's, and past any job's that
    was removed (numbers are never given twice, or @N would name another job than it did)."""
    if conn.dialect == "postgresql":  # one round trip: the number, and the sequence moved past it
        (seq,) = conn.execute(
            "SELECT setval('jobs_seq_seq', GREATEST((SELECT COALESCE(MAX(seq), 0) FROM jobs),"
            " (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM jobs_seq_seq)) + 1)"
        ).fetchone()
        return int(seq)
    (last,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM jobs").fetchone()
    (used,) = conn.execute(
        "SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'jobs'"
    ).fetchone()
    return int(max(last, used) + 1)


def _looks_like_path(text: str) -> bool:
    return "/" in text or os.sep in text or text.lower().endswith(render_files.SUFFIXES)


def _ambiguous(ref: str, jobs: Iterable[Job]) -> str:
    ordered = sorted(jobs, key=lambda job: job.seq, reverse=True)
    named = [
        f"#{job.seq} {job.id[-SHORT_ID:]} ({_clip(job.prompt or job.mode)})" for job in ordered
    ]
    more = ", …" if len(named) > _CANDIDATES else ""
    return (
        f"{ref!r} matches several jobs: {', '.join(named[:_CANDIDATES])}{more}; "
        "give more characters of the id, or its #number as @N"
    )


def _clip(text: str, width: int = 30) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def render_time(submitted_at: str, completed_at: str, last_pending_at: str | None) -> float:
    """How long a render took at the provider: it finished between the last poll that found it
    pending and the one that found it done."""
    done = clock.parse(completed_at)
    if last_pending_at:
        done = (done + clock.parse(last_pending_at)) / 2
    return max(0.0, done - clock.parse(submitted_at))
