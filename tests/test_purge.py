"""The data lifecycle: `imagine report` hides a render, `imagine purge` and `imagine gc` (under
retention_days) delete jobs and their files, each act audited without the prompt; and an input
the user gave is never kept beyond its hash."""

from __future__ import annotations

import base64
import getpass
import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from imagine import clock
from imagine.cli import output
from imagine.ledger.store import Ledger
from imagine.lifecycle import EventKind, Status
from imagine.media.synth import write_image
from tests.helpers import Cli, job_values, read_jobs

PROMPT = "a violet heron wading at dawn"
DAY = 86400


def _render(cli: Cli, sim: Any, *args: str) -> list[Path]:
    """The videos made, in the order of their job numbers."""
    result = cli.gen(sim, *args, "-d", "1")
    assert result.exit_code == 0, result.stderr
    made = {str(Path(line).resolve()) for line in result.stdout.split()}
    rows = read_jobs(Path(os.environ["IMAGINE_HOME"]))
    return [Path(row["output_path"]) for row in rows if row["output_path"] in made]


def _age(home: Path, seqs: list[int], days: float) -> None:
    """Make jobs ``days`` old, as if made then (no test waits for a month)."""
    conn = sqlite3.connect(home / "ledger.sqlite3")
    with conn:
        for seq in seqs:
            conn.execute(
                "UPDATE jobs SET created_at = ? WHERE seq = ?",
                (clock.iso(time.time() - days * DAY), seq),
            )
    conn.close()


def _audit(cli: Cli) -> list[dict[str, Any]]:
    result = cli.run("audit", "--json")
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def _files(video: Path) -> list[Path]:
    return [p for p in (video, video.with_suffix(".json"), video.with_suffix(".jpg")) if p.exists()]


# -- report ------------------------------------------------------------------------------------


