"""The SQLite connection: WAL and a busy timeout from day one, so several processes can share one ledger."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from imagine.errors import ConfigError

BUSY_TIMEOUT_MS = 30_000
WAL_RETRY_SECONDS = 0.02


def connect(path: Path) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    except (OSError, sqlite3.Error) as error:
        raise ConfigError(
            f"cannot open the ledger {path}: {error}",
            hint="Set IMAGINE_LEDGER to a writable file.",
        ) from None
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    _use_wal(conn)
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


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
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One logical write. IMMEDIATE takes the write lock up front, so read-then-write cannot race.
    Inside a transaction already open on ``conn``, the write joins it: it commits, or is rolled
    back, with the enclosing one."""
    if conn.in_transaction:
        yield conn
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
