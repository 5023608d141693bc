"""A command's cost does not grow with the ledger or the project folder: a new render reads the
ledger only through indexes, and walks the project folder only the first time a ledger sees it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagine.ledger import db
from imagine.workflow import reuse
from tests.helpers import Cli, read_jobs, sim_stats


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every SQL statement the commands run from now on (with its values filled in)."""
    seen: list[str] = []
    real = db.connect

    def traced(path: Path) -> sqlite3.Connection:
        conn = real(path)
        conn.set_trace_callback(seen.append)
        return conn

    monkeypatch.setattr(db, "connect", traced)
    yield seen


@pytest.fixture
def walks(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The project folders walked for sidecars."""
    walked: list[Path] = []
    real = reuse._sidecars

    def counted(root: Path, passed_over: set[str]) -> Iterator[Path]:
        walked.append(root)
        return real(root, passed_over)

    monkeypatch.setattr(reuse, "_sidecars", counted)
    return walked


def test_a_new_render_reads_the_ledger_only_through_indexes(
    cli: Cli, sim: Any, project: Path, imagine_home: Path, statements: list[str]
) -> None:
    for prompt in ("a fox", "an owl"):
        assert cli.gen(sim, prompt, "-d", "1").exit_code == 0
    statements.clear()
    started = cli.gen(sim, "a heron", "-d", "2", "-r", "720p")  # a new shape, too
    assert started.exit_code == 0, started.stderr
    conn = sqlite3.connect(imagine_home / "ledger.sqlite3")
    scans = []
    for sql in dict.fromkeys(statements):
        if not sql.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            continue
        plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
        scans += [
            (sql, step) for step in plan if step.startswith("SCAN") and "_migrations" not in step
        ]
    assert scans == []


def test_the_project_folder_is_walked_once_per_ledger_and_restored_renders_still_found(
    cli: Cli,
    sim: Any,
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    walks: list[Path],
) -> None:
    for prompt in ("a fox", "an owl", "a hare"):
        assert cli.gen(sim, prompt, "-d", "1").exit_code == 0
    assert len(walks) == 1  # the first request ever made in this folder
    assert cli.gen(sim, "a crow", "-d", "1").exit_code == 0
    assert len(walks) == 1  # later ones ask the ledger
    # Another machine (a CI runner restoring renders/ without the ledger): its ledger has never
    # looked in the folder, so it walks it once, and finds what was rendered here.
    monkeypatch.setenv("IMAGINE_HOME", str(tmp_path / "another-machine"))
    assert cli.gen(sim, "a new moth", "-d", "1").exit_code == 0
    assert len(walks) == 2
    reused = cli.gen(sim, "a fox", "-d", "1")
    assert reused.exit_code == 0 and "already rendered" in reused.stderr
    assert len(walks) == 2
    assert sim_stats(sim)["submissions"] == 5
    # A render found then but deleted since is rendered anew, not pointed to.
    (hare,) = [row for row in read_jobs(tmp_path / "home") if row["prompt"] == "a hare"]
    Path(hare["output_path"]).unlink()
    again = cli.gen(sim, "a hare", "-d", "1")
    assert again.exit_code == 0 and "already rendered" not in again.stderr
    assert sim_stats(sim)["submissions"] == 6
    assert len(walks) == 2
