"""Helpers for tests that run the real CLI in-process."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from functools import cache
from pathlib import Path
from typing import Any

from typer.main import get_command
from typer.testing import CliRunner, Result

from imagine import ids
from imagine.cli.app import app
from imagine.lifecycle import Status
from tests import plain


@cache
def _command() -> Any:
    """The app as a Click command, built once: Typer's runner builds it anew for every run, which
    cost about 30 ms of CPU each time, a good part of the suite's."""
    return get_command(app)


class Cli:
    def __init__(self) -> None:
        self.runner = CliRunner()

    def run(
        self, *args: str, env: dict[str, str] | None = None, input: str | None = None
    ) -> Result:
        """Run `imagine ARGS` in-process. Only the CLI's own exit comes back as a Result: any
        other exception (a bug; under pytest the app re-raises it instead of exiting 70) goes on
        with its traceback and the output so far, so an exit-code assertion can never pass on a
        crash. A test that means to meet one says so with ``pytest.raises``."""
        with self.runner.isolation(input=input, env=env) as (stdout, stderr, output):
            try:
                _command().main(args=list(args), prog_name="imagine")
                code: int = 0  # main() always exits; this is in case it ever returns
            except SystemExit as exit:
                code = exit.code if isinstance(exit.code, int) else 0 if exit.code is None else 1
            except Exception as error:
                sys.stdout.flush()
                sys.stderr.flush()
                error.add_note(
                    f"raised by `imagine {' '.join(args)}`\n--- stdout ---\n"
                    f"{stdout.getvalue().decode(errors='replace')}--- stderr ---\n"
                    f"{stderr.getvalue().decode(errors='replace')}"
                )
                raise
            sys.stdout.flush()
            sys.stderr.flush()
            streams = stdout.getvalue(), stderr.getvalue(), output.getvalue()
        exception = SystemExit(code) if code else None
        return Result(self.runner, *streams, None, code, exception)

    def gen(self, sim: Any, *args: str, env: dict[str, str] | None = None) -> Result:
        """`imagine gen ARGS --base-url SIM` with the simulator's key."""
        return self.run(
            "gen", *args, "--base-url", sim.url, env={"XAI_API_KEY": sim.api_key, **(env or {})}
        )


def read_jobs(home: Path) -> list[Any]:
    """The jobs of the test's ledger (SQLite's file under ``home``, or the PostgreSQL ledger
    IMAGINE_LEDGER names), oldest first, as rows read by column name."""
    if os.environ.get("IMAGINE_LEDGER", "").startswith("postgresql://"):
        from imagine.ledger.store import Ledger

        with Ledger.open() as ledger:
            return list(ledger.conn.execute("SELECT * FROM jobs ORDER BY seq"))
    path = home / "ledger.sqlite3"
    if not path.exists():
        return []
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute("SELECT * FROM jobs ORDER BY seq"))
    finally:
        conn.close()


def sim_stats(sim: Any) -> dict[str, Any]:
    stats: dict[str, Any] = plain.get(f"{sim.url}/sim/stats").json()
    return stats


def failed_renders(cli: Cli, sim: Any, *prompts: str) -> None:
    """A failed job for each prompt (the simulator fails every render meanwhile), then a
    simulator whose renders succeed again."""
    sim.configure(fail_rate=1.0)
    for prompt in prompts:
        assert cli.gen(sim, prompt, "-d", "1").exit_code == 1
    sim.configure(fail_rate=0.0)


def write_config(home: Path, text: str) -> Path:
    """The user's config file under ``home`` (IMAGINE_HOME, made if missing), holding ``text``."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text(text)
    return path


def write_prompts(folder: Path, prompts: list[str], head: str = "") -> Path:
    """A batch file ``prompts.txt`` in ``folder``: ``head`` (e.g. comments), then a prompt a line."""
    path = folder / "prompts.txt"
    path.write_text(head + "\n".join(prompts) + "\n")
    return path


def job_values(**overrides: Any) -> dict[str, Any]:
    """A queued text job's row for Ledger.insert, with ``overrides``."""
    values: dict[str, Any] = {
        "id": ids.new_id(),
        "status": Status.QUEUED,
        "mode": "text",
        "model": "grok-imagine-video",
        "route": "/v1/videos/generations",
        "prompt": "a fox in the snow",
        "fingerprint": "f" * 64,
        "base_url": "https://api.x.ai",
        "project_dir": "/tmp/p",
        "output_path": "/tmp/p/renders/fox.mp4",
        "request_json": json.dumps({"model": "grok-imagine-video", "prompt": "a fox"}),
    }
    values.update(overrides)
    return values
