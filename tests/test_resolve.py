"""Every id, hint and path the tool prints can be pasted back into show, wait, retry, cancel and rm,
and each form of reference is answered by an index."""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagine import ids
from imagine.errors import JobNotFound
from imagine.ledger.store import Ledger
from imagine.lifecycle import EventKind, Status
from tests.helpers import Cli, failed_renders, read_jobs

SHORT = re.compile(r"\b[0-9a-hjkmnp-tv-z]{8}\b")  # an id's last 8 characters, as printed


def _hinted(text: str, command: str) -> str:
    """The id in a hint such as `imagine wait 21rjnr1k` printed by the tool."""
    match = re.search(rf"imagine {command} ((?:{SHORT.pattern}\s?)+)", text)
    assert match, f"no `imagine {command} ID` hint in: {text!r}"
    return match.group(1).split()[0]


def _job(imagine_home: Path, short: str) -> sqlite3.Row:
    (row,) = [row for row in read_jobs(imagine_home) if row["id"].endswith(short)]
    return row


def test_the_short_id_a_no_wait_hint_prints_finishes_the_job(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    started = cli.gen(sim, "a slow tide", "-d", "1", "--no-wait")
    assert started.exit_code == 0, started.stderr
    short = _hinted(started.stderr, "wait")
    assert len(short) == 8 and started.stdout.strip().endswith(short)
    shown = cli.run("show", short)
    assert shown.exit_code == 0, shown.stderr
    assert "a slow tide" in shown.stdout
    waited = cli.run("wait", short, env={"XAI_API_KEY": sim.api_key})
    assert waited.exit_code == 0, waited.stderr
    assert _job(imagine_home, short)["status"] == "complete"


def test_the_short_id_imagine_list_shows_works_in_every_command(
    cli: Cli, sim: Any, project: Path, imagine_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import imagine.cli.listing as jobs_cli

    assert cli.gen(sim, "a red kite", "-d", "1").exit_code == 0
    failed_renders(cli, sim, "a grey owl")
    # The table `imagine list` shows on a terminal (ids cut to their last 8 characters).
    terminal = type("Terminal", (), {"isatty": staticmethod(lambda: True)})
    monkeypatch.setattr(jobs_cli.output, "stdout_is_terminal", terminal.isatty)
    listed = cli.run("list")
    assert listed.exit_code == 0, listed.stderr
    rows = {line.split()[0]: line for line in listed.stdout.splitlines() if line[:1].isdigit()}
    (kite,) = SHORT.findall(rows["1"])
    (owl,) = SHORT.findall(rows["2"])
    for command in ("show", "wait"):
        result = cli.run(command, kite, env={"XAI_API_KEY": sim.api_key})
        assert result.exit_code == 0, (command, result.stderr)
    retried = cli.run("retry", owl, env={"XAI_API_KEY": sim.api_key})
    assert retried.exit_code == 0, retried.stderr
    removed = cli.run("rm", owl)
    assert removed.exit_code == 0, removed.stderr
    assert "removed #2" in removed.stderr
    assert not [row for row in read_jobs(imagine_home) if row["id"].endswith(owl)]


def test_the_id_a_retry_prints_can_be_canceled(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    failed_renders(cli, sim, "a lone heron")
    retried = cli.run("retry", "@1", "--no-wait", env={"XAI_API_KEY": sim.api_key})
    assert retried.exit_code == 0, retried.stderr
    match = re.search(rf"retried as #2 \(({SHORT.pattern})\)", retried.stderr)
    assert match, retried.stderr
    refused = cli.run("rm", match.group(1))  # still live: rm names the command to run first
    assert refused.exit_code == 2
    hinted = _hinted(refused.stderr, "cancel")
    assert hinted == match.group(1)
    canceled = cli.run("cancel", hinted)
    assert canceled.exit_code == 0, canceled.stderr
    assert "#2 canceled" in canceled.stderr
    assert _job(imagine_home, hinted)["status"] == "canceled"


def test_the_id_an_unknown_job_hint_prints_can_be_retried(
    cli: Cli, sim_factory: Any, project: Path, imagine_home: Path
) -> None:
    sim = sim_factory(drop_rate=1.0)
    lost = cli.gen(sim, "a quiet fox", "-d", "1")
    assert lost.exit_code == 4
    short = _hinted(lost.stderr, "retry")
    sim.configure(drop_rate=0.0)
    retried = cli.run("retry", short, "-y", env={"XAI_API_KEY": sim.api_key})
    assert retried.exit_code == 0, retried.stderr
    assert [row["status"] for row in read_jobs(imagine_home)] == ["unknown", "complete"]


def test_the_id_a_timeout_hint_prints_resumes_the_wait(
    cli: Cli, sim_factory: Any, project: Path, imagine_home: Path
) -> None:
    sim = sim_factory(speed=5.0)
    result = cli.gen(sim, "a very slow glacier", "-d", "2", "--timeout", "0.5")
    assert result.exit_code == 6
    short = _hinted(result.stderr, "wait")
    sim.configure(speed=50.0)
    waited = cli.run("wait", short, env={"XAI_API_KEY": sim.api_key})
    assert waited.exit_code == 0, waited.stderr
    assert _job(imagine_home, short)["status"] == "complete"


def test_the_ids_an_interrupt_prints_resume_every_job(
    cli: Cli, sim: Any, project: Path, imagine_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagine.workflow import steps

    real = steps.drive

    async def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(steps, "drive", interrupted)
    result = cli.gen(sim, "a small boat", "-d", "1", "-n", "2")
    assert result.exit_code == 130
    match = re.search(r"Resume with: imagine wait (.+)", result.stderr)
    assert match, result.stderr
    refs = match.group(1).split()
    assert len(refs) == 2 and all(SHORT.fullmatch(ref) for ref in refs)
    monkeypatch.setattr(steps, "drive", real)
    waited = cli.run("wait", *refs, env={"XAI_API_KEY": sim.api_key})
    assert waited.exit_code == 0, waited.stderr
    assert [row["status"] for row in read_jobs(imagine_home)] == ["complete"] * 2


def test_the_path_of_a_render_or_its_sidecar_names_its_job(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    made = cli.gen(sim, "a green field", "-d", "1")
    assert made.exit_code == 0, made.stderr
    video = made.stdout.strip()  # as printed: relative to the current folder
    sidecar = str((project / video).with_suffix(".json"))  # absolute
    for ref in (video, sidecar, "./" + video):
        shown = cli.run("show", ref, "--json")
        assert shown.exit_code == 0, (ref, shown.stderr)
        assert json.loads(shown.stdout)["prompt"]["raw"] == "a green field"
    missing = cli.run("show", "renders/nothing-here.mp4")
    assert missing.exit_code == 2
    assert "no job made 'renders/nothing-here.mp4'" in missing.stderr


# -- the ledger's own resolve ----------------------------------------------------------------------


def _values(job_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "id": job_id,
        "status": Status.COMPLETE,
        "mode": "text",
        "model": "grok-imagine-video",
        "route": "/v1/videos/generations",
        "prompt": "a fox in the snow",
        "fingerprint": "f" * 64,
        "base_url": "https://api.x.ai",
        "project_dir": "/p",
        "output_path": f"/p/renders/{job_id}.mp4",
        **overrides,
    }


@pytest.fixture
def ledger(each_ledger: str) -> Iterator[Ledger]:
    """The test runs on a SQLite ledger, then on a PostgreSQL one."""
    with Ledger.open() as opened:
        yield opened


def test_every_form_of_reference_resolves(ledger: Ledger) -> None:
    fox = ledger.insert(_values("01kc0aaaaaaaaaaaaaaa21rjnr1k", request_id="8f1c-req"))
    owl = ledger.insert(_values("01kc1bbbbbbbbbbbbbbbj41xx57r", prompt="an owl"))
    assert ledger.resolve(fox.id).id == fox.id
    assert ledger.resolve(fox.id.upper()).id == fox.id
    assert ledger.resolve(ids.short(fox.id)).id == fox.id
    assert ledger.resolve("21rjnr").id == fox.id  # a prefix of the short id
    assert ledger.resolve("01kc1").id == owl.id  # a prefix of the id
    assert ledger.resolve("8f1c-req").id == fox.id
    assert ledger.resolve("#2").id == owl.id
    assert ledger.resolve(f"/p/renders/{owl.id}.json").id == owl.id
    assert ledger.resolve(f"/p/renders/{owl.id}.jpg").id == owl.id
    assert ledger.resolve(f"/p/renders/{owl.id}.mp4.part").id == owl.id  # a download under way


def test_an_ambiguous_reference_names_the_candidates(ledger: Ledger) -> None:
    ledger.insert(_values("01kc0aaaaaaaaaaaaaaa21rjnr1k", prompt="a fox"))
    ledger.insert(_values("01kc1bbbbbbbbbbbbbbb21rjxx57", prompt="an owl"))
    with pytest.raises(JobNotFound) as caught:
        ledger.resolve("21rj")
    message = str(caught.value)
    assert "matches several jobs" in message
    assert "#1 21rjnr1k (a fox)" in message and "#2 21rjxx57 (an owl)" in message


def test_a_path_shared_by_a_failed_job_and_its_retry_names_the_retry(ledger: Ledger) -> None:
    shared = "/p/renders/fox.mp4"
    failed = ledger.insert(_values(ids.new_id(), status=Status.QUEUED, output_path=shared))
    for event, status in (
        (EventKind.SUBMITTING, Status.SUBMITTING),
        (EventKind.SUBMITTED, Status.RUNNING),
        (EventKind.FAILED, Status.FAILED),
    ):
        failed = ledger.move(failed, event, status=status)
        assert failed is not None
    retry = ledger.insert(_values(ids.new_id(), status=Status.COMPLETE, output_path=shared))
    canceled = ledger.insert(_values(ids.new_id(), status=Status.QUEUED, output_path=shared))
    ledger.move(canceled, EventKind.CANCELED, status=Status.CANCELED)
    assert ledger.resolve(shared).id == retry.id


@pytest.mark.parametrize(
    "ref", ["01kc0aaaaaaaaaaaaaaa21rjnr1k", "01kc", "21rjnr1k", "21rj", "8f1c-req", "/p/x.mp4"]
)
def test_every_form_of_reference_is_answered_by_an_index(tmp_path: Path, ref: str) -> None:
    ledger = Ledger.open(tmp_path / "ledger.sqlite3")  # SQLite's query plans
    ledger.insert(_values("01kc0aaaaaaaaaaaaaaa21rjnr1k", request_id="8f1c-req"))
    statements: list[str] = []
    ledger.conn.set_trace_callback(statements.append)
    with contextlib.suppress(JobNotFound):
        ledger.resolve(ref)
    ledger.conn.set_trace_callback(None)
    assert statements
    for sql in statements:
        plan = [row[3] for row in ledger.conn.execute("EXPLAIN QUERY PLAN " + sql)]
        assert not any(step.startswith("SCAN jobs") for step in plan), (sql, plan)


def test_a_reference_with_a_nul_character_is_not_found_not_a_crash(cli: Cli) -> None:
    # Found by hypothesis (tests/test_hostile_input.py): `imagine show -- /\x00` was exit 70.
    for command in ("show", "rm", "cancel"):
        result = cli.run(command, "--", "/renders/a\x00b.mp4")
        assert result.exit_code == 2, (command, result.output)
        assert "NUL" in result.stderr