def test_report_hides_a_render_from_list_and_audits_it_without_the_prompt(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    first, _ = _render(cli, sim, PROMPT, "-n", "2")
    reported = cli.run("report", "@1", "--reason", "shows a real, named person")
    assert reported.exit_code == 0, reported.stderr
    assert "reported #1" in reported.stderr

    listed = cli.run("list").stdout.splitlines()
    assert [line.split("\t")[0] for line in listed] == ["2"]
    everything = cli.run("list", "--reported").stdout.splitlines()
    assert [line.split("\t")[:3] for line in everything][1] == [
        "1",
        read_jobs(imagine_home)[0]["id"],
        "complete (reported)",
    ]
    assert "shows a real, named person" in cli.run("show", "@1").stdout
    shown = json.loads(cli.run("show", "@1", "--json").stdout)
    assert shown["report"]["reason"] == "shows a real, named person"
    assert json.loads(cli.run("show", "@2", "--json").stdout)["report"] is None
    assert first.exists()  # reported is not deleted

    (entry,) = _audit(cli)
    assert entry["action"] == "report" and entry["job_id"] == read_jobs(imagine_home)[0]["id"]
    assert entry["actor"] == getpass.getuser()
    assert entry["detail"]["reason"] == "shows a real, named person"
    assert PROMPT not in json.dumps(entry) and entry["prompt"] is None
    row = read_jobs(imagine_home)[0]
    assert row["reported_at"] == entry["at"] and row["report_reason"] == entry["detail"]["reason"]

    again = cli.run("report", "@1", "--reason", "twice")
    assert again.exit_code == 2 and "reported already" in again.stderr
    assert cli.run("report", "@2", "--reason", "  ").exit_code == 2
    assert len(_audit(cli)) == 1


def test_when_every_job_is_reported_list_says_where_they_are(
    cli: Cli, sim: Any, project: Path
) -> None:
    _render(cli, sim, PROMPT)
    assert cli.run("report", "@last", "--reason", "not ours").exit_code == 0
    assert "imagine list --reported" in cli.run("list").stderr


def test_only_a_finished_render_can_be_reported(cli: Cli, imagine_home: Path) -> None:
    with Ledger.open() as ledger:
        ledger.insert(job_values())
    result = cli.run("report", "@1", "--reason", "bad")
    assert result.exit_code == 2 and "queued" in result.stderr
    assert read_jobs(imagine_home)[0]["reported_at"] is None


# -- purge -------------------------------------------------------------------------------------


def test_purge_older_than_deletes_old_jobs_and_their_files_and_audits_each(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    videos = _render(cli, sim, PROMPT, "-n", "3")
    _age(imagine_home, [1, 2], days=40)
    before = {row["seq"]: row["id"] for row in read_jobs(imagine_home)}

    dry = cli.run("purge", "--older-than", "30d", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert [line.split()[2] for line in dry.stdout.splitlines()] == ["#2", "#1"]
    assert "3 file(s)" not in dry.stderr and "6 file(s)" in dry.stderr
    assert len(read_jobs(imagine_home)) == 3 and all(_files(v) for v in videos)
    assert _audit(cli) == []

    unconfirmed = cli.run("purge", "--older-than", "30d")  # stdin is no terminal here
    assert unconfirmed.exit_code == 2 and "--yes" in unconfirmed.stderr
    assert len(read_jobs(imagine_home)) == 3

    done = cli.run("purge", "--older-than", "30d", "--yes")
    assert done.exit_code == 0, done.stderr
    assert [row["seq"] for row in read_jobs(imagine_home)] == [3]
    assert _files(videos[0]) == [] and _files(videos[1]) == []
    assert len(_files(videos[2])) == 3

    entries = _audit(cli)
    assert {e["job_id"] for e in entries} == {before[1], before[2]}
    for entry in entries:
        assert entry["action"] == "purge" and entry["actor"] == getpass.getuser()
        assert entry["prompt"] is None and PROMPT not in json.dumps(entry)
        assert entry["detail"]["trigger"] == "purge" and entry["detail"]["status"] == "complete"
        assert len(entry["detail"]["files"]) == 3
        assert all(not Path(name).exists() for name in entry["detail"]["files"])


def test_purge_never_touches_a_live_job(cli: Cli, imagine_home: Path) -> None:
    with Ledger.open() as ledger:
        queued = ledger.insert(job_values(created_at=clock.iso(time.time() - 90 * DAY)))
        unknown = ledger.insert(job_values(output_path="/tmp/p/renders/b.mp4"))
        ledger.update(unknown.id, EventKind.SUBMITTING, status=Status.SUBMITTING)
        ledger.update(unknown.id, EventKind.ANSWER_LOST, status=Status.UNKNOWN)

    named = cli.run("purge", "@1", "--yes")
    assert named.exit_code == 2
    assert "#1 is queued" in named.stderr and "imagine cancel @1" in named.stderr
    assert cli.run("purge", "@2", "--yes").exit_code == 2
    by_age = cli.run("purge", "--older-than", "1d", "--yes")
    assert by_age.exit_code == 0 and "nothing to purge" in by_age.stderr
    assert [row["id"] for row in read_jobs(imagine_home)] == [queued.id, unknown.id]
    assert _audit(cli) == []


def test_purge_by_project_and_by_name(
    cli: Cli, sim: Any, tmp_path: Path, imagine_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    for folder in (here, there):
        folder.mkdir()
        monkeypatch.chdir(folder)
        assert cli.run("init").exit_code == 0
        _render(cli, sim, PROMPT, "-n", "2")
    done = cli.run("purge", "--project", str(there), "--yes")
    assert done.exit_code == 0, done.stderr
    assert {row["project_dir"] for row in read_jobs(imagine_home)} == {str(here.resolve())}
    assert not list(there.rglob("*.mp4")) and len(list(here.rglob("*.mp4"))) == 2

    named = cli.run("purge", "@1", "--yes")
    assert named.exit_code == 0, named.stderr
    assert [row["seq"] for row in read_jobs(imagine_home)] == [2]
    assert cli.run("purge").exit_code == 2  # nothing said: nothing purged


def test_on_a_terminal_purge_asks_first(
    cli: Cli, sim: Any, project: Path, imagine_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _render(cli, sim, PROMPT)
    monkeypatch.setattr(output, "stdin_is_terminal", lambda: True)
    declined = cli.run("purge", "@1", input="n\n")
    assert declined.exit_code == 0 and "Delete 1 job(s) and 3 file(s)" in declined.stderr
    assert len(read_jobs(imagine_home)) == 1
    accepted = cli.run("purge", "@1", input="y\n")
    assert accepted.exit_code == 0, accepted.stderr
    assert read_jobs(imagine_home) == [] and not list(project.rglob("*.mp4"))


def test_rm_is_audited_too(cli: Cli, sim: Any, project: Path) -> None:
    (video,) = _render(cli, sim, PROMPT)
    assert cli.run("rm", "@1", "--files").exit_code == 0
    (entry,) = _audit(cli)
    assert entry["action"] == "remove" and entry["prompt"] is None
    assert sorted(entry["detail"]["files"]) == sorted(
        str(p) for p in (video, video.with_suffix(".json"), video.with_suffix(".jpg"))
    )


# -- gc under retention_days ---------------------------------------------------------------------


def test_gc_purges_what_is_older_than_retention_days(
    cli: Cli, sim: Any, project: Path, imagine_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    videos = _render(cli, sim, PROMPT, "-n", "2")
    off = cli.run("gc")
    assert off.exit_code == 0 and "retention_days is not set" in off.stderr
    assert cli.run("config", "set", "retention_days", "0").exit_code == 2
    assert cli.run("config", "set", "retention_days", "30").exit_code == 0
    assert "nothing older than 30 days" in cli.run("gc").stderr

    # A month and a day later, by the clock imagine reads.
    later = time.time() + 31 * DAY
    monkeypatch.setattr(clock, "now", lambda: later)
    dry = cli.run("gc", "--dry-run")
    assert dry.exit_code == 0 and len(dry.stdout.splitlines()) == 2
    assert len(read_jobs(imagine_home)) == 2

    done = cli.run("gc", "--json")
    assert done.exit_code == 0, done.stderr
    purged = [json.loads(line) for line in done.stdout.splitlines()]
    assert [item["deleted"] for item in purged] == [True, True]
    assert read_jobs(imagine_home) == [] and not any(_files(v) for v in videos)
    assert {e["detail"]["trigger"] for e in _audit(cli)} == {"gc"}


# -- inputs are kept only as their hash ----------------------------------------------------------


def test_an_uploaded_image_is_kept_nowhere_but_as_its_hash(
    cli: Cli, sim: Any, tmp_path: Path, project: Path, imagine_home: Path
) -> None:
    image = tmp_path / "private" / "portrait.png"
    image.parent.mkdir()
    write_image(image, width=320, height=240, seed=7)
    data = image.read_bytes()
    (video,) = _render(cli, sim, "she smiles", "--image", str(image))
    side = json.loads(video.with_suffix(".json").read_text())
    (item,) = side["inputs"]
    assert item["sha256"] == hashlib.sha256(data).hexdigest()

    # Any run of the image's bytes, raw or as base64 (a data URL), anywhere imagine writes.
    pieces = [data[300:364], base64.b64encode(data[300:600])]
    written = [p for folder in (imagine_home, project) for p in folder.rglob("*") if p.is_file()]
    assert any(p.name == "ledger.sqlite3" for p in written)
    assert video.with_suffix(".json") in written
    for path in written:
        content = path.read_bytes()
        for piece in pieces:
            assert piece not in content, f"{path} holds the image's bytes"
    assert item["sha256"].encode() in (imagine_home / "ledger.sqlite3").read_bytes() + b"".join(
        p.read_bytes() for p in imagine_home.glob("ledger.sqlite3-wal")
    )
