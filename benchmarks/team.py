"""Team scale: N "machines" on one ledger, against SQLite on one machine (issue 18).

Each machine is a process with its own IMAGINE_HOME and project folder; all run `imagine batch`
at once on an overlapping prompt file (a shared list, plus prompts of their own), through one
simulator (its rate limit set to the client's --rps), on one PostgreSQL ledger and one bucket
(moto's server), or on one SQLite file (processes of one machine: what one machine can do) with
the same bucket.

Checked for every run: submissions = distinct requests (0 sent twice), renders in flight never
above the shared cap (from the simulator's own job times), 0 rate-limited (the pacing held),
every machine holding every file of its list. Then a budget run: a shared daily cap of five
renders, four machines: exactly five sent, the charges under the cap. Reported: jobs/s (distinct
renders over wall time) and the ledger's CPU per job (PostgreSQL's server processes), next to
the clients' CPU per job.

    python benchmarks/team.py                       # 1, 2, 4, 8 machines; 24 shared + 4 own
    python benchmarks/team.py --machines 1,4 --shared 12

PostgreSQL: IMAGINE_BENCH_POSTGRES=postgresql://…, else a server started from Debian's
postgresql package in a temporary folder (as tests/postgres.py does).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from _harness import BENCH_KEY, machine, sim_stats, simulator, write_prompts

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests import postgres  # noqa: E402 - the repository's own server helper

CAP = 8  # renders in flight across every machine (--concurrency)
RPS = 20.0  # starts per second per model, shared (the simulator refuses faster)
PRICE = 0.05  # the simulator's $/s at 480p; -d 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_cpu(pid: int) -> float:
    """CPU seconds of the PostgreSQL server and its ended children (one backend per client)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ticks / os.sysconf("SC_CLK_TCK")


def _postmaster(url: str) -> int | None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
    pidfile = Path(row[0]) / "postmaster.pid" if row else None
    try:
        return int(pidfile.read_text().split()[0]) if pidfile else None
    except OSError:
        return None


def _moto() -> tuple[str, subprocess.Popen[bytes]] | None:
    port = _free_port()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        return None
    import httpx

    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(url, timeout=1)
            return url, process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    return None


def _bucket(endpoint: str) -> str:
    import boto3

    name = f"team-{uuid.uuid4().hex[:10]}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="bench",
        aws_secret_access_key="bench-secret",
        region_name="us-east-1",
    ).create_bucket(Bucket=name)
    return f"s3://{name}/renders"


def _max_in_flight(stats: dict[str, Any]) -> int:
    moments = []
    for job in stats.get("jobs", {}).values():
        moments += [(float(job["created_at"]), 1), (float(job["finish_at"]), -1)]
    level = peak = 0
    for _, step in sorted(moments):
        level += step
        peak = max(peak, level)
    return peak


