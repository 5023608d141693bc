"""Completion: what a TAB costs on a 100,000-job ledger, beside the same TAB on an empty one.

The ledger is built with the project's own code (`Ledger.insert`, 1,000 jobs per transaction, as
a batch records them): ids made by `imagine.ids`, prompts of realistic length, mostly complete
jobs with some failed, unknown and running ones. Two figures:

- the query, in-process: opening the ledger and `Ledger.job_choices` for what a user types
  (nothing, an id prefix, `@`, `@12`, and the status filters of wait/retry/rm), median of --runs;
- the whole TAB: `imagine` run by the shell's protocol (bash; zsh and fish, which show
  descriptions), a fresh process each time, median wall of --runs, beside `imagine --version`
  and the empty ledger in the same run. Each TAB is also run through Typer alone (the program
  as it answered before the quick path, `imagine.cli.app.app`), interleaved with the quick one,
  so that the two columns see the same load.

Target (issue 11): well under 100 ms for every TAB that offers a list (a command's name, a job
reference, a setting's name or value, an option's value), which `imagine` answers before
importing Typer (cli/quick.py); none grows with the ledger.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
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


QUICK = ["-m", "imagine"]  # the program as installed: the quick path first
TYPER = ["-c", "from imagine.cli.app import app; app(prog_name='imagine')"]  # Typer alone


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
        subprocess.run([sys.executable, *args], env=env, stdout=subprocess.DEVNULL)
    for _ in range(runs):
        for n, (args, env) in enumerate(variants):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            done = subprocess.run([sys.executable, *args], env=env, stdout=subprocess.PIPE)
            walls[n].append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus[n].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            if done.returncode != 0 or (env.get("_IMAGINE_COMPLETE") and not done.stdout):
                raise SystemExit(f"{args} {env.get('COMP_WORDS', '')}: no answer")
    return [
        (statistics.median(wall) * 1000, statistics.median(cpu) * 1000)
        for wall, cpu in zip(walls, cpus, strict=True)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs in the big ledger")
    parser.add_argument("--runs", type=int, default=15, help="runs of each figure (default 15)")
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        big, empty = Path(root) / "big", Path(root) / "empty"
        started = time.perf_counter()
        build(big / "ledger.sqlite3", ns.jobs)
        build(empty / "ledger.sqlite3", 0)
        print(f"built a {ns.jobs:,}-job ledger in {time.perf_counter() - started:.1f} s\n")
        with Ledger.open(big / "ledger.sqlite3") as ledger:
            sample = ledger.job_choices("", None, 1)[0][1][:6]
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
        ]:
            statuses = command_statuses(command)
            wanted = set(statuses) if statuses is not None else None
            big_ms = query_ms(big / "ledger.sqlite3", typed, wanted, ns.runs)
            empty_ms = query_ms(empty / "ledger.sqlite3", typed, wanted, ns.runs)
            print(f"{label:44} {big_ms:8.2f} {empty_ms:9.2f}")
        print()
        print(
            f"{'whole TAB (fresh process), median wall / CPU ms':56} {'quick 100k':>15}"
            f" {'quick empty':>15} {'Typer 100k':>15}"
        )
        anchor = {k: v for k, v in tab_env(big, "", "bash").items() if k != "_IMAGINE_COMPLETE"}
        python, version = tab_ms(ns.runs, (["-c", "pass"], anchor), ([*QUICK, "--version"], anchor))
        print(f"{'python -c pass (the floor: an interpreter starting)':56} {_ms(python)}")
        print(f"{'imagine --version (anchor)':56} {_ms(version)}")
        for label, words, shell in [
            ("bash: imagine <TAB> (command names)", "imagine ", "bash"),
            ("bash: imagine show <TAB>", "imagine show ", "bash"),
            (f"bash: imagine rm {sample}<TAB>", f"imagine rm {sample}", "bash"),
            ("zsh: imagine show <TAB> (with prompts)", "imagine show ", "zsh"),
            ("fish: imagine retry @<TAB>", "imagine retry @", "fish"),
            ("zsh: imagine config <TAB> (its commands)", "imagine config ", "zsh"),
            ("bash: imagine config set <TAB> (setting names)", "imagine config set ", "bash"),
            ("zsh: imagine config set <TAB> (with descriptions)", "imagine config set ", "zsh"),
            ("bash: imagine config set resolution <TAB>", "imagine config set resolution ", "bash"),
            ("fish: imagine config set audio <TAB>", "imagine config set audio ", "fish"),
            ("bash: imagine gen --model <TAB>", "imagine gen --model ", "bash"),
            ("zsh: imagine gen 'a fox' -r <TAB>", "imagine gen 'a fox' -r ", "zsh"),
            (
                "bash: imagine batch f.jsonl --aspect <TAB>",
                "imagine batch f.jsonl --aspect ",
                "bash",
            ),
            ("bash: imagine wait --progress <TAB>", "imagine wait --progress ", "bash"),
            ("bash: imagine list --status <TAB>", "imagine list --status ", "bash"),
            ("fish: imagine stats --by m<TAB>", "imagine stats --by m", "fish"),
            ("bash: imagine completion <TAB>", "imagine completion ", "bash"),
        ]:
            quick_big, quick_empty, typer_big = tab_ms(
                ns.runs,
                (QUICK, tab_env(big, words, shell)),
                (QUICK, tab_env(empty, words, shell)),
                (TYPER, tab_env(big, words, shell)),
            )
            print(f"{label:56} {_ms(quick_big)} {_ms(quick_empty)} {_ms(typer_big)}")


def _ms(figure: tuple[float, float]) -> str:
    return f"{figure[0]:7.0f} /{figure[1]:5.0f}" + " " * 2


if __name__ == "__main__":
    main()
