"""--log-file / IMAGINE_LOG: every event of a run as one JSON line, whatever the display shows;
never a prompt, never a key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from imagine.observability.logfile import LogFile
from tests.helpers import Cli, read_jobs, sim_stats

PROMPT = "a zebra reading the secret plans aloud"


def _lines(path: Path) -> list[dict[str, Any]]:
    text = path.read_text()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_a_run_logs_each_event_of_its_job(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    log = project / "logs" / "imagine.ndjson"
    log.parent.mkdir()
    result = cli.run(
        "--log-file",
        str(log),
        "gen",
        PROMPT,
        "-d",
        "1",
        "--base-url",
        sim.url,
        env={"XAI_API_KEY": sim.api_key},
    )
    assert result.exit_code == 0, result.stderr
    assert "#1 submitted" in result.stderr  # the plain display still speaks on stderr
    (job,) = read_jobs(imagine_home)
    records = _lines(log)
    kinds = [record["event"] for record in records]
    assert kinds[0] == "submitting" and kinds[-1] == "summary"
    assert {"submitted", "rendered", "complete"} <= set(kinds)
    for record in records:
        assert record["v"] == 1 and record["time"].endswith("Z") and record["elapsed"] >= 0
        if record["event"] != "summary":
            assert record["job"] == job["id"]
    complete = next(record for record in records if record["event"] == "complete")
    assert complete["status"] == "complete" and complete["path"] == job["output_path"]
    assert complete["model"] == "grok-imagine-video" and complete["resolution"] == "480p"
    assert complete["polls"] == job["poll_count"] >= 1
    assert complete["render_ms"] > 0 and complete["total_ms"] >= complete["render_ms"]
    text = log.read_text()
    assert PROMPT not in text
    assert "zebra" not in text.replace(complete["path"], "")  # (the file's name is its slug)
    assert sim.api_key not in text


def test_the_log_file_holds_what_progress_json_prints_and_is_appended_to(
    cli: Cli, sim: Any, project: Path
) -> None:
    log = project / "run.log"
    env = {"XAI_API_KEY": sim.api_key, "IMAGINE_LOG": str(log)}
    first = cli.run(
        "gen", "a quiet lake", "-d", "1", "--progress", "json", "--base-url", sim.url, env=env
    )
    assert first.exit_code == 0
    printed = [json.loads(line) for line in first.stderr.splitlines()]
    logged = _lines(log)
    assert [r["event"] for r in logged] == [r["event"] for r in printed]
    assert [r.get("job") for r in logged] == [r.get("job") for r in printed]
    second = cli.run("gen", "a quiet pond", "-d", "1", "-q", "--base-url", sim.url, env=env)
    assert second.exit_code == 0
    both = _lines(log)
    assert both[: len(logged)] == logged  # appended, not rewritten
    assert [r["event"] for r in both].count("summary") == 2


def test_a_failed_job_logs_its_error_code(cli: Cli, sim: Any, project: Path) -> None:
    sim.configure(fail_rate=1.0)
    log = project / "run.log"
    result = cli.gen(sim, "a burning barn", "-d", "1", "-q", env={"IMAGINE_LOG": str(log)})
    assert result.exit_code == 1
    failed = next(r for r in _lines(log) if r["event"] == "failed")
    assert failed["status"] == "failed" and failed["error_code"] and failed["message"]


def test_a_log_file_that_cannot_be_written_is_exit_2_before_anything_is_sent(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    for bad in (project / "missing" / "x.log", project):
        result = cli.run(
            "--log-file", str(bad), "gen", "a fox", "--base-url", sim.url,
            env={"XAI_API_KEY": sim.api_key},
        )  # fmt: skip
        assert result.exit_code == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "cannot write the log file" in lines[0], result.stderr
    assert sim_stats(sim)["submissions"] == 0
    assert read_jobs(imagine_home) == []


def test_keys_in_a_message_are_masked(tmp_path: Path) -> None:
    log = LogFile.open(tmp_path / "x.log")
    log.write(
        {"event": "error", "message": "401 for key xai-AbCdEf0123456789xyz (Bearer abcdefgh1234)"}
    )
    log.close()
    text = (tmp_path / "x.log").read_text()
    assert "AbCdEf0123456789" not in text and "abcdefgh1234" not in text
    assert "xai-…" in text
