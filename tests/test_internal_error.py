"""A crash is not a failed render: exit 70 and one line; and the suite cannot miss one."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from imagine.errors import ExitCode
from tests.helpers import Cli

# Loaded by Python at start-up (from PYTHONPATH) in the child: every SQLite connection the real
# program opens raises, as a bug deep in the core would, while the entry point stays untouched.
_CRASH = """
import sqlite3

def _connect(*args, **kwargs):
    raise RuntimeError("injected fault\\nsecond line")

sqlite3.connect = _connect
"""


def _entry_points() -> dict[str, list[str]]:
    script = Path(sys.executable).with_name("imagine")  # the console script in the same venv
    return {"python -m imagine": [sys.executable, "-m", "imagine"], "imagine": [str(script)]}


@pytest.mark.parametrize("entry", list(_entry_points()))
def test_a_crash_through_the_real_entry_point_exits_70_with_one_line(
    entry: str, tmp_path: Path
) -> None:
    command = _entry_points()[entry]
    if not Path(command[0]).exists():
        pytest.skip(f"{command[0]} is not installed")
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(textwrap.dedent(_CRASH))
    env = {**os.environ, "PYTHONPATH": str(hook)}
    done = subprocess.run(
        [*command, "list"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == ExitCode.INTERNAL == 70, done.stderr
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: internal error (RuntimeError: injected fault second line)")
    assert "imagine --debug" in line and "IMAGINE_DEBUG=1" in line
    assert "Traceback" not in done.stderr

    # The hint works: the same command with --debug shows where it broke.
    debug = subprocess.run(
        [*command, "--debug", "list"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert debug.returncode == 70
    assert "Traceback" in debug.stderr and "_connect" in debug.stderr


def test_the_suite_fails_on_an_exception_the_cli_did_not_turn_into_an_exit(
    cli: Cli, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cli.run raises a crash instead of handing back a Result whose exit code (1, as for a
    failed job) a test could assert on and pass."""
    import sqlite3

    def _connect(*args: object, **kwargs: object) -> sqlite3.Connection:
        raise RuntimeError("injected fault")

    monkeypatch.setattr(sqlite3, "connect", _connect)
    with pytest.raises(RuntimeError, match="injected fault") as raised:
        cli.run("list")
    assert "raised by `imagine list`" in "".join(raised.value.__notes__)


def test_the_cli_s_own_exits_still_come_back_as_results(cli: Cli, project: Path) -> None:
    assert cli.run("show", "nosuchjob").exit_code == ExitCode.USAGE
    assert cli.run("list", "--no-such-option").exit_code == ExitCode.USAGE
    assert cli.run("--version").exit_code == ExitCode.OK
