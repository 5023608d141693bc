"""The fault suite's long run: a batch of distinct prompts against a faulty simulator, killed with
SIGKILL at random moments (together with a concurrent `imagine wait --all`), then resumed until
every job has settled; a table says whether each promise held.

    python benchmarks/faults.py --jobs 30 --kills 4 --seed 1

Loopback only (the simulator listens on 127.0.0.1); bounded by --budget seconds; cleans up after
itself. Exit 0 when every promise held, 1 when one broke (a duplicate submission, a lost job, a
truncated complete file, a corrupt ledger), 2 when the run could not settle within its budget.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _harness import imagine_command, sim_stats, simulator, workspace, write_prompts

# Where a job may rest: the run is settled when every prompt's newest job is in one of these.
ENDED = ("complete", "failed", "unknown", "blocked", "expired", "canceled")


def main() -> int:
    args = _parse()
    rng = random.Random(args.seed)
    deadline = time.monotonic() + args.budget
    knobs = [
        "--speed", str(args.speed), "--jitter", "0.3", "--seed", str(args.seed),
        "--fail-rate", str(args.fail_rate), "--error-rate", str(args.error_rate),
        "--drop-rate", str(args.drop_rate), "--truncate-rate", str(args.truncate_rate),
        "--rps-limit", str(args.rps_limit), "--url-ttl", str(args.url_ttl),
    ]  # fmt: skip
    with workspace() as space, simulator(*knobs) as url:
        prompts = [
            f"fault trial {args.seed} scene {n}: a lighthouse in a storm" for n in range(args.jobs)
        ]
        batch_file = write_prompts(space.project / "prompts.txt", prompts)
        base = ["--base-url", url]
        batch = [*imagine_command("batch", str(batch_file), "-d", "1", "-c", str(args.concurrency),
                                  "--rps", "50", "-q", "-y", *base)]  # fmt: skip
        wait_all = [*imagine_command("wait", "--all", "-q")]
        env = {**space.env(), "IMAGINE_BASE_URL": url}
        kills = 0
        for _ in range(args.kills):
            if time.monotonic() > deadline:
                break
            runner = _start(batch, space.project, env)
            waiter = _start(wait_all, space.project, env)
            time.sleep(rng.uniform(0.3, args.kill_window))
            for process in (runner, waiter):
                if process.poll() is None:
                    os.kill(process.pid, signal.SIGKILL)
                    kills += 1
                process.wait()
        settled = _settle(batch, wait_all, space.project, env, prompts, space.ledger, deadline)
        stats = sim_stats(url)
        row = _measure(space.project, space.ledger, prompts, stats, kills)
    _print(args, row, settled)
    if not settled:
        return 2
    broken = row["duplicates"] or row["lost"] or row["truncated"] or row["integrity"] != "ok"
    return 1 if broken else 0


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=30, help="distinct prompts in the batch")
    parser.add_argument("--kills", type=int, default=4, help="rounds of kill -9 (batch + wait)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--budget", type=float, default=300.0, help="seconds for the whole run")
    parser.add_argument("--kill-window", type=float, default=4.0, help="latest kill, seconds in")
    parser.add_argument("--speed", type=float, default=20.0)
    parser.add_argument("--fail-rate", type=float, default=0.05)
    parser.add_argument("--error-rate", type=float, default=0.05)
    parser.add_argument("--drop-rate", type=float, default=0.05)
    parser.add_argument("--truncate-rate", type=float, default=0.1)
    parser.add_argument("--rps-limit", type=float, default=8.0)
    parser.add_argument("--url-ttl", type=float, default=60.0)
    return parser.parse_args()


def _start(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _settle(
    batch: list[str], wait_all: list[str], cwd: Path, env: dict[str, str],
    prompts: list[str], ledger: Path, deadline: float,
) -> bool:  # fmt: skip
    """Run the batch, then `wait --all`, again until every prompt's job has ended."""
    while time.monotonic() < deadline:
        left = max(1, int(deadline - time.monotonic()))
        for command in (batch, wait_all):
            with contextlib.suppress(subprocess.TimeoutExpired):
                subprocess.run([*command, "--timeout", str(left)], cwd=cwd, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               timeout=left + 30)  # fmt: skip
        newest = _newest_by_prompt(ledger)
        if all(newest.get(p, {}).get("status") in ENDED for p in prompts):
            return True
    return False


def _rows(ledger: Path) -> list[dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM jobs ORDER BY seq")]


def _newest_by_prompt(ledger: Path) -> dict[str, dict[str, Any]]:
    return {row["prompt"]: row for row in _rows(ledger)}


def _measure(
    project: Path, ledger: Path, prompts: list[str], stats: dict[str, Any], kills: int
) -> dict[str, Any]:
    rows = _rows(ledger)
    newest = {row["prompt"]: row for row in rows}
    # A failed render may be rendered again by a later run (that is what a rerun is for): that
    # second submission of the same body is a new, wanted job, not a double payment.
    retried_after_failure = sum(1 for row in rows if row["status"] == "failed") - sum(
        1 for row in newest.values() if row["status"] == "failed"
    )
    complete = [row for row in newest.values() if row["status"] == "complete"]
    with contextlib.closing(sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    faults = kills + sum(
        stats[name] for name in ("server_errors", "dropped", "truncated", "rate_limited")
    )
    return {
        "faults": faults,
        "kills": kills,
        "server_errors": stats["server_errors"],
        "dropped": stats["dropped"],
        "truncated_downloads": stats["truncated"],
        "rate_limited": stats["rate_limited"],
        "jobs": len(rows),
        "complete": len(complete),
        "failed": sum(1 for row in newest.values() if row["status"] == "failed"),
        "unknown": sum(1 for row in newest.values() if row["status"] == "unknown"),
        "submissions": stats["submissions"],
        "duplicates": max(0, stats["duplicate_bodies"] - retried_after_failure),
        "lost": sum(1 for p in prompts if newest.get(p, {}).get("status") not in ENDED),
        "truncated": sum(1 for row in complete if not _whole(row)),
        "part_left": sum(1 for _ in project.rglob("*.part")),
        "leases_left": sum(1 for row in rows if row["lease_owner"]),
        "integrity": integrity,
    }


def _whole(row: dict[str, Any]) -> bool:
    """The complete file on disk is the one the ledger and its sidecar describe, byte for byte."""
    path = Path(row["project_dir"]) / row["output_path"]  # an absolute output_path wins
    if not path.is_file():
        return False
    data = path.read_bytes()
    if len(data) != row["file_bytes"] or hashlib.sha256(data).hexdigest() != row["file_sha256"]:
        return False
    if row["sidecar_path"]:
        try:
            sidecar = json.loads(Path(row["sidecar_path"]).read_text())
        except (OSError, ValueError):
            return False
        found = _find(sidecar, "sha256")
        if found is not None and found != row["file_sha256"]:
            return False
    return True


def _find(data: Any, key: str) -> Any:
    if isinstance(data, dict):
        if key in data:
            return data[key]
        for value in data.values():
            found = _find(value, key)
            if found is not None:
                return found
    return None


def _print(args: argparse.Namespace, row: dict[str, Any], settled: bool) -> None:
    print(f"fault trial: {args.jobs} jobs, {args.kills} kill rounds, seed {args.seed}, "
          f"concurrency {args.concurrency}{'' if settled else ' (NOT SETTLED within budget)'}")  # fmt: skip
    width = max(len(name) for name in row)
    for name, value in row.items():
        print(f"  {name:<{width}}  {value}")


if __name__ == "__main__":
    sys.exit(main())
