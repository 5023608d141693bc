"""Start-up: `imagine --help`, `imagine --version` and `imagine list` (an empty ledger) against a
minimal Typer app, all measured in the same run, interleaved, each a fresh process.

The anchor is the smallest Typer program there is (one command, one option, a docstring), run two
ways: `--help`, and running its command (Typer then builds its parameter converters, which is what
any command with an option pays). Figures are the median wall time of --runs runs (and the
median CPU, user + system, of the same runs); the ratios divide imagine's by the anchor's.
Targets (issue 14): --help and --version ≤ 1.2× the anchor's --help, `list` ≤ 1.4× the anchor.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MINIMAL = '''
import typer

app = typer.Typer(add_completion=False)


@app.command()
def hello(name: str = "world") -> None:
    """Say hello."""
    typer.echo(f"hello {name}")


app()
'''


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one process."""
    before = os.times()
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="runs of each command (default 30)")
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as root:
        minimal = Path(root) / "minimal.py"
        minimal.write_text(MINIMAL)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGINE_", "XAI_"))}
        env["IMAGINE_HOME"] = str(Path(root) / "home")
        imagine = [sys.executable, "-m", "imagine"]
        commands = {
            "minimal Typer app --help": [sys.executable, str(minimal), "--help"],
            "minimal Typer app (its command)": [sys.executable, str(minimal), "--name", "x"],
            "imagine --help": [*imagine, "--help"],
            "imagine --version": [*imagine, "--version"],
            "imagine list (empty ledger)": [*imagine, "list"],
        }
        for argv in commands.values():  # warm the file cache and the bytecode
            _run(argv, env)
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, argv in commands.items():
                wall, cpu = _run(argv, env)
                walls[name].append(wall)
                cpus[name].append(cpu)
    wall = {name: statistics.median(values) for name, values in walls.items()}
    cpu = {name: statistics.median(values) for name, values in cpus.items()}
    print(f"{'command':34} {'wall ms':>8} {'cpu ms':>8}")
    for name in commands:
        print(f"{name:34} {wall[name] * 1000:8.1f} {cpu[name] * 1000:8.1f}")
    print()
    checks = [
        ("imagine --help", "minimal Typer app --help", 1.2),
        ("imagine --version", "minimal Typer app --help", 1.2),
        ("imagine list (empty ledger)", "minimal Typer app --help", 1.4),
        ("imagine list (empty ledger)", "minimal Typer app (its command)", 1.4),
    ]
    for name, anchor, target in checks:
        ratio = wall[name] / wall[anchor]
        verdict = "PASS" if ratio <= target else "MISS"
        print(f"{name} ÷ {anchor}: {ratio:.2f}× (target ≤ {target}×) {verdict}")


if __name__ == "__main__":
    main()
