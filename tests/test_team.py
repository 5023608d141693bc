"""Team scale: several "machines" (their own homes and project folders, their own processes)
sharing one PostgreSQL ledger and one S3-compatible bucket, against one simulator.

The issue's check: machines started at once on the same prompt file plus prompts of their own,
one killed mid-run, then all run again: every distinct request sent exactly once, every machine
holding all of its files, the same `imagine usage` from each, a presigned link that downloads."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import Cli, sim_stats
from tests.test_storage import Bucket, bucket, moto_endpoint  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow

SHARED = [f"shared shot {n}: a tram crossing a bridge at night" for n in range(12)]


def _own(machine: int) -> list[str]:
    return [f"machine {machine} shot {n}: a heron on a post" for n in range(3)]


def _machine(root: Path, n: int) -> tuple[Path, Path]:
    home, folder = root / f"m{n}" / "home", root / f"m{n}" / "project"
    (folder / "renders").mkdir(parents=True)
    (folder / "imagine.toml").write_text("")
    (folder / "prompts.txt").write_text("\n".join(SHARED + _own(n)) + "\n")
    return home, folder


def _env(sim: Any, home: Path, ledger: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        IMAGINE_HOME=str(home),
        IMAGINE_LEDGER=ledger,
        XAI_API_KEY=sim.api_key,
        PYTHONPATH=os.pathsep.join(sys.path),
    )
    return env


def _batch(sim: Any, home: Path, folder: Path, ledger: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "imagine", "batch", "prompts.txt", "--base-url", sim.url]
        + ["--rps", "20", "-d", "1", "-y", "--progress", "none", "--timeout", "120"],
        cwd=folder,
        env=_env(sim, home, ledger),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _rendered(folder: Path) -> dict[str, str]:
    """The prompt of each render in the folder (from its sidecar), with its MP4's sha256."""
    found = {}
    for sidecar in (folder / "renders").glob("*.json"):
        video = sidecar.with_suffix(".mp4")
        prompt = json.loads(sidecar.read_text())["request"]["prompt"]
        found[prompt] = hashlib.sha256(video.read_bytes()).hexdigest() if video.is_file() else ""
    return found


def test_four_machines_one_ledger_one_bucket(
    sim_factory: Any,
    postgres_url: str,
    bucket: Bucket,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = sim_factory(speed=25.0)
    machines = [_machine(tmp_path, n) for n in range(4)]
    started = [_batch(sim, home, folder, postgres_url) for home, folder in machines]
    # Kill one machine mid-run: once the ledger holds work in flight.
    deadline = time.monotonic() + 60
    while sim_stats(sim)["submissions"] < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    started[1].send_signal(signal.SIGKILL)
    codes = [process.wait(timeout=180) for process in started]
    assert codes[1] == -signal.SIGKILL
    for n in (0, 2, 3):
        assert codes[n] == 0, started[n].stderr.read().decode() if started[n].stderr else codes

    # Then every machine runs its file again: only what is missing is fetched or rendered.
    again = [_batch(sim, home, folder, postgres_url) for home, folder in machines]
    for process in again:
        assert process.wait(timeout=180) == 0, process.stderr.read().decode()  # type: ignore[union-attr]

    distinct = len(SHARED) + 4 * len(_own(0))
    stats = sim_stats(sim)
    assert stats["submissions"] == distinct  # none twice, whoever sent it
    shared_files: dict[str, str] = {}
    for n, (_, folder) in enumerate(machines):
        made = _rendered(folder)
        assert set(made) == set(SHARED + _own(n)), n
        assert all(made.values()), f"machine {n} lacks an MP4"
        for prompt in SHARED:  # the same render on every machine, byte for byte
            assert shared_files.setdefault(prompt, made[prompt]) == made[prompt]

    cli = Cli()
    usages = []
    for home, folder in machines:
        monkeypatch.setenv("IMAGINE_HOME", str(home))
        monkeypatch.setenv("IMAGINE_LEDGER", postgres_url)
        monkeypatch.chdir(folder)
        result = cli.run("usage", "--json")
        assert result.exit_code == 0, result.stderr
        usages.append(json.loads(result.stdout))
    assert all(usage == usages[0] for usage in usages)

    link = cli.run("share", "@1", "--expires", "10m")
    assert link.exit_code == 0, link.stderr
    got = httpx.get(link.stdout.strip(), timeout=30)
    assert got.status_code == 200 and got.content[4:8] == b"ftyp"
