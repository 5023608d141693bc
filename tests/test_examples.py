"""examples/ci-render.sh, the recommended CI use, run as CI would run it (against --sim)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "ci-render.sh"


def _ci(folder: Path, prompts: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("IMAGINE_LEDGER", "XAI_API_KEY")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["IMAGINE_SIM"] = "1"
    return subprocess.run(
        ["bash", str(SCRIPT), prompts],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _results(folder: Path) -> list[dict[str, object]]:
    lines = (folder / "renders.ndjson").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_ci_script_renders_once_and_a_rerun_writes_the_same_results(
    project: Path, imagine_home: Path
) -> None:
    (project / "shots.txt").write_text("# shots\na red fox in snow\n\na paper boat\n")
    first = _ci(project, "shots.txt")
    assert first.returncode == 0, first.stderr
    assert "all clips rendered" in first.stderr
    made = _results(project)
    assert [job["status"] for job in made] == ["complete", "complete"]
    paths = first.stdout.split()
    assert len(paths) == 2 and all(Path(path).is_file() for path in paths)
    assert (project / ".imagine" / "ledger.sqlite3").is_file()  # the ledger CI caches

    # A result is written the moment its job is final, so the first run lists them in the order
    # they finished; the rerun (every one reused) in the file's. The same results, no dupes.
    again = _ci(project, "shots.txt")
    assert again.returncode == 0, again.stderr
    assert sorted(job["id"] for job in _results(project)) == sorted(job["id"] for job in made)
    assert again.stderr.count("already rendered") == 2
    assert sorted(again.stdout.split()) == sorted(paths)
    assert not list(project.glob("renders.ndjson.*"))


def test_ci_script_reports_bad_lines_and_keeps_the_good_results(
    project: Path, imagine_home: Path
) -> None:
    (project / "shots.jsonl").write_text(
        '{"prompt": "a red fox in snow", "duration": 1}\n{"prompt": "x", "duration": 99}\n'
    )
    result = _ci(project, "shots.jsonl")
    assert result.returncode == 2
    assert "bad input: fix the lines named above" in result.stderr
    assert "shots.jsonl:2" in result.stderr
    assert [job["status"] for job in _results(project)] == ["complete"]


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_ci_script_passes_shellcheck() -> None:
    done = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
