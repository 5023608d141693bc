"""The ledger: migrations from every historical schema, events, references, leases, pacing."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagine import clock
from imagine.errors import JobNotFound
from imagine.ledger import leases
from imagine.ledger.db import connect
from imagine.ledger.migrations import MIGRATIONS, migrate
from imagine.ledger.store import Ledger, StaleTransition
from imagine.lifecycle import Status
from tests.helpers import job_values


@pytest.fixture
def ledger(each_ledger: str) -> Iterator[Ledger]:
    """The test runs on a SQLite ledger, then on a PostgreSQL one."""
    with Ledger.open() as opened:
        yield opened


def test_opens_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.sqlite3") as ledger:
        assert ledger.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert ledger.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_default_location_follows_imagine_home(imagine_home: Path) -> None:
    with Ledger.open() as ledger:
        assert ledger.path == imagine_home / "ledger.sqlite3"


def test_imagine_ledger_moves_the_ledger_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGINE_LEDGER", str(tmp_path / "ci" / "jobs.db"))
    with Ledger.open() as ledger:
        assert ledger.path == tmp_path / "ci" / "jobs.db"
    assert (tmp_path / "ci" / "jobs.db").exists()


@pytest.mark.parametrize("done", range(len(MIGRATIONS) + 1))
def test_migrates_from_every_historical_schema(tmp_path: Path, done: int) -> None:
    path = tmp_path / "old.sqlite3"
    conn = connect(path)
    migrate(conn, MIGRATIONS[:done])
    if done:  # a job written by that older version must survive the upgrade
        conn.execute(
            "INSERT INTO jobs (id, status, mode, model, route, fingerprint, base_url,"
            " project_dir, output_path, created_at, updated_at)"
            " VALUES ('old1', 'running', 'text', 'm', '/r', 'fp', 'u', '/p', '/p/a.mp4', 't', 't')"
        )
    conn.close()
    with Ledger.open(path) as ledger:
        names = [row[0] for row in ledger.conn.execute("SELECT name FROM _migrations")]
        assert names == [name for name, _ in MIGRATIONS]
        columns = {row[1] for row in ledger.conn.execute("PRAGMA table_info(jobs)")}
        assert {"next_poll_at", "lease_owner", "poll_count"} <= columns
        if done:
            assert ledger.require("old1").status is Status.RUNNING


def test_migrations_run_once(tmp_path: Path) -> None:
    conn = connect(tmp_path / "l.sqlite3")
    assert migrate(conn) == [name for name, _ in MIGRATIONS]
    assert migrate(conn) == []


_OPEN_AT = """
import sys, time
from pathlib import Path
from imagine.ledger.store import Ledger
start = float(sys.argv[2])
while time.time() < start:
    pass
