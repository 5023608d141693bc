"""The jobs a reference being typed can become, for shell completion.

Only ``sqlite3``: the quick completion path (cli/quick.py) answers a TAB with this before
Typer, the engine or the ledger's own module is imported.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs a TAB 7 ms
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any, Protocol

    class _Reads(Protocol):
        def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...


# An id prefix shared by fewer jobs than this is read whole through the id index and filtered
# by status here (exact); a broader one walks each status's index between the seqs of its first
# and last id (of 500 or more candidates, the newest 30 by seq).
NARROW = 500


def job_choices(
    conn: _Reads, typed: str, statuses: Iterable[str] | None, limit: int
) -> list[tuple[int, str, str | None]]:
    """(seq, id, prompt) of the newest jobs the reference being typed can become: `@N…` by
    ranges of seq, an id prefix by a range of the id index, nothing typed by seq; each bounded
    by LIMIT, so a 100,000-job ledger answers like an empty one."""
    where: list[str] = []
    args: list[object] = []
    if typed.startswith("@"):
        digits = typed[1:]
        if digits and not digits.isdigit():
            return []
        if digits:
            (top,) = conn.execute("SELECT coalesce(max(seq), 0) FROM jobs").fetchone()
            spans = [  # @12: 12, 120-129, 1200-1299, …
                (int(digits) * 10**extra, int(digits) * 10**extra + 10**extra - 1)
                for extra in range(len(str(top)) - len(digits) + 1)
            ]
            if not spans:
                return []
            return _by_spans(conn, spans, statuses, limit)
    elif typed:
        where.append("id >= ? AND id < ?")
        args += [typed.lower(), typed.lower() + "\uffff"]
        if statuses is not None:
            if _narrow(conn, args):
                return _by_id(conn, args, set(statuses), limit)
            # Many jobs start so: each status's index is walked only between the seqs of the
            # first and the last of them (ids grow with time, as seq does), not from the newest
            # job of all (an old prefix and `rm`: every newer finished job).
            window = _seq_window(conn, args)
            where.append("seq BETWEEN ? AND ?")
            args += window
    by_id = typed and not typed.startswith("@") and statuses is None  # the id index, in order
    if statuses is not None:
        where.append("status = ?")
    sql = "SELECT seq, id, prompt FROM jobs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {'id' if by_id else 'seq'} DESC LIMIT {int(limit)}"
    # One query per status, each walking the status index (its entries are in seq order) from
    # the newest job and stopping at LIMIT: a status IN (…), or an ORDER BY id, would sort every
    # match (every finished job, for `rm`) to keep the newest few.
    found: list[tuple[int, str, str | None]] = []
    for status in [None] if statuses is None else statuses:
        found += conn.execute(sql, [*args, *([] if status is None else [str(status)])])
    by_seq = not typed or typed.startswith("@")
    found.sort(key=lambda row: row[0] if by_seq else row[1], reverse=True)
    return [(seq, job_id, prompt) for seq, job_id, prompt in found[:limit]]


def _narrow(conn: _Reads, bounds: list[object]) -> bool:
    """Whether fewer than NARROW ids start so (counted in the id index alone, up to NARROW)."""
    sql = "SELECT count(*) FROM (SELECT id FROM jobs WHERE id >= ? AND id < ? LIMIT ?) AS found"
    (count,) = conn.execute(sql, [*bounds, NARROW]).fetchone()
    return bool(count < NARROW)


def _seq_window(conn: _Reads, bounds: list[object]) -> list[int]:
    """The seqs of the first and the last id in the range (two lookups in the id index)."""
    ends = [
        conn.execute(
            f"SELECT seq FROM jobs WHERE id >= ? AND id < ? ORDER BY id {order} LIMIT 1", bounds
        ).fetchone()
        for order in ("ASC", "DESC")
    ]
    low, high = sorted(int(end[0]) if end else 0 for end in ends)
    return [low, high]


def _by_spans(
    conn: _Reads, spans: list[tuple[int, int]], statuses: Iterable[str] | None, limit: int
) -> list[tuple[int, str, str | None]]:
    """`@12`: the jobs (of each status) span by span, the highest first, each a range of the
    seq index (or of the status index, whose entries are in seq order): no walk crosses the
    jobs between spans, and none sorts a span's thousand jobs to keep 30."""
    sql = "SELECT seq, id, prompt FROM jobs WHERE seq BETWEEN ? AND ?"
    sql += f"{'' if statuses is None else ' AND status = ?'} ORDER BY seq DESC LIMIT ?"
    found: list[tuple[int, str, str | None]] = []
    for status in [None] if statuses is None else statuses:
        wanted = limit
        for low, high in reversed(spans):
            given = [low, high] if status is None else [low, high, str(status)]
            rows = list(conn.execute(sql, [*given, wanted]))
            found += rows
            wanted -= len(rows)
            if wanted <= 0:
                break
    found.sort(key=lambda row: row[0], reverse=True)
    return [(seq, job_id, prompt) for seq, job_id, prompt in found[:limit]]


def _by_id(
    conn: _Reads, bounds: list[object], statuses: set[str], limit: int
) -> list[tuple[int, str, str | None]]:
    """A narrow id prefix: its few jobs through the id index, those in the statuses kept. (Given
    `status = ?`, SQLite would walk that status's index instead: every finished job, for rm.)"""
    sql = "SELECT seq, id, prompt, status FROM jobs WHERE id >= ? AND id < ? ORDER BY id DESC"
    rows = conn.execute(sql, bounds)
    return [(seq, job_id, prompt) for seq, job_id, prompt, status in rows if status in statuses][
        :limit
    ]
