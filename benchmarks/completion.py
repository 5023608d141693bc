"""Completion: what a TAB costs on a 100,000-job ledger, beside the same TAB on an empty one.

The ledger is built with the project's own code (`Ledger.insert`, 1,000 jobs per transaction, as
a batch records them): ids made by `imagine.ids`, prompts of realistic length, mostly complete
jobs with some failed, unknown and running ones. Two figures:

- the query, in-process: opening the ledger and `Ledger.job_choices` for what a user types
  (nothing, an id prefix, `@`, `@12`, and the status filters of wait/retry/rm), median of --runs;
- the whole TAB: `imagine` run as the shell runs it (the installed console script, with the
  shell's protocol: bash; zsh and fish, which show descriptions), a fresh process each time,
  median wall and CPU of --runs. Each row runs in turn, so that they share the machine's load:
  this code on the 100,000-job ledger and on the empty one, the code of --old (a git revision,
  by default the one before the last round of cuts) on the 100,000-job ledger through the same
  launcher, and with --typer Typer alone (`imagine.cli.app.app`, the program as it answered
  before the quick path). The floors: `python -c pass`, and `import re, sqlite3` (what the
  console script and a read of the ledger cost before any of imagine's code runs).

Target (issue 11): well under 100 ms for every TAB that offers a list (a command's name, a job
reference, a setting's name or value, an option's value), which `imagine` answers before
importing Typer (cli/quick.py); none grows with the ledger.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from imagine import ids
from imagine.ledger.store import Ledger
from imagine.lifecycle import Status

STATUS_MIX = (
    [Status.COMPLETE] * 90 + [Status.FAILED] * 6 + [Status.UNKNOWN] * 2 + [Status.RUNNING] * 2
)


def build(path: Path, count: int) -> None:
    start = time.time() - count
    with Ledger.open(path) as ledger:
        for first in range(0, count, 1000):
            with ledger.transaction():
                for n in range(first, min(first + 1000, count)):
                    job_id = ids.new_id(start + n)
                    ledger.insert(
                        {
                            "id": job_id,
                            "status": Status.COMPLETE,
                            "mode": "generate",
                            "model": "grok-imagine-video",
                            "route": "/v1/videos/generations",
                            "prompt": f"scene {n}: a lantern drifting over dark water at dusk",
                            "fingerprint": f"{n:064x}",
                            "base_url": "http://127.0.0.1:1",
                            "project_dir": str(path.parent),
                            "output_path": str(path.parent / f"renders/{job_id}.mp4"),
                        }
                    )
        # The mix of statuses, set in one statement each: walking 10,000 jobs through their
        # lifecycle one by one would only make the set-up slow (the ledger is measured, not it).
        with ledger.transaction() as conn:
            for n, status in enumerate(STATUS_MIX):
                if status is not Status.COMPLETE:
                    conn.execute(
                        "UPDATE jobs SET status = ? WHERE (seq - 1) % ? = ?",
                        (status, len(STATUS_MIX), n),
                    )


def query_ms(path: Path, typed: str, statuses: set[Status] | None, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        with Ledger.open(path) as ledger:
            ledger.job_choices(typed, statuses, 30)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


SCRIPT = str(Path(sys.executable).with_name("imagine"))  # the console script the shell runs
# pip's console script, as a launcher that runs whichever `imagine` PYTHONPATH puts first
LAUNCHER = [sys.executable, "-c", "import re, sys\nfrom imagine.cli import main\nsys.exit(main())"]
TYPER = [sys.executable, "-c", "from imagine.cli.app import app; app(prog_name='imagine')"]
REPO = Path(__file__).resolve().parents[1]


def checkout(revision: str, into: Path) -> Path:
    """The src/ folder of a git revision of this repository, to run the old code beside."""
    tar = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", revision, "src"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(into, filter="data")
    return into / "src"


def tab_env(home: Path, words: str, shell: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGINE_", "XAI_"))}
    # Compiled once, as an installed package is: pip writes the .pyc files at install, while a
    # checkout under PYTHONDONTWRITEBYTECODE would compile every module on every TAB.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(home.parent / "pycache")
    env["IMAGINE_HOME"] = str(home)
    env["_IMAGINE_COMPLETE"] = f"complete_{shell}"
    if shell == "bash":
        env["COMP_WORDS"] = words
        env["COMP_CWORD"] = str(len(words.split(" ")) - 1)
    else:
        env["_TYPER_COMPLETE_ARGS"] = words
        env["_TYPER_COMPLETE_FISH_ACTION"] = "get-args"
    return env


def tab_ms(runs: int, *variants: tuple[list[str], dict[str, str]]) -> list[tuple[float, float]]:
    """Median wall and median CPU (user + system, of the child) of each variant (program
    arguments, environment), run in turn `runs` times. On a machine that other work shares,
    the wall grows with the load and the CPU hardly does: on an idle one they are close."""
    walls: list[list[float]] = [[] for _ in variants]
    cpus: list[list[float]] = [[] for _ in variants]
    for args, env in variants:  # once untimed: the .pyc files are written
        subprocess.run(args, env=env, stdout=subprocess.DEVNULL)
    for _ in range(runs):
        for n, (args, env) in enumerate(variants):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            done = subprocess.run(args, env=env, stdout=subprocess.PIPE)
            walls[n].append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus[n].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            if done.returncode != 0 or (
                n == 0 and env.get("_IMAGINE_COMPLETE") and not done.stdout
            ):
                raise SystemExit(f"{args} {env.get('COMP_WORDS', '')}: no answer")
    return [
        (statistics.median(wall) * 1000, statistics.median(cpu) * 1000)
        for wall, cpu in zip(walls, cpus, strict=True)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs in the big ledger")
    parser.add_argument("--runs", type=int, default=15, help="runs of each figure (default 15)")
    parser.add_argument("--old", default="2a90b11", help="git revision to run beside (2a90b11)")
    parser.add_argument("--typer", action="store_true", help="also run Typer alone (slow)")
    parser.add_argument("--reuse", type=Path, help="a ledger this script built before (copied)")
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        big, empty = Path(root) / "big", Path(root) / "empty"
        old_src = checkout(ns.old, Path(root) / "old")
        started = time.perf_counter()
        if ns.reuse:
            big.mkdir()
            shutil.copy(ns.reuse, big / "ledger.sqlite3")
        else:
            build(big / "ledger.sqlite3", ns.jobs)
        build(empty / "ledger.sqlite3", 0)
        with Ledger.open(big / "ledger.sqlite3") as ledger:
            count = ledger.conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
        print(f"a {count:,}-job ledger, ready in {time.perf_counter() - started:.1f} s\n")
        with Ledger.open(big / "ledger.sqlite3") as ledger:
            newest = ledger.job_choices("", None, 1)[0][1]
            sample, narrow = newest[:6], newest[:10]
        from imagine.cli.complete_words import statuses as command_statuses

        print(f"{'query (in-process, open + job_choices)':44} {'100k ms':>8} {'empty ms':>9}")
        for label, typed, command in [
            ("show <TAB>", "", "show"),
            (f"show {sample}<TAB>", sample, "show"),
            ("show @<TAB>", "@", "show"),
            ("show @12<TAB>", "@12", "show"),
            ("wait <TAB> (live and unknown jobs)", "", "wait"),
            ("retry <TAB> (failed, unknown, … jobs)", "", "retry"),
            ("rm <TAB> (finished jobs)", "", "rm"),
            (f"retry {sample}<TAB>", sample, "retry"),
            ("rm @9<TAB>", "@9", "rm"),
            ("rm @12<TAB>", "@12", "rm"),
            (f"rm {narrow}<TAB> (an id prefix of one job)", narrow, "rm"),
        ]:
            statuses = command_statuses(command)
            wanted = set(statuses) if statuses is not None else None
            big_ms = query_ms(big / "ledger.sqlite3", typed, wanted, ns.runs)
            empty_ms = query_ms(empty / "ledger.sqlite3", typed, wanted, ns.runs)
            print(f"{label:44} {big_ms:8.2f} {empty_ms:9.2f}")
        print()
        columns = ["new 100k", "new empty", f"{ns.old} 100k", *(["Typer 100k"] * ns.typer)]
        print(
            f"{'whole TAB (fresh process), median wall / CPU ms':56}",
            *(f"{c:>15}" for c in columns),
        )
        plain = {k: v for k, v in tab_env(big, "", "bash").items() if k != "_IMAGINE_COMPLETE"}
        floors = tab_ms(
            ns.runs,
            ([sys.executable, "-c", "pass"], plain),
            ([sys.executable, "-c", "import re, sqlite3"], plain),
            ([SCRIPT, "--version"], plain),
        )
        for label, figure in zip(
            [
                "python -c pass (the floor: an interpreter starting)",
                "python -c 'import re, sqlite3' (script + ledger module)",
                "imagine --version",
            ],
            floors,
            strict=True,
        ):
            print(f"{label:56} {_ms(figure)}")
        for label, words, shell in ROWS:
            label = label.format(sample=sample, narrow=narrow)
            words = words.format(sample=sample, narrow=narrow)
            old_env = {**tab_env(big, words, shell), "PYTHONPATH": str(old_src)}
            variants = [
                ([SCRIPT], tab_env(big, words, shell)),
                ([SCRIPT], tab_env(empty, words, shell)),
                (LAUNCHER, old_env),
            ]
            if ns.typer:
                variants.append((TYPER, tab_env(big, words, shell)))
            print(f"{label:56}", *(_ms(figure) for figure in tab_ms(ns.runs, *variants)))


ROWS = [
    ("bash: imagine <TAB> (command names)", "imagine ", "bash"),
    ("bash: imagine show <TAB>", "imagine show ", "bash"),
    ("bash: imagine rm {sample}<TAB>", "imagine rm {sample}", "bash"),
    ("bash: imagine rm {narrow}<TAB>", "imagine rm {narrow}", "bash"),
    ("fish: imagine rm @12<TAB>", "imagine rm @12", "fish"),
    ("zsh: imagine show <TAB> (with prompts)", "imagine show ", "zsh"),
    ("fish: imagine retry @<TAB>", "imagine retry @", "fish"),
    ("zsh: imagine config <TAB> (its commands)", "imagine config ", "zsh"),
    ("bash: imagine config set <TAB> (setting names)", "imagine config set ", "bash"),
    ("zsh: imagine config set <TAB> (with descriptions)", "imagine config set ", "zsh"),
    ("bash: imagine config set resolution <TAB>", "imagine config set resolution ", "bash"),
    ("fish: imagine config set audio <TAB>", "imagine config set audio ", "fish"),
    ("bash: imagine gen --model <TAB>", "imagine gen --model ", "bash"),
    ("zsh: imagine gen 'a fox' -r <TAB>", "imagine gen 'a fox' -r ", "zsh"),
    ("bash: imagine batch f.jsonl --aspect <TAB>", "imagine batch f.jsonl --aspect ", "bash"),
    ("bash: imagine batch f.txt --format <TAB>", "imagine batch f.txt --format ", "bash"),
    ("zsh: imagine list --review <TAB>", "imagine list --review ", "zsh"),
    ("bash: imagine wait --progress <TAB>", "imagine wait --progress ", "bash"),
    ("bash: imagine list --status <TAB>", "imagine list --status ", "bash"),
    ("fish: imagine stats --by m<TAB>", "imagine stats --by m", "fish"),
    ("bash: imagine completion <TAB>", "imagine completion ", "bash"),
]


def _ms(figure: tuple[float, float]) -> str:
    return f"{figure[0]:7.0f} /{figure[1]:5.0f}" + " " * 2


if __name__ == "__main__":
    main()
