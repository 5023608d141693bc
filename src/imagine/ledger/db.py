"""The ledger's connection: SQLite (WAL and a busy timeout from day one, so several processes can
share one ledger file), or PostgreSQL (ledger/postgres.py) for several machines. Both answer to
``Connection``: the ledger's code is written once, against it."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Protocol, TypeGuard

from imagine.errors import ConfigError

BUSY_TIMEOUT_MS = 30_000
WAL_RETRY_SECONDS = 0.02


class LedgerError(ConfigError):
    """The ledger file cannot be used as it is: damaged, read-only, or in a folder that cannot be
    written. Nothing was sent, and the file was left as it was found (exit 2)."""


_DAMAGED = ("not a database", "malformed", "file is encrypted", "disk image")
_READ_ONLY = ("readonly", "read-only")
_CANNOT_OPEN = ("unable to open", "disk i/o error")


# What a write transaction locks on PostgreSQL, where several machines write at once: "ledger"
# (the ledger's one write lock, as SQLite's; the default), "starts" (the lock every start takes:
# the cap on renders in flight, the pacing and the budget are read and written under it), or
# "rows" (only the rows it writes, e.g. a job's lease). SQLite has one lock for all.
Lock = Literal["ledger", "starts", "rows"]


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What the ledger asks of a connection: ``sqlite3.Connection``'s calls, a dialect's name,
    and a write transaction begun with the ledger's lock held."""

    dialect: str

    @property
    def in_transaction(self) -> bool: ...
    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...
    def executemany(self, sql: str, parameters: Any, /) -> Any: ...
    def begin_write(self, lock: Lock = "ledger") -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


class SqliteConnection(sqlite3.Connection):
    """``sqlite3.Connection`` as the ledger's ``Connection``."""

    dialect = "sqlite"

    def begin_write(self, lock: Lock = "ledger") -> None:
        # IMMEDIATE takes the write lock up front, so read-then-write cannot race.
        self.execute("BEGIN IMMEDIATE")


def open_ledger(where: Path | str) -> Connection:
    """A connection to the ledger at ``where``: a SQLite file, or a postgresql:// URL."""
    if isinstance(where, str):
        from imagine.ledger import postgres

        return postgres.connect(where)
    return connect(where)


def connect(path: Path) -> SqliteConnection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LedgerError(
            f"cannot create the folder of the ledger {path.parent}: {error.strerror}",
            hint=f"Make it writable, or set IMAGINE_LEDGER to a file elsewhere. {_MOVE}",
        ) from None
    try:
        conn = sqlite3.connect(
            path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, factory=SqliteConnection
        )
    except sqlite3.Error as error:
        raise problem(error, path) from None
    try:
        _open(conn)
    except sqlite3.DatabaseError as error:
        conn.close()
        raise problem(error, path) from None
    return conn


def _open(conn: sqlite3.Connection) -> None:
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    # Read the header and the schema before anything may write: a file that is no ledger (text,
    # garbage, cut short in its first page) is refused here, exactly as it was found.
    conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    _use_wal(conn)
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")


_MOVE = "IMAGINE_LEDGER=/path/to/ledger.sqlite3 uses another ledger."


def problem(error: sqlite3.Error, path: Path) -> LedgerError:
    """What to tell the user about the ledger ``path`` when SQLite fails with ``error``."""
    text = str(error)
    lowered = text.lower()
    if any(word in lowered for word in _DAMAGED):
        return LedgerError(
            f"the ledger {path} is damaged ({text})",
            hint=f"Restore it from a backup, or move it aside (mv {path} {path}.damaged) to "
            f"start a new one. {_MOVE}",
        )
    if any(word in lowered for word in _READ_ONLY):
        return LedgerError(
            f"the ledger {path} is read-only ({text})",
            hint=f"Make it and its folder writable, or copy it elsewhere. {_MOVE}",
        )
    if any(word in lowered for word in _CANNOT_OPEN):
        return LedgerError(
            f"cannot open the ledger {path} ({text})",
            hint=f"Check that it and its folder {path.parent} can be read and written. {_MOVE}",
        )
    return LedgerError(f"cannot use the ledger {path} ({text})", hint=_MOVE)


def is_ledger_problem(error: BaseException) -> TypeGuard[sqlite3.DatabaseError]:
    """A failure of the ledger file itself (found later than its opening, e.g. a damaged page in
    the middle of it), as opposed to a bug in a query."""
    if not isinstance(error, sqlite3.DatabaseError):
        return False
    lowered = str(error).lower()
    return any(word in lowered for word in (*_DAMAGED, *_READ_ONLY, *_CANNOT_OPEN))


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL (it stays so; later opens find it done). Processes opening a new
    ledger at the same moment each try the switch, and SQLite answers "database is locked" at
    once, without its busy timeout, to all but one: they try again until the switch is made."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(WAL_RETRY_SECONDS)


@contextmanager
def transaction(conn: Connection, lock: Lock = "ledger") -> Iterator[Connection]:
    """One logical write, with the ledger's write lock taken up front, so read-then-write cannot
    race (SQLite's BEGIN IMMEDIATE; PostgreSQL's advisory lock). Inside a transaction already
    open on ``conn``, the write joins it: it commits, or is rolled back, with the enclosing one."""
    if conn.in_transaction:
        yield conn
        return
    conn.begin_write(lock)
    try:
        yield conn
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
