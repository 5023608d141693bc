"""A real PostgreSQL server for the tests, and a ledger of its own (a schema) for each test.

The server is the one `.ci/run` starts from Debian's `postgresql` package
(IMAGINE_TEST_POSTGRES), else one this worker starts in a temporary data folder from the
package's binaries (as the `postgres` user when running as root: PostgreSQL refuses root).
Without either, tests that need it are skipped, saying so.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

ENV = "IMAGINE_TEST_POSTGRES"


def binaries() -> Path | None:
    """The newest installed server's bin folder (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version(path: str) -> int:
    part = Path(path).parent.parent.name
    return int(part) if part.isdigit() else 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


class Server:
    """A server started for this session, stopped (and its folder removed) at the end."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.folder = Path(tempfile.mkdtemp(prefix="imagine-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        self.data = self.folder / "data"
        self.port = _free_port()
        subprocess.run(
            _as_postgres(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.data),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]
            ),
            check=True,
            capture_output=True,
        )
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c max_connections=200 -c synchronous_commit=off"
        )
        subprocess.run(
            _as_postgres(
                [
                    str(self.bin / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-o",
                    options,
                    "-l",
                    str(self.folder / "log"),
                    "-w",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        subprocess.run(
            _as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


def server_url() -> Iterator[str | None]:
    """The server's URL for the session (None: no server can be had here)."""
    given = os.environ.get(ENV)
    if given:
        yield given
        return
    bin_dir = binaries()
    if bin_dir is None:
        yield None
        return
    try:
        server = Server(bin_dir)
    except (OSError, subprocess.CalledProcessError):
        yield None
        return
    try:
        yield server.url
    finally:
        server.stop()


def with_schema(url: str, schema: str) -> str:
    """The URL of a ledger kept in ``schema`` of the server's database."""
    return f"{url}{'&' if '?' in url else '?'}options={quote(f'-csearch_path={schema}')}"


def new_schema(url: str) -> tuple[str, str]:
    """A fresh, empty schema (a ledger of its own): its name and its URL."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {name}")
            return name, with_schema(url, name)
        except psycopg.OperationalError:  # the server is still starting
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def drop_schema(url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
