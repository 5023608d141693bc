"""`imagine batch` and the job commands: many jobs, bad lines, re-runs that pay nothing,
crashes, two processes on one ledger, fault knobs, cancel / retry / rm."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Cli, failed_renders, read_jobs, sim_stats, write_prompts

PROMPTS = [f"scene {n}: a lantern drifting over water" for n in range(1, 7)]


def _txt(folder: Path, prompts: list[str] = PROMPTS) -> Path:
    return write_prompts(folder, prompts, head="# a batch\n\n")


def _batch(cli: Cli, sim: Any, *args: str) -> Any:
    return cli.run(
        "batch",
        *args,
        "--base-url",
        sim.url,
        "--rps",
        "20",
        "-c",
        "6",
        "-d",
        "1",
        env={"XAI_API_KEY": sim.api_key},
    )


def test_batch_renders_every_line_and_a_rerun_pays_nothing(
    cli: Cli, sim: Any, project: Path
) -> None:
    batch_file = _txt(project)
    first = _batch(cli, sim, str(batch_file))
    assert first.exit_code == 0, first.stderr
    videos = first.stdout.split()
    assert len(videos) == len(PROMPTS) and all((project / v).exists() for v in videos)
    again = _batch(cli, sim, str(batch_file))
    assert again.exit_code == 0
    assert sorted(again.stdout.split()) == sorted(videos)
    assert again.stderr.count("already rendered") == len(PROMPTS)
    stats = sim_stats(sim)
    assert stats["submissions"] == len(PROMPTS) and stats["duplicate_bodies"] == 0


def test_renders_restored_on_a_fresh_machine_are_not_paid_again(
    cli: Cli, sim: Any, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch_file = _txt(project, PROMPTS[:3])
    assert _batch(cli, sim, str(batch_file)).exit_code == 0
    monkeypatch.setenv("IMAGINE_HOME", str(tmp_path / "another-machine"))
    again = _batch(cli, sim, str(batch_file))
    assert again.exit_code == 0, again.stderr
    assert sim_stats(sim)["submissions"] == 3
    imported = read_jobs(tmp_path / "another-machine")
    assert [row["status"] for row in imported] == ["complete"] * 3
    assert cli.run("list", "--status", "complete").stdout.count("\n") == 3


def test_a_new_request_does_not_read_the_sidecars_of_renders_the_ledger_has(
    cli: Cli,
    sim: Any,
    project: Path,
    tmp_path: Path,
    imagine_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The project's renders are looked up by their sidecars only when the ledger does not know
    them (a restored folder): a new prompt in a project of many renders reads none of them."""
    from imagine.workflow import reuse

    assert _batch(cli, sim, str(_txt(project, PROMPTS[:4]))).exit_code == 0
    read: list[Path] = []
    real = reuse._read

    def counted(path: Path) -> Any:
        read.append(path)
        return real(path)

    monkeypatch.setattr(reuse, "_read", counted)
    assert _batch(cli, sim, str(_txt(project, PROMPTS[4:5]))).exit_code == 0
    assert read == []
    # A ledger that does not know them (a fresh machine) looks at every one of them.
    monkeypatch.setenv("IMAGINE_HOME", str(tmp_path / "another-machine"))
    assert _batch(cli, sim, str(_txt(project, PROMPTS[5:6]))).exit_code == 0
    assert sorted(path.name for path in read) == sorted(
        Path(row["output_path"]).with_suffix(".json").name for row in read_jobs(imagine_home)
    )


def test_bad_lines_are_reported_with_their_numbers_and_skipped(
    cli: Cli, sim: Any, project: Path
) -> None:
    path = project / "jobs.jsonl"
    path.write_text(
        '{"prompt": "a good one"}\n'
        '{"prompt": "typo", "durration": 3}\n'
        "not json at all\n"
        '{"prompt": "too long", "duration": 16}\n'
        '{"prompt": "another good one", "aspect": "9:16"}\n'
    )
    result = _batch(cli, sim, str(path))
    assert result.exit_code == 2
    assert len(result.stdout.split()) == 2
    for line, text in ((2, "did you mean 'duration'"), (3, "not valid JSON"), (4, "out of range")):
        assert f"jobs.jsonl:{line}: " in result.stderr and text in result.stderr
    assert sim_stats(sim)["submissions"] == 2