def run(
    machines: int,
    shared: int,
    own: int,
    root: Path,
    ledger: str | None,
    storage: str | None,
    budget: float | None = None,
) -> dict[str, Any]:
    prompts_shared = [f"shared {n}: a tram on a bridge at night" for n in range(shared)]
    knobs = ["--speed", "100", "--rps-limit", str(RPS)]
    with simulator(*knobs) as url:
        processes, folders = [], []
        for m in range(machines):
            home, folder = root / f"m{m}" / "home", root / f"m{m}" / "project"
            (folder / "renders").mkdir(parents=True)
            (folder / "imagine.toml").write_text("")
            home.mkdir(parents=True)
            if budget is not None:
                (home / "config.toml").write_text(f"[budget]\ndaily_usd = {budget}\n")
            own_prompts = [f"machine {m} shot {n}: a heron" for n in range(own)]
            write_prompts(folder / "prompts.txt", prompts_shared + own_prompts)
            env = {**os.environ, "IMAGINE_HOME": str(home), "XAI_API_KEY": BENCH_KEY}
            env["IMAGINE_LEDGER"] = ledger or str(root / "shared.sqlite3")
            if storage:
                env["IMAGINE_STORAGE"] = storage
            folders.append((folder, prompts_shared + own_prompts))
            processes.append(
                (
                    [
                        sys.executable,
                        "-m",
                        "imagine",
                        "batch",
                        "prompts.txt",
                        "--base-url",
                        url,
                        "--rps",
                        str(RPS),
                        "-c",
                        str(CAP),
                        "-d",
                        "1",
                        "-y",
                        "--progress",
                        "none",
                    ],
                    folder,
                    env,
                )
            )
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        running = [
            subprocess.Popen(
                cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            for cmd, cwd, env in processes
        ]
        errors = [p.communicate()[1].decode() for p in running]
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        stats = sim_stats(url)
    codes = [p.returncode for p in running]
    distinct = shared + machines * own
    missing = sum(1 for folder, wanted in folders for prompt in wanted if not _has(folder, prompt))
    client_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {
        "machines": machines,
        "codes": codes,
        "error": next(
            (
                e.strip().splitlines()[-1]
                for e, c in zip(errors, codes, strict=False)
                if c not in (0, 5) and e.strip()
            ),
            "",
        ),
        "wall": wall,
        "distinct": distinct,
        "submissions": stats["submissions"],
        "rate_limited": stats["rate_limited"],
        "max_in_flight": _max_in_flight(stats),
        "missing_files": missing,
        "client_cpu_per_job_ms": 1000 * client_cpu / distinct,
    }


def _has(folder: Path, prompt: str) -> bool:
    for sidecar in (folder / "renders").glob("*.json"):
        if json.loads(sidecar.read_text())["prompt"]["raw"] == prompt:
            return sidecar.with_suffix(".mp4").is_file()
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--machines", default="1,2,4,8")
    parser.add_argument("--shared", type=int, default=24)
    parser.add_argument("--own", type=int, default=4)
    parser.add_argument("--no-bucket", action="store_true", help="PostgreSQL without storage")
    args = parser.parse_args()
    counts = [int(n) for n in args.machines.split(",")]

    import tempfile

    server = None
    url = os.environ.get("IMAGINE_BENCH_POSTGRES")
    if not url:
        found = postgres.binaries()
        if found is None:
            sys.exit("no PostgreSQL: install Debian's postgresql or set IMAGINE_BENCH_POSTGRES")
        server = postgres.Server(found)
        url = server.url
    moto = None if args.no_bucket else _moto()
    print(f"# team scale on {machine()}; cap {CAP} in flight, {RPS:g} starts/s, -d 1")
    print(
        "| ledger | machines | jobs/s | submissions / distinct | max in flight | 429s |"
        " files missing | client CPU/job | ledger CPU/job |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    try:
        pid = _postmaster(url)
        for backend in ("sqlite", "postgresql"):
            for n in counts:
                root = Path(tempfile.mkdtemp(prefix="imagine-team-"))
                ledger = storage = None
                if backend == "postgresql":
                    _, ledger = postgres.new_schema(url)
                if moto is not None:  # both: a render one machine made reaches the others
                    os.environ.update(
                        AWS_ENDPOINT_URL=moto[0],
                        AWS_ACCESS_KEY_ID="bench",
                        AWS_SECRET_ACCESS_KEY="bench-secret",
                        AWS_DEFAULT_REGION="us-east-1",
                    )
                    storage = _bucket(moto[0])
                cpu0 = _server_cpu(pid) if pid and backend == "postgresql" else None
                result = run(n, args.shared, args.own, root, ledger, storage)
                server_cpu = (
                    f"{1000 * (_server_cpu(pid) - cpu0) / result['distinct']:.1f} ms"  # type: ignore[operator]
                    if cpu0 is not None
                    else "(in-process)"
                )
                ok = result["submissions"] == result["distinct"]
                print(
                    f"| {backend} | {n} | {result['distinct'] / result['wall']:.1f} |"
                    f" {result['submissions']} / {result['distinct']} {'ok' if ok else 'MISS'} |"
                    f" {result['max_in_flight']} (cap {CAP}) | {result['rate_limited']} |"
                    f" {result['missing_files']} | {result['client_cpu_per_job_ms']:.1f} ms |"
                    f" {server_cpu} |"
                    + (
                        f" exits {result['codes']}: {result['error']}"
                        if set(result["codes"]) - {0}
                        else ""
                    )
                )
        # The shared budget: four machines, a daily cap of five renders' price.
        _schema, ledger = postgres.new_schema(url)
        root = Path(tempfile.mkdtemp(prefix="imagine-team-"))
        cap = round(5 * PRICE, 2)
        result = run(4, 6, 2, root, ledger, None, budget=cap)
        print(
            f"\nbudget: 4 machines, daily cap ${cap:.2f} (5 renders): {result['submissions']}"
            f" sent ({'ok' if result['submissions'] == 5 else 'MISS'}), exits {result['codes']}"
        )
    finally:
        if moto is not None:
            moto[1].terminate()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
