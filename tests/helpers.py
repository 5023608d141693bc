"""Helpers for tests that run the real CLI in-process."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner, Result

from imagine.cli.app import app


class Cli:
    def __init__(self) -> None:
        self.runner = CliRunner()

    def run(
        self, *args: str, env: dict[str, str] | None = None, input: str | None = None
    ) -> Result:
        """Run `imagine ARGS` in-process. Only the CLI's own exit comes back as a Result: any
        other exception (a bug; under pytest the app re-raises it instead of exiting 70) is
        raised again here with its traceback, so an exit-code assertion can never pass on a
        crash. A test that means to meet one says so with ``pytest.raises``."""
        result = self.runner.invoke(app, list(args), env=env, input=input)
        error = result.exception
        if error is not None and not isinstance(error, SystemExit):
            error.add_note(
                f"raised by `imagine {' '.join(args)}`\n"
                f"--- stdout ---\n{result.stdout}--- stderr ---\n{result.stderr}"
            )
            raise error
        return result

    def gen(self, sim: Any, *args: str, env: dict[str, str] | None = None) -> Result:
        """`imagine gen ARGS --base-url SIM` with the simulator's key."""
        return self.run(
            "gen", *args, "--base-url", sim.url, env={"XAI_API_KEY": sim.api_key, **(env or {})}
        )


def read_jobs(home: Path) -> list[sqlite3.Row]:
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
    stats: dict[str, Any] = httpx.get(f"{sim.url}/sim/stats").json()
    return stats


def failed_renders(cli: Cli, sim: Any, *prompts: str) -> None:
    """A failed job for each prompt (the simulator fails every render meanwhile), then a
    simulator whose renders succeed again."""
    sim.configure(fail_rate=1.0)
    for prompt in prompts:
        assert cli.gen(sim, prompt, "-d", "1").exit_code == 1
    sim.configure(fail_rate=0.0)
