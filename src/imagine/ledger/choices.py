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
        found += conn.execute(sql, [*args, *([] if status is None else [str(status)])])
    found.sort(key=lambda row: row[0] if order == "seq" else row[1], reverse=True)
    return [(seq, job_id, prompt) for seq, job_id, prompt in found[:limit]]
