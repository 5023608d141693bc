"""Ledger scale: what a command costs on a 100,000-job ledger with thousands of renders on disk,
beside the same command on an empty one.

What it builds: a ledger of --jobs jobs (default 100,000) recorded with the project's own code
(``Ledger.insert``, 88 % of them complete, the rest failed, canceled, expired or blocked; each with
a request id, a fingerprint and a file under ``project/renders/``), and for --renders of the
complete ones (default 10,000; the issue's figure is 88,000) the MP4 and its sidecar on disk (the
sidecar is ``sidecar.job_document``; the MP4 is 1 KiB of bytes, its size as the sidecar says).

(a) Lookups, in-process: ``Ledger.resolve`` of --lookups random jobs by an id prefix (12
characters), the short id `imagine list` prints (the last 8), the request id, the MP4's path
relative to the project (as `gen` prints it) and the sidecar's absolute path; the anchor is an
index lookup by the full id (``Ledger.get``: SELECT by primary key + the row as a Job), measured
in the same run. The query resolve used before (``id LIKE ? OR request_id = ?``) is timed
beside them for reference.

(b) A new render recorded: `imagine gen PROMPT -d 1 --no-wait -y -q` (a fresh prompt each time:
a new fingerprint, and a shape the big ledger has no history for) in a fresh process, against a
simulator in its own process, alternately on the big ledger's project and on an empty ledger's
(--pairs times, default 10); wall time and the child's CPU (user + system), medians, and their
ratio. Before the pairs, one `gen` on each: the first request in a folder the ledger has never
looked at walks it for renders made elsewhere (timed and printed: a one-time cost per ledger and
project folder); the pairs then measure every later command.

Targets (issue 14): lookup ≤ 5 ms on 100k jobs; a new gen on the big ledger ≤ 1.03× the wall and
CPU of the same command on an empty one.

Run: python benchmarks/ledger_scale.py [--jobs 100000] [--renders 10000] [--pairs 10]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _harness import (
    Row,
    Workspace,
    imagine_command,
    machine,
    print_table,
    simulator,
    verdict,
    workspace,
)

from imagine import ids, sidecar
from imagine.config import DEFAULT_OUTPUT
from imagine.ledger.store import Ledger
from imagine.lifecycle import Job, Status
from imagine.money.pricing import DEFAULT_PRICES
from imagine.project import Project
from imagine.spec import Mode, RenderSpec
from imagine.workflow import plan

LOOKUP_TARGET_MS = 5.0
GEN_TARGET_RATIO = 1.03
MP4_BYTES = b"\x00\x00\x00\x18ftypmp42" + bytes(1012)  # 1 KiB
MP4_SHA256 = hashlib.sha256(MP4_BYTES).hexdigest()
CHUNK = 5_000  # jobs recorded per write transaction while building
OTHER_ENDS = (Status.FAILED, Status.CANCELED, Status.EXPIRED, Status.BLOCKED)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs in the big ledger")
    parser.add_argument(
        "--renders", type=int, default=10_000, help="complete renders on disk (88000: the issue's)"
    )
    parser.add_argument("--lookups", type=int, default=300, help="random jobs looked up per form")
    parser.add_argument("--pairs", type=int, default=10, help="gen runs on each ledger, alternated")
    parser.add_argument("--records", type=int, default=50, help="in-process records per round")
    return parser.parse_args()


# -- building ----------------------------------------------------------------------------------


def job_values(n: int, project: Path, rng: random.Random) -> dict[str, Any]:
    complete = n % 100 < 88
    status = Status.COMPLETE if complete else OTHER_ENDS[n % 4]
    seconds = rng.choice((4, 6, 8, 10))
    resolution = rng.choice(("480p", "720p"))
    submitted = 1_790_000_000 + n * 30
    video = project / "renders" / f"2026-11-{1 + n % 28:02d}-shot-{n}-{ids.new_id()[-8:]}.mp4"
    values: dict[str, Any] = {
        "id": ids.new_id(submitted),
        "status": status,
        "mode": "text",
        "model": "grok-imagine-video",
        "route": "/v1/videos/generations",
        "prompt": f"shot {n}: a {rng.choice(('red', 'blue', 'grey'))} fox in the snow",
        "prompt_sent": f"shot {n}",
        "duration": seconds,
        "aspect_ratio": "16:9",
        "resolution": resolution,
        "params_json": json.dumps({"duration": seconds, "resolution": resolution}),
        "fingerprint": hashlib.sha256(f"bench {n}".encode()).hexdigest(),
        "base_url": "https://api.x.ai",
        "project_dir": str(project),
        "output_path": str(video),
        "request_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "video_duration": float(seconds),
        "cost_estimate_usd": 0.05 * seconds,
        "submitted_at": _iso(submitted),
        "created_at": _iso(submitted - 1),
    }
    if complete:
        values.update(
            completed_at=_iso(submitted + 20),
            downloaded_at=_iso(submitted + 21),
            cost_ticks=seconds * 500_000_000,
            file_sha256=MP4_SHA256,
            file_bytes=len(MP4_BYTES),
            file_json=json.dumps({"duration": float(seconds), "probed": False}),
            sidecar_path=str(video.with_suffix(".json")),
        )
    return values


def _iso(unix: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(unix))


def build(space: Workspace, jobs: int, renders: int) -> tuple[float, list[Job]]:
    """The big ledger and its renders on disk; the seconds it took, and the jobs made."""
    started = time.perf_counter()
    rng = random.Random(14)
    made: list[Job] = []
    project = space.project.resolve()  # as `imagine` records it
    (project / "renders").mkdir(parents=True, exist_ok=True)
    with Ledger.open(space.ledger) as ledger:
        for start in range(0, jobs, CHUNK):
            with ledger.transaction():
                for n in range(start, min(jobs, start + CHUNK)):
                    made.append(ledger.insert(job_values(n, project, rng)))
    on_disk = [job for job in made if job.status is Status.COMPLETE][:renders]
    for job in on_disk:
        video = Path(job.output_path)
        video.write_bytes(MP4_BYTES)
        document = sidecar.job_document(job)
        video.with_suffix(".json").write_text(json.dumps(document, indent=2) + "\n")
    return time.perf_counter() - started, on_disk


# -- (a) lookups -------------------------------------------------------------------------------


def per_call_ms(call: Callable[[str], object], refs: Sequence[str]) -> float:
    """Median milliseconds of one call, over every ref (each ref once; a warm-up first)."""
    for ref in refs[:10]:
        call(ref)
    times = []
    for ref in refs:
        started = time.perf_counter()
        call(ref)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def lookups(space: Workspace, jobs: list[Job], count: int) -> list[Row]:
    sample = random.Random(3).sample(jobs, min(count, len(jobs)))
    os.chdir(space.project)  # paths as `gen` prints them: relative to the project
    forms: dict[str, list[str]] = {
        "id prefix (12 chars)": [job.id[:12] for job in sample],
        "short id (last 8, as printed)": [ids.short(job.id) for job in sample],
        "request id": [job.request_id or "" for job in sample],
        "MP4 path, relative": [os.path.relpath(job.output_path) for job in sample],
        "sidecar path, absolute": [
            str(Path(job.output_path).with_suffix(".json")) for job in sample
        ],
    }
    rows: list[Row] = []
    with Ledger.open(space.ledger) as ledger:
        for ref, job in zip(forms["short id (last 8, as printed)"], sample, strict=True):
            assert ledger.resolve(ref).id == job.id, ref
        floor = per_call_ms(ledger.get, [job.id for job in sample])
        rows.append(("anchor: index lookup by full id (Ledger.get)", f"{floor:.3f} ms", "", ""))
        for form, refs in forms.items():
            ms = per_call_ms(ledger.resolve, refs)
            rows.append(
                (
                    f"resolve by {form}",
                    f"{ms:.3f} ms ({ms / floor:.1f}× anchor)",
                    f"≤ {LOOKUP_TARGET_MS:g} ms",
                    verdict(ms, LOOKUP_TARGET_MS),
                )
            )

        def before(ref: str) -> object:
            sql = "SELECT * FROM jobs WHERE id LIKE ? OR request_id = ? ORDER BY seq DESC LIMIT 3"
            return ledger.conn.execute(sql, (ref.lower() + "%", ref)).fetchall()

        old = per_call_ms(before, forms["id prefix (12 chars)"][:20])
        rows.append(("(before: id LIKE ? OR request_id = ?)", f"{old:.3f} ms", "", ""))
    return rows


# -- (b) a new render recorded -----------------------------------------------------------------


def gen_once(space: Workspace, url: str, prompt: str) -> tuple[float, float]:
    """Wall seconds and the child's CPU seconds of one `imagine gen --no-wait`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        imagine_command("gen", prompt, "-d", "1", "--no-wait", "-y", "-q", "--base-url", url),
        cwd=space.project,
        env=space.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"gen failed ({done.returncode}): {done.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def configure(space: Workspace) -> None:
    """No pacing between the runs: one start per second per model would time the pacing."""
    subprocess.run(
        imagine_command("config", "set", "rps", "1000"),
        env=space.env(),
        check=True,
        capture_output=True,
    )


