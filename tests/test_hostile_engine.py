"""The engine against a hostile world: time up means nothing new is sent, --no-wait keeps to -c,
and a full disk is a resumable stop, not an internal error."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagine.engine.runner import Engine, EngineOptions
from imagine.session import Session
from imagine.spec import Mode, RenderSpec
from imagine.workflow.plan import Request
from imagine.workflow.steps import preview, record
from tests import hostile
from tests.helpers import Cli, read_jobs, sim_stats


@pytest.fixture
def server() -> Iterator[hostile.Hostile]:
    started = hostile.Hostile().start()
    yield started
    started.stop()


def _requests(count: int) -> list[Request]:
    return [
        Request(
            RenderSpec(mode=Mode.TEXT, model="grok-imagine-video", prompt=f"wave {n}", duration=1),
            "renders/{slug}",
        )
        for n in range(count)
    ]


# -- 2. time up: nothing new is sent ----------------------------------------------------------


def test_nothing_is_submitted_once_the_time_is_up(
    server: hostile.Hostile, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jobs started after the deadline (the batch is driven a few at a time) send nothing.

    The engine's clock jumps past the deadline while the server takes the fourth request, so
    the test does not depend on how fast a loaded machine gets through the first ones."""
    import uuid

    from imagine import clock

    late = 0.0  # seconds the engine's clock is ahead of the real one
    monkeypatch.setattr(clock, "now", lambda: time.time() + late)

    def submit(handler: hostile.Handler) -> None:
        nonlocal late
        if server.count("POST") >= 4:
            late = 3600.0  # the hour is up while this one is being sent
        handler.body(200, f'{{"request_id": "{uuid.uuid4()}"}}'.encode())

    server.submit = submit
    monkeypatch.setenv("XAI_API_KEY", hostile.KEY)
    options = EngineOptions(rps=1000, concurrency=100, wait=False, timeout=600, max_active=2)
    with Session(base_url=server.url) as session:
        planned = record(session, preview(session, _requests(30)))
        engine = Engine(session.ledger, session.client, options=options)
        outcomes = asyncio.run(engine.run([item.job.id for item in planned]))
    sent = server.count("POST")
    # The fourth, and at most one more already past its check (two jobs are driven at a time).
    assert 4 <= sent <= 5
    statuses = [str(outcome.job.status) for outcome in outcomes]
    assert statuses.count("running") == sent  # each request sent was answered and kept
    assert statuses.count("queued") == 30 - sent
    assert all(o.reason == "timeout" for o in outcomes if str(o.job.status) == "queued")


# -- 10. --no-wait keeps to -c ----------------------------------------------------------------


def test_no_wait_keeps_to_the_in_flight_cap(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    (project / "prompts.txt").write_text("".join(f"a wave {n}\n" for n in range(6)))
    env = {"XAI_API_KEY": sim.api_key}
    assert cli.run("config", "set", "rps", "50").exit_code == 0  # pacing is not under test
    result = cli.run(
        "batch", "prompts.txt", "-d", "1", "--no-wait", "-c", "2", "--base-url", sim.url, env=env
    )
    assert result.exit_code == 0, result.stderr
    assert sim_stats(sim)["submissions"] == 2
    assert "every render slot is taken (-c 2)" in result.stderr
    statuses = sorted(row["status"] for row in read_jobs(imagine_home))
    assert statuses == ["queued"] * 4 + ["running"] * 2

    # A second --no-wait run finds the slots still taken by the renders nobody follows.
    again = cli.run(
        "batch", "prompts.txt", "-d", "1", "--no-wait", "-c", "2", "--base-url", sim.url, env=env
    )
    assert again.exit_code == 0, again.stderr
    assert sim_stats(sim)["submissions"] == 2

    done = cli.run("wait", "--all", env=env)
    assert done.exit_code == 0, done.stderr
    assert {row["status"] for row in read_jobs(imagine_home)} == {"complete"}
    assert sim_stats(sim)["submissions"] == 6


# -- 11. a full disk --------------------------------------------------------------------------

FILE_LIMIT = 1_500_000  # bytes any one file of the child may reach (RLIMIT_FSIZE)
VIDEO = 3_000_000


def _small_files() -> None:
    """In the child: files stop growing at FILE_LIMIT, and writing past it fails with EFBIG
    (as a full disk fails with ENOSPC) instead of killing the process with SIGXFSZ."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE semantics of Linux")
def test_a_full_disk_stops_resumably_and_wait_finishes_once_there_is_room(
    cli: Cli, server: hostile.Hostile, project: Path, imagine_home: Path
) -> None:
    server.file = hostile.file_bytes(b"\1" * VIDEO)
    (project / "prompts.txt").write_text("a wave\na tide\na storm\n")
    env = {**os.environ, "XAI_API_KEY": hostile.KEY, "IMAGINE_HOME": str(imagine_home)}
    command = ["batch", "prompts.txt", "-d", "1", "--base-url", server.url, "--timeout", "30"]
    child = subprocess.run(
        [sys.executable, "-m", "imagine", *command],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=_small_files,
        timeout=60,
    )
    assert child.returncode == 4, child.stderr
    renders = project / "renders"
    assert child.stderr.count(f"no space left on {renders}") >= 3, child.stderr
    assert "Task exception" not in child.stderr and "Traceback" not in child.stderr
    assert "internal error" not in child.stderr
    jobs = read_jobs(imagine_home)
    assert [row["status"] for row in jobs] == ["downloading"] * 3  # nothing lost
    assert len(list(renders.glob("*.part"))) == 3

    # Room again (no limit in this process): `imagine wait` finishes every one of them.
    done = cli.run("wait", "--all", env={"XAI_API_KEY": hostile.KEY})
    assert done.exit_code == 0, done.stderr
    jobs = read_jobs(imagine_home)
    assert [row["status"] for row in jobs] == ["complete"] * 3
    assert [row["file_bytes"] for row in jobs] == [VIDEO] * 3
    assert not list(renders.glob("*.part"))
    assert server.count("POST") == 3  # nothing sent twice
