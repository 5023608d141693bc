"""The PostgreSQL ledger's own behaviour: selecting it, its SQL, a lost connection (exit 4, a
later run carries on), copying a SQLite ledger into it, and what it never shows (a password)."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from imagine.errors import LedgerUnreachable
from imagine.ledger.store import Ledger
from imagine.lifecycle import EventKind, Status
from tests.helpers import Cli, job_values, sim_stats, write_config

psycopg = pytest.importorskip("psycopg")


def _terminate(url: str, ledger: Ledger) -> None:
    """End the ledger's server session from outside, as a server restart or a network cut does."""
    (pid,) = ledger.conn.execute("SELECT pg_backend_pid()").fetchone()
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_the_ledger_setting_selects_postgresql(
    cli: Cli, postgres_url: str, imagine_home: Path
) -> None:
    write_config(imagine_home, f'ledger = "{postgres_url}"\n')
    shown = cli.run("ledger", "path", "--json")
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout) == {"backend": "postgresql", "location": postgres_url}
    with Ledger.open() as ledger:
        assert ledger.shared and ledger.insert(job_values()).seq == 1
    assert not (imagine_home / "ledger.sqlite3").exists()


def test_a_password_is_never_shown(
    cli: Cli, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_password = postgres_url.replace("postgres@", "postgres:s3cretPW@", 1)
    monkeypatch.setenv("IMAGINE_LEDGER", with_password)
    shown = cli.run("ledger", "path")
    assert shown.exit_code == 0 and "s3cretPW" not in shown.stdout
    assert "postgres:***@" in shown.stdout
    refused = cli.run("config", "set", "ledger", with_password)
    assert refused.exit_code == 2 and "PGPASSWORD" in refused.stderr
    assert "s3cretPW" not in refused.stderr


def test_an_unreachable_server_is_exit_4_with_the_reason(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagine.ledger import postgres

    monkeypatch.setattr(postgres, "RECONNECT_SECONDS", 0.3)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    monkeypatch.setenv("IMAGINE_LEDGER", f"postgresql://u:pw@127.0.0.1:{port}/imagine")
    result = cli.run("list")
    assert result.exit_code == 4
    assert result.stderr.count("\n") == 1 and "cannot reach the ledger" in result.stderr
    assert f"127.0.0.1:{port}" in result.stderr and "pw" not in result.stderr.replace("u:***", "")


def test_a_refusing_server_is_exit_2_naming_the_fix(
    cli: Cli, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGINE_LEDGER", postgres_url.replace("/postgres", "/no_such_db", 1))
    result = cli.run("list")
    assert result.exit_code == 2 and "refused" in result.stderr and "no_such_db" in result.stderr


def test_a_connection_lost_while_idle_is_made_again(postgres_url: str) -> None:
    with Ledger.open(postgres_url) as ledger:
        job = ledger.insert(job_values())
        _terminate(postgres_url, ledger)
        assert ledger.require(job.id).status is Status.QUEUED  # a read: connected again
        _terminate(postgres_url, ledger)
        moved = ledger.update(job.id, EventKind.CANCELED, status=Status.CANCELED)  # a write
        assert moved.status is Status.CANCELED


def test_a_connection_lost_inside_a_write_stops_it_and_keeps_the_last_state(
    postgres_url: str,
) -> None:
    with Ledger.open(postgres_url) as ledger:
        job = ledger.insert(job_values())
        with pytest.raises(LedgerUnreachable), ledger.transaction() as conn:
            conn.execute("UPDATE jobs SET status = 'canceled' WHERE id = ?", (job.id,))
            _terminate(postgres_url, ledger)
            conn.execute("SELECT 1")
        assert ledger.require(job.id).status is Status.QUEUED  # nothing half written
        assert [e.event for e in ledger.events(job.id)] == [EventKind.CREATED]


def _owner_that_has_ended() -> str:
    """A lease owner naming a process of this machine that has run and ended."""
    ended = subprocess.Popen(["true"])
    ended.wait()
    return f"{socket.gethostname()}:{ended.pid}:0e0e0e"


class _Proxy:
    """A TCP relay between imagine and the server, to cut the network and mend it."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.open: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            server = socket.create_connection(("127.0.0.1", self.target))
            self.open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up = False
        for end in self.open:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()
        self.open.clear()

    def mend(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


def test_a_network_cut_mid_render_is_exit_4_and_a_later_run_carries_on(
    cli: Cli, sim_factory: Any, postgres_url: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from urllib.parse import urlsplit

    from imagine.ledger import leases, postgres

    monkeypatch.setattr(postgres, "RECONNECT_SECONDS", 0.5)
    sim = sim_factory(speed=5.0)  # a 1-second clip renders for a while
    real = urlsplit(postgres_url)
    proxy = _Proxy(real.port or 5432)
    through = postgres_url.replace(f":{real.port}/", f":{proxy.port}/", 1)
    monkeypatch.setenv("IMAGINE_LEDGER", through)

    def cut_once_running() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with Ledger.open(postgres_url) as watcher:
                if any(job.status is Status.RUNNING for job in watcher.jobs()):
                    proxy.cut()
                    return
            time.sleep(0.02)

    cutter = threading.Thread(target=cut_once_running)
    cutter.start()
    with monkeypatch.context() as gone:
        # The command runs in this process, which lives on: its lease names a process that has
        # ended instead, as the real command's would once it exited (else the later run waits
        # the lease out, a minute).
        gone.setattr(leases, "new_owner", _owner_that_has_ended)
        result = cli.gen(sim, "a lantern on a pier", "-d", "1")
    cutter.join()
    assert result.exit_code == 4, result.stderr
    assert "cannot reach the ledger" in result.stderr and "run the command again" in result.stderr
    with Ledger.open(postgres_url) as ledger:
        (job,) = ledger.jobs()
        assert job.status is Status.RUNNING and job.request_id  # as last committed

    proxy.mend()
    resumed = cli.run("wait", "@last", env={"XAI_API_KEY": sim.api_key})
    assert resumed.exit_code == 0, resumed.stderr
    assert (project / resumed.stdout.strip()).is_file()
    assert sim_stats(sim)["submissions"] == 1  # never sent twice
    proxy.close()


def test_migrate_copies_a_sqlite_ledger_whole_and_again_changes_nothing(
    cli: Cli, sim: Any, postgres_url: str, project: Path, imagine_home: Path
) -> None:
    for prompt in ("a fox", "an owl", "a hare"):
        assert cli.gen(sim, prompt, "-d", "1").exit_code == 0
    with Ledger.open() as local:
        local.add_audit({"job_id": "", "action": "test", "detail": {"n": 1}})
        events = len(local.events(local.resolve("@1").id))
    first = cli.run("ledger", "migrate", "--to", postgres_url, "--json")
    assert first.exit_code == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["whole"] is True
    tables = {t["table"]: t for t in report["tables"]}
    assert tables["jobs"]["rows"] == tables["jobs"]["copied"] == 3
    assert tables["audit_log"]["copied"] == 1
    assert all(t["sha256"] == t["copied_sha256"] for t in report["tables"])

    second = cli.run("ledger", "migrate", "--to", postgres_url, "--json")  # idempotent
    assert second.exit_code == 0 and json.loads(second.stdout) == report

    with Ledger.open(postgres_url) as shared:
        assert [job.prompt for job in shared.jobs()] == ["a hare", "an owl", "a fox"]
        assert len(shared.events(shared.resolve("@1").id)) == events
        assert shared.insert(job_values()).seq == 4  # numbering carries on past the copy


def test_migrate_refuses_a_ledger_that_holds_other_jobs(
    cli: Cli, sim: Any, postgres_url: str, project: Path
) -> None:
    assert cli.gen(sim, "a fox", "-d", "1").exit_code == 0
    with Ledger.open(postgres_url) as shared:
        shared.insert(job_values())
    result = cli.run("ledger", "migrate", "--to", postgres_url)
    assert result.exit_code == 2 and "already holds 1 job" in result.stderr
    with Ledger.open(postgres_url) as shared:
        assert len(shared.jobs()) == 1  # nothing copied


def test_stats_and_usage_on_postgresql_agree_with_its_jobs(
    cli: Cli, sim: Any, postgres_url: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The summary stats reads (ledger/summary.py) is kept by every write on PostgreSQL too."""
    monkeypatch.setenv("IMAGINE_LEDGER", postgres_url)
    for prompt in ("a fox", "an owl"):
        assert cli.gen(sim, prompt, "-d", "1").exit_code == 0
    sim.configure(fail_rate=1.0)
    assert cli.gen(sim, "a hare", "-d", "1").exit_code == 1
    sim.configure(fail_rate=0.0)
    assert cli.run("rm", "@1").exit_code == 0
    with Ledger.open() as ledger:
        jobs = ledger.jobs()
    shown = cli.run("stats", "--json", "--by", "model")
    assert shown.exit_code == 0, shown.stderr
    overall = json.loads(shown.stdout)["overall"]
    assert overall["jobs"] == len(jobs) == 2
    assert overall["outcomes"]["complete"] == 1 and overall["outcomes"]["failed"] == 1
    assert overall["cost"]["renders"] == 1
    assert overall["latency_s"]["total"]["count"] == 1
    usage = cli.run("usage", "--json")
    assert usage.exit_code == 0, usage.stderr
    assert "charged_usd" in usage.stdout or "spent" in usage.stdout
