"""Shared fixtures: every test gets its own IMAGINE_HOME, and simulators on loopback on demand."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

SIM_SPEED = 50.0
"""How much faster than real time the simulators of the tests render."""

# Errors are re-raised (not turned into one-line messages) when running under pytest only where a
# test asks for it; see imagine.cli.app. This marks that we are under pytest.
sys._called_from_test = True  # type: ignore[attr-defined]

# Compiled modules are kept even where PYTHONDONTWRITEBYTECODE is set (they go to the ignored
# __pycache__ folders): otherwise every xdist worker and every child process compiles the package
# and re-writes the asserts of every test module again, seconds of CPU each.
sys.dont_write_bytecode = False


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Workers for `-n auto` (pyproject.toml): two per core, as most of a test's time is spent
    waiting on a simulator or a child process rather than computing."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(16, 2 * (cores or 1))


@pytest.fixture(autouse=True)
def imagine_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Path:
    """No test may touch the real home: all per-user state goes under tmp_path/home."""
    home = tmp_path / "home"
    monkeypatch.setenv("IMAGINE_HOME", str(home))
    for name in ("XAI_API_KEY", "IMAGINE_LEDGER", "IMAGINE_DEBUG", "IMAGINE_BASE_URL", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    if os.environ.get("IMAGINE_TEST_LEDGER") == "postgresql":
        # The whole suite on PostgreSQL (slower; not CI's run): every test's default ledger is
        # a schema of its own on the test server.
        monkeypatch.setenv("IMAGINE_LEDGER", request.getfixturevalue("postgres_url"))
    # Nor the machine's admin policy file: tests that want one name theirs.
    from imagine import admin

    monkeypatch.delenv(admin.ENV, raising=False)
    monkeypatch.setattr(admin, "DEFAULT_FILE", tmp_path / "no-admin-policy.toml")
    return home


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The API client's retries keep their number, order and time limit, but back off for
    milliseconds instead of seconds: a test of what happens after retries need not wait them out.
    (A `Retry-After` the server sends is still honoured as sent.) Tests of the backoff itself give
    the client a policy of their own."""
    from imagine.api import client

    policy = client.RetryPolicy(initial=0.005, maximum=0.05)
    monkeypatch.setattr(client, "DEFAULT_RETRY", policy)
    from imagine.engine import finish  # the same for the pauses between download resumes

    monkeypatch.setattr(finish, "RESUME_FIRST", 0.005)
    monkeypatch.setattr(finish, "RESUME_MAX", 0.05)


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine polls on the same schedule, a tenth of the time apart: the simulators that
    tests start render at 50 times real speed, and a first poll a whole second after a render
    that takes a fifth of one was most of what such a test waited for."""
    from imagine.engine import schedule

    real = schedule.PollPolicy()
    policy = schedule.PollPolicy(
        first_without_history=real.first_without_history / 10,
        margin=real.margin / 10,
        minimum=real.minimum / 10,
        maximum=real.maximum / 10,
    )
    monkeypatch.setattr(schedule, "DEFAULT", policy)


@pytest.fixture(autouse=True)
def fast_in_process_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--sim` renders as fast as the simulators tests start: at its own 10 times real speed a
    one-second clip takes a second, which the review, promote and input tests waited out for
    every render they made."""
    from imagine import session

    monkeypatch.setattr(session, "SIM_SPEED", SIM_SPEED)


@pytest.fixture(scope="session", autouse=True)
def shared_clips(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One cache of encoded clips for all the workers of a run: a clip is encoded once, not once
    per worker and again for every test's `--sim` home (a quarter-second of CPU each time). Every
    simulator still finds the clip in its own folder (`sim --clean` frees a home's), as a hard
    link. The shared cache writes its files atomically, so workers may race for one."""
    from imagine.sim import clips

    root = tmp_path_factory.getbasetemp()
    shared = (root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root) / "sim-clips"
    shared.mkdir(exist_ok=True)
    shared_cache = clips.ClipCache(shared)
    real_path = clips.ClipCache.path

    def path(cache: Any, spec: Any) -> Path:
        target: Path = cache._folder / spec.file_name
        if cache is not shared_cache and not target.exists():
            source = real_path(shared_cache, spec)
            try:
                os.link(source, target)
            except FileExistsError:  # another thread of this simulator linked it first
                pass
            except OSError:  # no hard links here
                shutil.copyfile(source, target)
        found: Path = real_path(cache, spec)
        return found

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clips.ClipCache, "path", path)
        yield


@pytest.fixture(autouse=True)
def simulator_bugs_fail_the_test(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A bug in the simulator answers 500, as a failing server would, and a test of retries or
    lost answers would take that in its stride: here it fails the test, with its traceback."""
    from imagine.sim import http_server

    bugs: list[Exception] = []
    real = http_server.dispatch

    def dispatch(state: Any, request: Any) -> Any:
        try:
            return real(state, request)
        except Exception as error:
            bugs.append(error)
            raise

    monkeypatch.setattr(http_server, "dispatch", dispatch)
    yield
    if bugs:
        raise bugs[0]


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
        knobs.setdefault("speed", SIM_SPEED)
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


# -- PostgreSQL: the same ledger behaviours on both backends (tests/postgres.py) -------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str | None]:
    from tests import postgres

    yield from postgres.server_url()


@pytest.fixture
def postgres_url(postgres_server: str | None) -> Iterator[str]:
    """A ledger of its own on the test PostgreSQL server (a schema, dropped afterwards)."""
    pytest.importorskip("psycopg")
    if postgres_server is None:
        pytest.skip(
            "no PostgreSQL server: install Debian's postgresql package (bash .ci/run does) or"
            " set IMAGINE_TEST_POSTGRES"
        )
    from tests import postgres

    name, url = postgres.new_schema(postgres_server)
    yield url
    postgres.drop_schema(postgres_server, name)


@pytest.fixture(params=["sqlite", "postgresql"])
def each_ledger(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test once on each backend: IMAGINE_LEDGER names the ledger (None: SQLite's file
    under IMAGINE_HOME). Returns the backend's name."""
    if request.param == "postgresql":
        monkeypatch.setenv("IMAGINE_LEDGER", request.getfixturevalue("postgres_url"))
    return str(request.param)


@pytest.fixture(scope="session")
def synthetic_clip(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``synthetic_clip(path, **how)`` puts at ``path`` a copy of the clip ``write_clip(**how)``
    encodes, encoding each kind once per worker: the input clips tests edit and extend cost a
    second of CPU each to encode anew."""
    from imagine.media.synth import write_clip

    folder = tmp_path_factory.mktemp("synthetic-clips")
    made: dict[str, Path] = {}

    def copy(path: Path, **how: Any) -> Path:
        key = repr(sorted(how.items()))
        if key not in made:
            made[key] = folder / f"{len(made)}.mp4"
            write_clip(made[key], **how)
        shutil.copyfile(made[key], path)
        return path

    return copy
