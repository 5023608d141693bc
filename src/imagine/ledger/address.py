"""Where the ledger is: a SQLite file (the default) or a PostgreSQL database shared by machines.

Light on purpose (no sqlite3, no psycopg): the quick completion path and `imagine ledger path`
read it.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # pathlib and urllib.parse cost a TAB 10 ms: imported where needed
if TYPE_CHECKING:
    from pathlib import Path

SCHEMES = ("postgresql://", "postgres://")


def is_postgres(where: str | os.PathLike[str]) -> bool:
    return isinstance(where, str) and where.lower().startswith(SCHEMES)


def redacted(url: str) -> str:
    """The URL as it may be shown: any password replaced by ``***``."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "(a malformed PostgreSQL URL)"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None:
        netloc += f":{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def check_url(url: str) -> str:
    """A PostgreSQL URL as the ledger setting takes it; ValueError naming the problem."""
    from urllib.parse import urlsplit

    if not is_postgres(url):
        raise ValueError(f"{redacted(url)!r} is not a postgresql:// URL")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - read here: an out-of-range port raises only when asked for
    except ValueError as error:
        raise ValueError(f"the ledger URL is malformed ({error})") from None
    if not url.isprintable() or " " in url:
        raise ValueError("the ledger URL must be one line without spaces")
    if parts.password is not None:
        raise ValueError(
            "a ledger URL in a config file must not hold a password: put it in PGPASSWORD or "
            "~/.pgpass (libpq reads both), or in IMAGINE_LEDGER"
        )
    return url


def describe(where: Path | str) -> str:
    """The ledger's location as shown to a user (never a password)."""
    return redacted(where) if isinstance(where, str) else str(where)