Ledger.open(Path(sys.argv[1])).close()
"""


def test_processes_opening_a_new_ledger_at_the_same_moment_all_get_it(tmp_path: Path) -> None:
    """Two `imagine` commands started together on a fresh machine both create the ledger: one
    switches it to WAL while the other finds it locked, which SQLite reports at once instead of
    waiting; neither may fail with "database is locked"."""
    for attempt in range(3):
        path = tmp_path / f"ledger-{attempt}.sqlite3"
        start = time.time() + 1.0  # every process spins until the same moment, imports done
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", _OPEN_AT, str(path), str(start)],
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(6)
        ]
        for process in processes:
            _, stderr = process.communicate(timeout=60)
            assert process.returncode == 0, stderr[-500:]
        with Ledger.open(path) as ledger:
            assert ledger.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_every_transition_is_an_event(ledger: Ledger) -> None:
    job = ledger.insert(job_values())
    ledger.update(job.id, "submitting", status=Status.SUBMITTING)
    ledger.update(job.id, "submitted", status=Status.RUNNING, request_id="r1")
    ledger.update(job.id, "update", progress=40)
    ledger.update(job.id, "rendered", status=Status.DOWNLOADING)
    ledger.update(job.id, "complete", status=Status.COMPLETE)
    events = ledger.events(job.id)
    assert [(e.event, e.from_status, e.to_status) for e in events] == [
        ("created", None, "queued"),
        ("submitting", "queued", "submitting"),
        ("submitted", "submitting", "running"),
        ("rendered", "running", "downloading"),
        ("complete", "downloading", "complete"),
    ]
    assert all(e.at.endswith("Z") for e in events)


def test_update_refuses_a_stale_transition(ledger: Ledger) -> None:
    job = ledger.insert(job_values())
    ledger.update(job.id, "canceled", status=Status.CANCELED)
    with pytest.raises(StaleTransition):
        ledger.update(job.id, "submitted", expect=[Status.QUEUED], status=Status.RUNNING)
    assert ledger.require(job.id).status is Status.CANCELED


def test_resolve_references(ledger: Ledger) -> None:
    first = ledger.insert(job_values(id="01jdaaaaaaaaaaaaaaaaaaaaaa"))
    second = ledger.insert(job_values(id="01jdbbbbbbbbbbbbbbbbbbbbbb", request_id="req-7"))
    assert ledger.resolve("@last").id == second.id
    assert ledger.resolve(f"@{first.seq}").id == first.id
    assert ledger.resolve("01jda").id == first.id
    assert ledger.resolve("01JDB").id == second.id
    assert ledger.resolve("req-7").id == second.id
    with pytest.raises(JobNotFound, match="several jobs"):
        ledger.resolve("01jd")
    with pytest.raises(JobNotFound, match="no job @99"):
        ledger.resolve("@99")
    with pytest.raises(JobNotFound, match="not a job reference"):
        ledger.resolve("a*b")


def test_filters(ledger: Ledger) -> None:
    ledger.insert(job_values(prompt="a red fox", output_path="/p/1.mp4"))
    whale = ledger.insert(job_values(prompt="blue whale 100%", output_path="/p/2.mp4"))
    ledger.update(whale.id, "submitting", status=Status.SUBMITTING)
    ledger.update(whale.id, "refused", status=Status.FAILED)
    assert [j.prompt for j in ledger.jobs(text="fox")] == ["a red fox"]
    assert [j.prompt for j in ledger.jobs(text="100%")] == ["blue whale 100%"]
    assert [j.prompt for j in ledger.jobs(statuses=[Status.FAILED])] == ["blue whale 100%"]
    assert len(ledger.jobs(limit=1)) == 1
    assert ledger.jobs(since=clock.iso(clock.now() + 60)) == []


def test_leases_are_exclusive_until_they_expire(ledger: Ledger) -> None:
    job = ledger.insert(job_values())
    assert leases.claim(ledger, job.id, "other-host:1:a", 60)
    assert not leases.claim(ledger, job.id, "me", 60)
    ledger.conn.execute(
        "UPDATE jobs SET lease_expires_at = ? WHERE id = ?", (clock.iso(clock.now() - 1), job.id)
    )
    taken = leases.claim(ledger, job.id, "me", 60)
    assert taken is not None and taken == ledger.require(job.id)  # as it stands, lease and all
    assert leases.holder(ledger, job.id) == taken.lease_owner == "me"
    leases.release(ledger, job.id, "me")
    assert leases.holder(ledger, job.id) is None


def test_a_finished_job_is_read_but_not_claimed(ledger: Ledger) -> None:
    job = ledger.insert(job_values())
    ledger.update(job.id, "canceled", status=Status.CANCELED)
    found = leases.claim(ledger, job.id, "me", 60)
    assert found is not None and found.status is Status.CANCELED
    assert leases.holder(ledger, job.id) is None


def test_a_dead_local_process_loses_its_lease_at_once(ledger: Ledger) -> None:
    job = ledger.insert(job_values())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = f"{socket.gethostname()}:{child.pid}:abc"
    assert leases.claim(ledger, job.id, dead, 600)
    alive = f"{socket.gethostname()}:{os.getpid()}:def"
    assert leases.claim(ledger, job.id, "me", 60)  # the dead owner's lease is taken over
    assert not leases.claim(ledger, job.id, alive, 60)


def test_try_start_caps_jobs_in_flight_across_processes(ledger: Ledger) -> None:
    jobs = [ledger.insert(job_values()) for _ in range(3)]
    for job in jobs:
        leases.claim(ledger, job.id, "p1", 60)
    # Distinct models, so that pacing does not come into it.
    assert leases.try_start(ledger, jobs[0].id, "m0", rps=1, cap=2) == leases.Start(0, slots_left=1)
    assert leases.try_start(ledger, jobs[1].id, "m1", rps=1, cap=2) == leases.Start(0, slots_left=0)
    assert leases.try_start(ledger, jobs[2].id, "m2", rps=1, cap=2).wait > 0
    assert ledger.require(jobs[2].id).status is Status.QUEUED
    ledger.update(jobs[0].id, "refused", status=Status.FAILED)
    assert leases.try_start(ledger, jobs[2].id, "m2", rps=1, cap=2).wait == 0
    assert ledger.require(jobs[2].id).status is Status.SUBMITTING
    assert leases.try_start(ledger, jobs[2].id, "m2", rps=1, cap=2).wait == -1


def test_try_start_paces_starts_per_model(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = [ledger.insert(job_values()) for _ in range(3)]
    now = time.time()
    monkeypatch.setattr(clock, "now", lambda: now)  # a loaded machine may pause between starts
    assert leases.try_start(ledger, jobs[0].id, "m", rps=1, cap=10).wait == 0
    now += 0.25
    assert leases.try_start(ledger, jobs[1].id, "m", rps=1, cap=10).wait == pytest.approx(0.75)
    assert leases.try_start(ledger, jobs[2].id, "other-model", rps=1, cap=10).wait == 0


def test_output_paths_are_held_by_live_and_complete_jobs(ledger: Ledger) -> None:
    job = ledger.insert(job_values(output_path="/p/a.mp4"))
    assert ledger.output_taken(Path("/p/a.mp4"))
    ledger.update(job.id, "submitting", status=Status.SUBMITTING)
    ledger.update(job.id, "refused", status=Status.FAILED)
    assert not ledger.output_taken(Path("/p/a.mp4"))


def test_insert_with_a_function_of_the_job_number(ledger: Ledger) -> None:
    ledger.insert(job_values())
    job = ledger.insert(lambda seq: job_values(output_path=f"/p/{seq}.mp4"))
    assert job.seq == 2
    assert job.output_path == "/p/2.mp4"


def test_two_connections_write_without_locking_errors(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    one, two = Ledger.open(path), Ledger.open(path)
    for n in range(20):
        (one if n % 2 else two).insert(job_values())
    assert len(one.jobs()) == 20
    assert isinstance(two.conn, sqlite3.Connection)


def test_statuses_of_many_jobs_at_once(ledger: Ledger) -> None:
    with ledger.transaction():  # one write: the point is the reading
        made = [
            ledger.insert(job_values(output_path=f"/tmp/p/renders/{n}.mp4")) for n in range(600)
        ]
        for job in made[1::2]:
            ledger.update(job.id, "submitting", status=Status.SUBMITTING)
        made[1::2] = [
            ledger.update(job.id, "submitted", status=Status.RUNNING) for job in made[1::2]
        ]
    asked = [job.id for job in made] + ["no-such-job"]
    found = ledger.statuses(asked)  # more ids than one statement may carry
    assert found == {job.id: job.status for job in made}


def test_a_write_inside_an_open_transaction_joins_it(ledger: Ledger, tmp_path: Path) -> None:
    """Nothing is seen by another connection until the enclosing transaction commits, and an
    error rolls back the joined writes with it."""
    other = Ledger.open().conn  # a second connection to the same ledger
    with ledger.transaction():
        ledger.insert(job_values(prompt="first"))
        assert other.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0
    assert other.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 1
    with pytest.raises(RuntimeError), ledger.transaction():
        ledger.insert(job_values(prompt="second"))
        raise RuntimeError("stop")
    assert [job.prompt for job in ledger.jobs()] == ["first"]
    assert ledger.conn.in_transaction is False
    other.close()
