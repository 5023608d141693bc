"""Copy a ledger into another (a SQLite file into a team's PostgreSQL): `imagine ledger migrate`.

Idempotent and verifiable: rows are copied by primary key (a row already there is left as it
is), all in one transaction on the target, and each table's rows are then counted and
checksummed on both sides, so the copy can be shown to be whole. The target must be empty or
hold an earlier copy of this same ledger: merging two teams' ledgers is not a copy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from imagine.errors import ConfigError
from imagine.ledger.db import Connection, transaction
from imagine.ledger.store import Ledger

BATCH = 1000  # rows per INSERT round
_SKIPPED = {"_migrations"}  # the target has its own, from its own migrations


@dataclass(frozen=True)
class TableCopy:
    name: str
    source_rows: int
    target_rows: int
    source_sum: str
    target_sum: str

    @property
    def whole(self) -> bool:
        return self.source_rows == self.target_rows and self.source_sum == self.target_sum


def tables(conn: Connection) -> list[str]:
    """The ledger's tables, parents before children (the order their migrations made them)."""
    if conn.dialect == "postgresql":
        rows = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind = 'r' ORDER BY c.oid"
        )
    else:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
        )
    return [row[0] for row in rows if row[0] not in _SKIPPED]


def columns(conn: Connection, table: str) -> list[str]:
    """Columns holding data (not computed from others: generated columns are made again)."""
    if conn.dialect == "postgresql":
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema ="
            " current_schema() AND table_name = ? AND is_generated = 'NEVER'"
            " ORDER BY ordinal_position",
            (table,),
        )
        return [row[0] for row in rows]
    return [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]


def primary_key(conn: Connection, table: str) -> list[str]:
    if conn.dialect == "postgresql":
        rows = conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
            " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = (current_schema() || '.' || ?)"
            "::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)",
            (table,),
        )
        return [row[0] for row in rows]
    info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
    return [row[1] for row in sorted(info, key=lambda row: row[5]) if row[5]]


def copy(source: Ledger, target: Ledger) -> list[TableCopy]:
    """Copy every row of ``source`` missing from ``target``; then count and checksum both."""
    theirs = set(tables(target.conn))
    shapes = [
        _shape(source.conn, target.conn, name) for name in tables(source.conn) if name in theirs
    ]
    _check_target(source, target)
    with transaction(target.conn):
        for shape in shapes:
            _copy_table(source.conn, target.conn, shape)
        if target.conn.dialect == "postgresql":
            _move_sequences(target.conn, [shape.name for shape in shapes])
    return [_compare(source.conn, target.conn, shape) for shape in shapes]


@dataclass(frozen=True)
class _Shape:
    """What is copied of a table: its data columns both sides have, and the target's key."""

    name: str
    columns: list[str]
    key: list[str]


def _shape(source: Connection, target: Connection, name: str) -> _Shape:
    theirs = set(columns(target, name))
    wanted = [column for column in columns(source, name) if column in theirs]
    return _Shape(name, wanted, primary_key(target, name))


def _check_target(source: Ledger, target: Ledger) -> None:
    """Refuse a target holding jobs the source does not: that is another ledger, not a copy."""
    theirs = {row[0] for row in target.conn.execute("SELECT id FROM jobs")}
    if not theirs:
        return
    ours = {row[0] for row in source.conn.execute("SELECT id FROM jobs")}
    foreign = theirs - ours
    if foreign:
        raise ConfigError(
            f"the target ledger already holds {len(foreign)} job(s) that this ledger does not",
            hint="Copy into an empty database or schema (a copy may be run again, not merged)",
        )


def _copy_table(source: Connection, target: Connection, shape: _Shape) -> None:
    name, wanted, key = shape.name, shape.columns, shape.key
    listed = ", ".join(wanted)
    marks = ", ".join("?" for _ in wanted)
    conflict = f" ON CONFLICT ({', '.join(key)}) DO NOTHING" if key else ""
    insert = f"INSERT INTO {name} ({listed}) VALUES ({marks}){conflict}"
    order = f" ORDER BY {', '.join(key)}" if key else ""
    rows = source.execute(f"SELECT {listed} FROM {name}{order}")
    for batch in _batches(rows):
        target.executemany(insert, batch)


def _batches(rows: Iterable[Any]) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(tuple(row))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _move_sequences(conn: Connection, names: list[str]) -> None:
    """Rows copied with their ids leave PostgreSQL's identity sequences behind: move them past."""
    for name in names:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema ="
            " current_schema() AND table_name = ? AND is_identity = 'YES'",
            (name,),
        ).fetchall()
        for (column,) in rows:
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{name}', '{column}'),"
                f" GREATEST((SELECT MAX({column}) FROM {name}), 1))"
            )


def checksum(conn: Connection, name: str, wanted: list[str], key: list[str]) -> tuple[int, str]:
    """How many rows ``name`` has, and a sha256 of their values in primary-key order (numbers
    written one way whichever side they were read from: 8 and 8.0 are the same value)."""
    order = f" ORDER BY {', '.join(key)}" if key else f" ORDER BY {', '.join(wanted)}"
    digest = hashlib.sha256()
    count = 0
    for row in conn.execute(f"SELECT {', '.join(wanted)} FROM {name}{order}"):
        digest.update("\x1f".join(_canonical(value) for value in row).encode())
        digest.update(b"\x1e")
        count += 1
    return count, digest.hexdigest()


def _canonical(value: Any) -> str:
    if value is None:
        return "\x00"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int | float):
        number = float(value)
        if number.is_integer() and abs(number) < 2**53:
            return str(int(number))
        return repr(number)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _compare(source: Connection, target: Connection, shape: _Shape) -> TableCopy:
    rows, total = checksum(source, shape.name, shape.columns, shape.key)
    copied, copied_total = checksum(target, shape.name, shape.columns, shape.key)
    return TableCopy(shape.name, rows, copied, total, copied_total)