def gens(big: Workspace, empty: Workspace, pairs: int) -> list[Row]:
    for space in (big, empty):
        configure(space)
    rows: list[Row] = []
    with simulator("--speed", "50") as url:
        for name, space in (("big", big), ("empty", empty)):
            wall, cpu = gen_once(space, url, f"first look in the {name} project")
            rows.append(
                (
                    f"first gen in a folder its ledger never indexed ({name})",
                    f"{wall:.3f} s wall, {cpu:.3f} s CPU",
                    "(once per ledger and folder)",
                    "",
                )
            )
        runs: dict[str, list[tuple[float, float]]] = {"big": [], "empty": []}
        for n in range(pairs):
            order = (
                (("big", big), ("empty", empty)) if n % 2 == 0 else (("empty", empty), ("big", big))
            )
            for name, space in order:
                runs[name].append(gen_once(space, url, f"a new take {n} for {name}"))
    medians = {
        name: tuple(statistics.median(values) for values in zip(*got, strict=True))
        for name, got in runs.items()
    }
    (big_wall, big_cpu), (empty_wall, empty_cpu) = medians["big"], medians["empty"]
    rows += [
        (
            "anchor: gen --no-wait on an empty ledger",
            f"{empty_wall:.3f} s wall, {empty_cpu:.3f} s CPU",
            "",
            "",
        ),
        ("gen --no-wait on the big ledger", f"{big_wall:.3f} s wall, {big_cpu:.3f} s CPU", "", ""),
        (
            "ratio, wall",
            f"{big_wall / empty_wall:.3f}",
            f"≤ {GEN_TARGET_RATIO}",
            verdict(big_wall / empty_wall, GEN_TARGET_RATIO),
        ),
        (
            "ratio, CPU",
            f"{big_cpu / empty_cpu:.3f}",
            f"≤ {GEN_TARGET_RATIO}",
            verdict(big_cpu / empty_cpu, GEN_TARGET_RATIO),
        ),
    ]
    return rows


