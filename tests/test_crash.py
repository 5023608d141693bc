"""A render survives its process: kill -9 mid-render, then `imagine wait` finishes it, paid once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from imagine.media.probe import probe_video
from tests.helpers import Cli, read_jobs, sim_stats


def _start_gen(sim: Any, folder: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "XAI_API_KEY": sim.api_key}
    # A child inherits an ignored SIGINT, and a suite started in the background (`pytest &` in a
    # script) has one: its children would not hear Ctrl-C at all. The child starts as it would
    # from a terminal, with SIGINT's default action (a handler is reset by exec, an ignore is not).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "imagine", "gen", "--base-url", sim.url, *args],
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    finally:
        signal.signal(signal.SIGINT, previous)


def _wait_for_status(home: Path, status: str, timeout: float = 60) -> None:
    # (a minute: a child's start-up on a machine busy with the rest of the suite took over 20 s)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            rows = read_jobs(home)
        except sqlite3.OperationalError:  # the other process is still creating the ledger
            rows = []
        if rows and rows[-1]["status"] == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"no job reached {status}: {[dict(r) for r in read_jobs(home)]}")


@pytest.mark.slow
def test_kill_mid_render_then_wait_finishes_with_one_submission(
    cli: Cli, sim_factory: Any, tmp_path: Path, imagine_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = sim_factory(speed=4.0)
    monkeypatch.chdir(tmp_path)
    process = _start_gen(sim, tmp_path, "a comet over the sea", "-d", "2")
    _wait_for_status(imagine_home, "running")
    process.send_signal(signal.SIGKILL)
    process.communicate()

    result = cli.run("wait", "--all", env={"XAI_API_KEY": sim.api_key})
    assert result.exit_code == 0, result.stderr
    video = tmp_path / result.stdout.strip()
    assert abs(probe_video(video).duration - 2) < 0.2
    assert video.with_suffix(".json").exists()
    assert sim_stats(sim)["submissions"] == 1
    assert sim_stats(sim)["duplicate_bodies"] == 0


@pytest.mark.slow
def test_ctrl_c_leaves_the_job_resumable_and_says_how(
    sim_factory: Any, tmp_path: Path, imagine_home: Path
) -> None:
    sim = sim_factory(speed=4.0)
    process = _start_gen(sim, tmp_path, "a slow tide", "-d", "2")
    _wait_for_status(imagine_home, "running")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 130
    assert b"imagine wait" in stderr
    (row,) = read_jobs(imagine_home)
    assert row["status"] == "running"
    assert row["lease_owner"] is None