def test_strict_refuses_the_whole_file_before_anything_is_sent(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    path = project / "jobs.csv"
    path.write_text("prompt,duration,aspect\na fox,2,16:9\na whale,2,auto\n")
    result = _batch(cli, sim, str(path), "--strict")
    assert result.exit_code == 2
    assert "jobs.csv:3: aspect ratio 'auto' is not supported" in result.stderr
    assert "nothing submitted" in result.stderr
    assert sim_stats(sim)["submissions"] == 0
    assert read_jobs(imagine_home) == []


def test_csv_fields_and_stdin(cli: Cli, sim: Any, project: Path) -> None:
    result = cli.run(
        "batch",
        "-",
        "--format",
        "csv",
        "--base-url",
        sim.url,
        "--rps",
        "20",
        input="prompt,d,aspect,output\nsquare sun,2,1:1,clips/{slug}\n",
        env={"XAI_API_KEY": sim.api_key},
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "clips/square-sun.mp4"
    side = json.loads((project / "clips" / "square-sun.json").read_text())
    assert side["parameters"]["aspect_ratio"] == "1:1" and side["parameters"]["duration"] == 2


def test_json_prints_one_object_per_job(cli: Cli, sim: Any, project: Path) -> None:
    result = _batch(cli, sim, str(_txt(project, PROMPTS[:3])), "--json")
    assert result.exit_code == 0
    documents = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(d["prompt"]["raw"] for d in documents) == sorted(PROMPTS[:3])
    assert all(d["status"] == "complete" for d in documents)


def test_progress_events_follow_the_documented_schema(cli: Cli, sim: Any, project: Path) -> None:
    result = _batch(cli, sim, str(_txt(project, PROMPTS[:2])), "--progress", "json")
    events = [json.loads(line) for line in result.stderr.splitlines()]  # every line is JSON
    envelope = {"event", "v", "time", "elapsed"}
    of_jobs = [e for e in events if "job" in e]
    assert of_jobs and all(envelope | {"job", "number", "status"} <= set(e) for e in of_jobs)
    assert {e["event"] for e in of_jobs} >= {"submitting", "submitted", "rendered", "complete"}
    messages = [e for e in events if e["event"] in ("note", "warning", "error")]
    assert all(set(e) == envelope | {"message"} for e in messages)
    assert [e["event"] for e in events if e not in of_jobs + messages] == ["summary"]


def test_with_progress_json_messages_and_errors_are_events_too(
    cli: Cli, sim: Any, project: Path
) -> None:
    shots = project / "shots.jsonl"
    shots.write_text('{"prompt": "a red kite", "duration": 1}\n{"prompt": "x", "duration": 99}\n')
    result = _batch(cli, sim, str(shots), "--progress", "json")
    assert result.exit_code == 2  # the good line rendered; the bad one is reported at the end
    events = [json.loads(line) for line in result.stderr.splitlines()]  # no line of prose
    (error,) = [e for e in events if e["event"] == "error"]
    assert "shots.jsonl:2" in error["message"] and "duration 99" in error["message"]
    assert any(e["event"] == "note" and "skipped" in e["message"] for e in events)
    assert [e["event"] for e in events if e.get("job")][-1] == "complete"


def _start_batch(sim: Any, folder: Path, batch_file: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "imagine",
            "batch",
            str(batch_file),
            "--base-url",
            sim.url,
            "--rps",
            "20",
            "-c",
            "4",
            "-d",
            "1",
            "-q",
            *extra,
        ],
        cwd=folder,
        env={**os.environ, "XAI_API_KEY": sim.api_key},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_killed_at_random_points_and_resumed_every_body_is_sent_once(
    cli: Cli, sim_factory: Any, project: Path, imagine_home: Path
) -> None:
    sim = sim_factory(speed=8.0)
    prompts = [f"take {n}: waves on a rocky shore" for n in range(12)]
    batch_file = _txt(project, prompts)
    chance = random.Random(7)
    for _ in range(3):
        process = _start_batch(sim, project, batch_file)
        time.sleep(chance.uniform(0.4, 2.0))
        process.send_signal(signal.SIGKILL)
        process.wait()
    result = cli.run(
        "batch",
        str(batch_file),
        "--base-url",
        sim.url,
        "--rps",
        "20",
        "-d",
        "1",
        env={"XAI_API_KEY": sim.api_key},
    )
    rows = read_jobs(imagine_home)
    assert len(rows) == len(prompts)
    statuses = {row["status"] for row in rows}
    assert statuses <= {"complete", "unknown"}, statuses
    assert result.exit_code == (0 if statuses == {"complete"} else 4)
    stats = sim_stats(sim)
    assert stats["duplicate_bodies"] == 0
    assert all(count == 1 for count in stats["bodies"].values())
    # Every complete job was sent once; a job killed after it was marked as sending but before
    # its request reached the simulator is rightly `unknown` and was sent at most once.
    complete = sum(row["status"] == "complete" for row in rows)
    assert complete <= stats["submissions"] <= len(prompts)


@pytest.mark.slow
def test_two_processes_share_one_ledger_without_doubling_anything(
    sim_factory: Any, project: Path, imagine_home: Path
) -> None:
    sim = sim_factory(speed=10.0)
    prompts = [f"pair {n}: a hummingbird at a flower" for n in range(10)]
    batch_file = _txt(project, prompts)
    first = _start_batch(sim, project, batch_file)
    second = _start_batch(sim, project, batch_file)
    assert first.wait(timeout=120) == 0
    assert second.wait(timeout=120) == 0
    rows = read_jobs(imagine_home)
    assert len(rows) == len(prompts)
    assert {row["status"] for row in rows} == {"complete"}
    stats = sim_stats(sim)
    assert stats["submissions"] == len(prompts) and stats["duplicate_bodies"] == 0
    assert all(count <= 2 for count in stats["polls"].values()) or stats["polls_total"] < 60


@pytest.mark.slow
def test_with_every_fault_knob_on_every_job_is_accounted_for(
    cli: Cli, sim_factory: Any, project: Path, imagine_home: Path
) -> None:
    sim = sim_factory(
        speed=20.0, error_rate=0.15, drop_rate=0.1, truncate_rate=0.3, rps_limit=4, seed=11
    )
    prompts = [f"storm {n}: lightning over a field" for n in range(12)]
    result = _batch(cli, sim, str(_txt(project, prompts)))
    assert result.exit_code in (0, 4)
    rows = read_jobs(imagine_home)
    assert len(rows) == len(prompts)
    # Which request meets which fault hangs on the order they reach the simulator, so a job may
    # also be left live: a download cut short on every attempt, a poll failing on every retry.
    # Such a job is resumable, and says so (exit 4).
    left = [row["status"] for row in rows if row["status"] in ("running", "downloading")]
    assert not left or result.exit_code == 4
    if left:
        sim.configure(error_rate=0.0, drop_rate=0.0, truncate_rate=0.0)
        finished = cli.run("wait", "--all", env={"XAI_API_KEY": sim.api_key})
        assert finished.exit_code == 0, finished.stderr
        rows = read_jobs(imagine_home)
    by_status: dict[str, int] = {}
    for row in rows:
        by_status[row["status"]] = by_status.get(row["status"], 0) + 1
    assert set(by_status) <= {"complete", "unknown", "failed"}, by_status
    for row in rows:
        if row["status"] == "complete":
            assert Path(row["output_path"]).stat().st_size == row["file_bytes"]
        if row["status"] == "failed":
            assert row["error_code"] == "not_submitted"  # refused, so never paid for
    stats = sim_stats(sim)
    assert stats["duplicate_bodies"] == 0
    # Unknown jobs met a lost answer or a 500/502 after sending: some of those the simulator took.
    complete, unknown = by_status.get("complete", 0), by_status.get("unknown", 0)
    assert complete <= stats["submissions"] <= complete + unknown


def test_retry_an_unknown_job(
    cli: Cli, sim_factory: Any, project: Path, imagine_home: Path
) -> None:
    sim = sim_factory(drop_rate=1.0)
    lost = cli.gen(sim, "a red balloon", "-d", "1")
    assert lost.exit_code == 4
    sim.configure(drop_rate=0.0)
    retried = cli.run("retry", "@last", env={"XAI_API_KEY": sim.api_key})
    assert retried.exit_code == 0, retried.stderr
    assert "may already have been accepted" in retried.stderr
    old, new = read_jobs(imagine_home)
    assert (old["status"], new["status"]) == ("unknown", "complete")
    assert new["parent_id"] == old["id"] and new["fingerprint"] == old["fingerprint"]
    # An unknown job can never download (its request id was lost): the retry writes the file the
    # request was meant to make.
    assert new["output_path"] == old["output_path"]
    assert sim_stats(sim)["submissions"] == 2


def test_rm_files_of_a_retried_job_leaves_the_retry_s_render(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    failed_renders(cli, sim, "a green kite")
    retried = cli.run("retry", "@1", env={"XAI_API_KEY": sim.api_key})
    assert retried.exit_code == 0, retried.stderr
    video = project / retried.stdout.strip()
    removed = cli.run("rm", "@1", "--files")
    assert removed.exit_code == 0
    assert "it is #2's (complete) now" in removed.stderr
    assert video.is_file() and video.with_suffix(".json").is_file()
    assert [row["status"] for row in read_jobs(imagine_home)] == ["complete"]


def test_retry_refuses_a_job_retried_already_and_sends_nothing_for_a_bad_list(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    failed_renders(cli, sim, "a grey heron", "a white heron")
    env = {"XAI_API_KEY": sim.api_key}
    assert cli.run("retry", "@1", env=env).exit_code == 0
    again = cli.run("retry", "@1", env=env)
    assert again.exit_code == 2
    assert "#1 was retried already, as #3 (complete)" in again.stderr
    mixed = cli.run("retry", "@2", "@1", env=env)  # @2 could go, @1 cannot: neither is sent
    assert mixed.exit_code == 2
    assert len(read_jobs(imagine_home)) == 3
    assert sim_stats(sim)["submissions"] == 3


def test_retry_refuses_a_complete_job(cli: Cli, sim: Any, project: Path) -> None:
    cli.gen(sim, "a blue door", "-d", "1")
    result = cli.run("retry", "@last", env={"XAI_API_KEY": sim.api_key})
    assert result.exit_code == 2
    assert "only failed, expired, blocked, canceled or unknown" in result.stderr


def test_cancel_and_rm(cli: Cli, sim_factory: Any, project: Path, imagine_home: Path) -> None:
    sim = sim_factory(speed=2.0)
    started = cli.gen(sim, "a slow fog", "-d", "2", "--no-wait")
    assert started.exit_code == 0
    canceled = cli.run("cancel", "@last")
    assert canceled.exit_code == 0
    assert "may still render" in canceled.stderr
    assert read_jobs(imagine_home)[0]["status"] == "canceled"
    assert cli.run("wait").stderr.strip().endswith("no unfinished jobs")
    assert cli.run("cancel", "@last").exit_code == 2
    sim.configure(speed=50.0)  # slow only while there was a render to cancel
    done = cli.gen(sim, "a quick spark", "-d", "1")
    video = project / done.stdout.strip()
    refused = cli.run("rm", "@last", "@9", "--files")  # @9 does not exist: nothing is removed
    assert refused.exit_code == 2 and "no job @9" in refused.stderr
    assert video.is_file() and len(read_jobs(imagine_home)) == 2
    removed = cli.run("rm", "@last", "--files")
    assert removed.exit_code == 0
    assert not video.exists() and not video.with_suffix(".json").exists()
    assert len(read_jobs(imagine_home)) == 1


def test_cancel_a_queued_job_before_it_is_sent(
    cli: Cli, sim: Any, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagine.session import Session
    from imagine.spec import Mode, RenderSpec
    from imagine.workflow.plan import Request
    from imagine.workflow.steps import preview, record

    monkeypatch.setenv("XAI_API_KEY", sim.api_key)
    with Session(base_url=sim.url) as session:
        spec = RenderSpec(
            mode=Mode.TEXT, model="grok-imagine-video", prompt="never sent", duration=1
        )
        record(session, preview(session, [Request(spec, "renders/{slug}")]))
    result = cli.run("cancel", "@last")
    assert "before it was sent: nothing paid" in result.stderr
    assert cli.run("wait", "--all").exit_code == 0
    assert sim_stats(sim)["submissions"] == 0


def test_a_batch_larger_than_the_active_limit_still_finishes_every_job(
    sim: Any, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory stays flat because only max_active jobs are driven at once; the rest wait as rows."""
    import asyncio

    from imagine.engine.runner import EngineOptions
    from imagine.session import Session
    from imagine.spec import Mode, RenderSpec
    from imagine.workflow.plan import Request
    from imagine.workflow.steps import drive, preview, record

    monkeypatch.setenv("XAI_API_KEY", sim.api_key)
    with Session(base_url=sim.url) as session:
        requests = [
            Request(
                RenderSpec(
                    mode=Mode.TEXT, model="grok-imagine-video", prompt=f"wave {n}", duration=1
                ),
                "renders/{slug}",
            )
            for n in range(7)
        ]
        planned = record(session, preview(session, requests))
        options = EngineOptions(rps=50, concurrency=4, max_active=2)
        outcomes = asyncio.run(drive(session, [p.job.id for p in planned], options=options))
    assert [outcome.job.status for outcome in outcomes] == ["complete"] * 7
    assert sim_stats(sim)["submissions"] == 7