# -- (c) the same, in-process: the ledger's share alone ---------------------------------------


def record_ms(space: Workspace, prompts: Sequence[str]) -> list[float]:
    """Milliseconds to record each new request (``plan.plan``: fingerprint, reuse lookup in the
    ledger and the project folder, the insert), in one process with the ledger open."""
    project = Project(space.project.resolve(), None)
    target = plan.Target(project, "https://api.x.ai", DEFAULT_PRICES)
    times = []
    with Ledger.open(space.ledger) as ledger:
        for prompt in prompts:
            spec = RenderSpec(mode=Mode.TEXT, model="grok-imagine-video", prompt=prompt, duration=1)
            started = time.perf_counter()
            (planned,) = plan.plan(ledger, [plan.Request(spec, DEFAULT_OUTPUT)], target)
            times.append((time.perf_counter() - started) * 1000)
            assert planned.action == plan.NEW
    return times


def records(big: Workspace, empty: Workspace, count: int) -> list[Row]:
    got: dict[str, list[float]] = {"big": [], "empty": []}
    for n in range(4):  # alternated in rounds, so both see the same stretch of the machine
        for name, space in (("big", big), ("empty", empty))[:: 1 if n % 2 == 0 else -1]:
            got[name] += record_ms(space, [f"in-process take {n}.{i}" for i in range(count)])
    big_ms, empty_ms = statistics.median(got["big"]), statistics.median(got["empty"])
    return [
        ("anchor: record one request, empty ledger", f"{empty_ms:.3f} ms", "", ""),
        ("record one request, big ledger", f"{big_ms:.3f} ms", "", ""),
        (
            "ratio",
            f"{big_ms / empty_ms:.3f}",
            f"≤ {GEN_TARGET_RATIO}",
            verdict(big_ms / empty_ms, GEN_TARGET_RATIO),
        ),
    ]


def main() -> None:
    args = parse_args()
    print(f"ledger scale: {args.jobs:,} jobs, {args.renders:,} renders on disk; {machine()}")
    with workspace() as big, workspace() as empty:
        seconds, on_disk = build(big, args.jobs, args.renders)
        size = big.ledger.stat().st_size / 2**20
        print(f"built in {seconds:.1f} s (ledger {size:.0f} MiB, {len(on_disk):,} MP4s + sidecars)")
        with Ledger.open(big.ledger) as ledger:
            jobs = [job for job in ledger.jobs(limit=args.jobs) if job.request_id]
        print_table("(a) a job by what the tool prints", lookups(big, jobs, args.lookups))
        print_table(
            f"(b) a new render recorded: imagine gen --no-wait, median of {args.pairs} alternated pairs",
            gens(big, empty, args.pairs),
        )
        print_table(
            f"(c) a new request recorded in-process (plan.plan), median of {4 * args.records}",
            records(big, empty, args.records),
        )


if __name__ == "__main__":
    main()
