"""A closed stdout (`imagine list | head -1`) ends a command quietly, as `git log | head` does."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Cli, read_jobs, sim_stats

STDOUT_CLOSED = 141  # 128 + SIGPIPE: what the shell reports for `git log | head`


def _closed_stdout(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run the real entry point with a stdout whose reader is already gone (`| head -c 0`)."""
    reader, writer = os.pipe()
    os.close(reader)
    full_env = {k: v for k, v in os.environ.items() if k != "IMAGINE_DEBUG"}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "imagine", *args],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
            env={**full_env, **(env or {})},
            check=False,
            timeout=60,
        )
    finally:
        os.close(writer)
    return done.returncode, done.stderr


@pytest.fixture
def two_jobs_and_an_edit(cli: Cli, sim: Any, project: Path) -> Any:
    for prompt in ("a red fox", "a blue whale"):
        assert cli.gen(sim, prompt, "-d", "1").exit_code == 0
    edited = cli.run(
        "edit", "@1", "make it snow", "--consent", "--base-url", sim.url,
        env={"XAI_API_KEY": sim.api_key},
    )  # fmt: skip
    assert edited.exit_code == 0, edited.stderr
    return sim


READERS = [
    ["list"],
    ["list", "--json"],
    ["audit"],
    ["audit", "--json"],
    ["show", "@1"],
    ["show", "@1", "--json"],
    ["batch", "prompts.txt", "--dry-run"],
]


def test_reading_commands_end_quietly_when_stdout_closes(
    two_jobs_and_an_edit: Any, project: Path
) -> None:
    (project / "prompts.txt").write_text("a red fox\na blue whale\n")
    with ThreadPoolExecutor(len(READERS)) as pool:  # seven start-ups at once, not in turn
        ended = list(pool.map(lambda args: _closed_stdout(*args, cwd=project), READERS))
    for args, (code, stderr) in zip(READERS, ended, strict=True):
        assert (args, code) == (args, STDOUT_CLOSED)
        assert "internal error" not in stderr and "Broken pipe" not in stderr
        assert "Exception ignored" not in stderr and "Traceback" not in stderr


def test_a_render_whose_stdout_closes_keeps_its_jobs_and_wait_carries_on(
    cli: Cli, sim: Any, project: Path, imagine_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "prompts.txt").write_text("one\ntwo\nthree\n")
    # One start a minute: the first job renders and is printed (to nobody) while the other two
    # wait for their start, so which job finishes first, and that no request is in flight when
    # the run stops (it would be left unknown), do not hang on the speed of a loaded machine.
    args = ["batch", "prompts.txt", "-d", "1", "--rps", str(1 / 60), "--base-url", sim.url]
    code, stderr = _closed_stdout(*args, cwd=project, env={"XAI_API_KEY": sim.api_key})
    assert code == STDOUT_CLOSED
    assert "internal error" not in stderr and "Traceback" not in stderr
    assert "stdout closed: 2 job(s) left resumable" in stderr  # the first one finished
    assert "imagine wait" in stderr
    statuses = [row["status"] for row in read_jobs(imagine_home)]
    assert statuses == ["complete", "queued", "queued"]

    # A minute later (by the ledger's clock) the pacing lets `imagine wait` start the others.
    from imagine import clock

    monkeypatch.setattr(clock, "now", lambda: time.time() + 60)
    assert cli.run("config", "set", "rps", "50").exit_code == 0  # its own pacing is not under test
    finished = cli.run("wait", "--all", env={"XAI_API_KEY": sim.api_key})
    assert finished.exit_code == 0, finished.stderr
    assert [row["status"] for row in read_jobs(imagine_home)] == ["complete"] * 3
    assert len(finished.stdout.split()) == 2  # the two left over, each rendered once
    assert sim_stats(sim)["submissions"] == 3
