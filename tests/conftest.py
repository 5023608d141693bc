"""Shared fixtures: every test gets its own IMAGINE_HOME, and simulators on loopback on demand."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Errors are re-raised (not turned into one-line messages) when running under pytest only where a
# test asks for it; see imagine.cli.app. This marks that we are under pytest.
sys._called_from_test = True  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def imagine_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test may touch the real home: all per-user state goes under tmp_path/home."""
    home = tmp_path / "home"
    monkeypatch.setenv("IMAGINE_HOME", str(home))
    for name in ("XAI_API_KEY", "IMAGINE_LEDGER", "IMAGINE_DEBUG", "IMAGINE_BASE_URL", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh folder to work in, made the current one."""
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def sim_factory() -> Iterator[Callable[..., Any]]:
    """Start simulators on free loopback ports; all are stopped at the end of the test."""
    from imagine.sim import SimConfig, Simulator

    started: list[Simulator] = []

    def make(**knobs: Any) -> Simulator:
        knobs.setdefault("speed", 50.0)
        simulator = Simulator(SimConfig(**knobs)).start()
        started.append(simulator)
        return simulator

    yield make
    for simulator in started:
        simulator.stop()


@pytest.fixture
def sim(sim_factory: Callable[..., Any]) -> Any:
    """A fast simulator with default knobs."""
    return sim_factory()


@pytest.fixture
def cli() -> Any:
    from tests.helpers import Cli

    return Cli()
