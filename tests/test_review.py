"""The review step without a browser: approve/reject/list/open/gallery from the command line,
and the review server's rules (token, files, ranges, actions) over plain HTTP."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from imagine.ledger.store import Ledger
from imagine.review import decide
from imagine.review.server import ReviewServer, byte_range
from imagine.review.takes import ReviewState, select
from tests import plain
from tests.helpers import Cli, read_jobs
from tests.review_helpers import HOSTILE_PROMPT, Started, make_renders, serve, stop


@pytest.fixture
def renders(cli: Cli, project: Path) -> Path:
    make_renders(cli, project)
    return project


@pytest.fixture
def started() -> Started:
    return Started()


@pytest.fixture
def server(renders: Path, imagine_home: Path, started: Started) -> Iterator[ReviewServer]:
    running = serve(imagine_home / "ledger.sqlite3", renders, started)
    yield running
    stop(running)


def _audit(home: Path) -> list[sqlite3.Row]:
    conn = sqlite3.connect(home / "ledger.sqlite3")
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute("SELECT * FROM audit_log ORDER BY id"))
    finally:
        conn.close()


# -- command line -----------------------------------------------------------------------------


def test_approve_and_reject_write_the_ledger_and_the_audit_log(
    cli: Cli, renders: Path, imagine_home: Path
) -> None:
    assert cli.run("approve", "@1", "@3").exit_code == 0
    result = cli.run("reject", "@2")
    assert result.exit_code == 0
    assert "#2" in result.stderr and "rejected" in result.stderr
    states = {
        row["seq"]: (row["review_state"], row["reviewed_at"]) for row in read_jobs(imagine_home)
    }
    assert states[1][0] == "approved" and states[3][0] == "approved"
    assert states[2][0] == "rejected"
    assert all(at for _, at in states.values())
    entries = _audit(imagine_home)
    assert [entry["action"] for entry in entries] == ["approve", "approve", "reject"]
    assert all(entry["prompt"] is None and entry["input_sha256"] for entry in entries)
    assert all("(cli)" in entry["actor"] for entry in entries)


def test_list_review_filters_and_json_carries_the_state(cli: Cli, renders: Path) -> None:
    cli.run("approve", "@2")
    cli.run("reject", "@3")
    approved = cli.run("list", "--review", "approved")
    assert [line.split("\t")[0] for line in approved.stdout.splitlines()] == ["2"]
    pending = cli.run("list", "--review", "pending")
    assert [line.split("\t")[0] for line in pending.stdout.splitlines()] == ["1"]
    rows = [json.loads(line) for line in cli.run("list", "--json").stdout.splitlines()]
    assert {row["number"]: row["review_state"] for row in rows} == {
        1: "pending",
        2: "approved",
        3: "rejected",
    }
    assert re.search(r"review  approved 20\d\d-", cli.run("show", "@2").stdout)
    shown = json.loads(cli.run("show", "@2", "--json").stdout)
    assert shown["review_state"] == "approved" and shown["reviewed_at"]
    side = renders / shown["file"]["sidecar"]
    assert json.loads(side.read_text()) == shown  # the sidecar tells the verdict too


def test_list_review_refuses_an_unknown_state(cli: Cli, project: Path) -> None:
    result = cli.run("list", "--review", "maybe")
    assert result.exit_code == 2
    assert "approved, rejected, pending" in result.stderr


def test_only_complete_renders_can_be_approved_and_nothing_changes_on_a_bad_one(
    cli: Cli, renders: Path, imagine_home: Path
) -> None:
    with Ledger.open() as ledger:
        ledger.conn.execute("UPDATE jobs SET status = 'failed' WHERE seq = 3")
        ledger.conn.commit()
    result = cli.run("approve", "@1", "@3")
    assert result.exit_code == 2
    assert "#3 is failed" in result.stderr
    assert all(row["review_state"] is None for row in read_jobs(imagine_home))
    assert cli.run("approve", "nosuchjob").exit_code == 2
    assert _audit(imagine_home) == []


def test_reset_takes_a_verdict_back_to_pending(renders: Path, imagine_home: Path) -> None:
    with Ledger.open() as ledger:
        job = ledger.resolve("@1")
        decide.review(ledger, job, decide.Verdict.APPROVE, by="me")
        done = decide.review(ledger, job, decide.Verdict.RESET, by="me")
    assert done.job.review_state is None and done.job.reviewed_at is None
    assert done.was is ReviewState.APPROVED and done.changed
    assert [entry["action"] for entry in _audit(imagine_home)] == ["approve", "reset"]


def test_takes_are_grouped_by_request_and_numbered(renders: Path) -> None:
    with Ledger.open() as ledger:
        requests = select(ledger, renders.resolve())
        assert [request.prompt for request in requests] == ["a lighthouse at dusk", HOSTILE_PROMPT]
        assert [(t.job.seq, t.number, t.takes) for t in requests[1].takes] == [(1, 1, 2), (2, 2, 2)]
        ledger.conn.execute("UPDATE jobs SET reported_at = '2026-01-01T00:00:00Z' WHERE seq = 3")
        ledger.conn.commit()
        assert [request.prompt for request in select(ledger, renders.resolve())] == [HOSTILE_PROMPT]
        assert select(ledger, renders.resolve(), since="2999-01-01") == []
        assert select(ledger, renders.resolve() / "elsewhere") == []


def test_open_print_prints_the_path_and_open_hands_it_to_the_player(
    cli: Cli, renders: Path, tmp_path: Path
) -> None:
    result = cli.run("open", "@3", "--print")
    assert result.exit_code == 0
    video = Path(result.stdout.strip())
    assert video.is_file() and video.suffix == ".mp4"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "opened"
    opener = bin_dir / ("open" if sys.platform == "darwin" else "xdg-open")
    opener.write_text(f'#!/bin/sh\nprintf %s "$1" > {record}\n')
    opener.chmod(0o755)
    result = cli.run("open", "@3", env={"PATH": str(bin_dir)})
    assert result.exit_code == 0
    deadline = time.monotonic() + 20  # the player runs detached: wait for it to have run
    while time.monotonic() < deadline and not (record.exists() and record.read_text()):
        time.sleep(0.01)
    assert record.read_text() == str(video)


def test_open_refuses_without_a_player_or_a_render(
    cli: Cli, renders: Path, tmp_path: Path, imagine_home: Path
) -> None:
    result = cli.run("open", "@1", env={"PATH": str(tmp_path / "nothing")})
    assert result.exit_code == 2
    assert "--print" in result.stderr
    with Ledger.open() as ledger:
        ledger.conn.execute("UPDATE jobs SET status = 'failed' WHERE seq = 2")
        ledger.conn.commit()
    result = cli.run("open", "@2", "--print")
    assert result.exit_code == 2 and "#2 is failed" in result.stderr
    Path(cli.run("open", "@3", "--print").stdout.strip()).unlink()
    result = cli.run("open", "@3", "--print")
    assert result.exit_code == 2 and "gone" in result.stderr


def test_gallery_is_one_self_contained_file(cli: Cli, renders: Path) -> None:
    cli.run("approve", "@1")
    result = cli.run("gallery", "-o", "site/gallery.html")
    assert result.exit_code == 0, result.stderr
    page = (renders / "site" / "gallery.html").read_text()
    assert page.count("data:image/jpeg;base64,") == 3  # every poster inside the file
    links = re.findall(r'<video [^>]*src="([^"]+)"', page)
    assert len(links) == 3
    for link in links:  # videos by their path relative to the page
        assert link.startswith("../renders/")
        assert (renders / "site" / link).resolve().is_file()
    assert "<img src=x" not in page and "&lt;img src=x onerror=" in page  # the prompt, escaped
    assert "</script>" not in page.split("<script>")[0]
    assert "<button" not in page and "action/" not in page
    assert "take 1 of 2" in page and "take 2 of 2" in page and "take 1 of 1" in page
    assert 'data-state="approved"' in page


def test_gallery_refuses_a_folder(cli: Cli, renders: Path) -> None:
    (renders / "out").mkdir()
    result = cli.run("gallery", "-o", "out")
    assert result.exit_code == 2 and "is a folder" in result.stderr


# -- the server over HTTP ---------------------------------------------------------------------


def _job(seq: int) -> Any:
    with Ledger.open() as ledger:
        return ledger.resolve(f"@{seq}")


def test_every_request_without_the_token_is_refused(server: ReviewServer) -> None:
    origin = server.origin
    assert plain.get(server.url).status_code == 200
    for path in ("/", "/video/x", f"/{server.token[:-1]}/", f"/{server.token}x/", "/favicon.ico"):
        assert plain.get(origin + path).status_code == 403, path
    assert plain.post(f"{origin}/nope/action/x/approve").status_code == 403
    spoofed = plain.get(server.url, headers={"Host": "evil.example:80"})
    assert spoofed.status_code == 403  # DNS rebinding


def test_no_file_but_a_shown_render_is_served(server: ReviewServer, renders: Path) -> None:
    base = server.url
    outside = renders.parent / "secret.txt"
    outside.write_text("secret")
    for path in (
        "video/../../secret.txt",
        "../secret.txt",
        "video/%2e%2e%2fsecret.txt",
        "video/..%2F..%2Fsecret.txt",
        "poster/" + "a" * 65,
        "video/nosuchjob",
        "renders/",
        "file/etc/passwd",
    ):
        answer = plain.get(base + path)
        assert answer.status_code in (403, 404), path
        assert b"secret" not in answer.content
    with Ledger.open() as ledger:  # a job pointed elsewhere by a tampered ledger
        ledger.conn.execute("UPDATE jobs SET output_path = ? WHERE seq = 1", (str(outside),))
        ledger.conn.commit()
    assert plain.get(base + "video/" + _job(1).id).status_code == 404
    link = renders / "renders" / "link.mp4"
    link.symlink_to(outside)
    with Ledger.open() as ledger:
        ledger.conn.execute("UPDATE jobs SET output_path = ? WHERE seq = 1", (str(link),))
        ledger.conn.commit()
    assert plain.get(base + "video/" + _job(1).id).status_code == 404


def test_videos_are_served_in_ranges(server: ReviewServer) -> None:
    job = _job(2)
    data = Path(job.output_path).read_bytes()
    url = server.url + "video/" + job.id
    whole = plain.get(url)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["accept-ranges"] == "bytes"
    part = plain.get(url, headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206
    assert part.content == data[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(data)}"
    tail = plain.get(url, headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == data[-50:]
    rest = plain.get(url, headers={"Range": f"bytes={len(data) - 10}-"})
    assert rest.content == data[-10:]
    beyond = plain.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(data)}"
    poster = plain.get(server.url + "poster/" + job.id)
    assert poster.status_code == 200 and poster.content.startswith(b"\xff\xd8")


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-0", 10, (0, 0)),
        ("bytes=2-", 10, (2, 9)),
        ("bytes=5-100", 10, (5, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=-30", 10, (0, 9)),
        ("bytes=5-2", 10, None),  # unreadable: the whole file
        ("bytes=0-1,4-5", 10, None),  # several ranges: the whole file
        ("items=0-1", 10, None),
    ],
)
def test_byte_range(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert byte_range(header, size) == expected


def test_the_page_shows_takes_escaped(server: ReviewServer) -> None:
    answer = plain.get(server.url)
    page = answer.text
    assert "<img src=x" not in page and "&lt;img src=x onerror=&quot;" in page
    assert page.count('class="take"') == 3
    assert "take 2 of 2" in page
    assert "nonce-" in answer.headers["content-security-policy"]
    assert answer.headers["referrer-policy"] == "no-referrer"


def _post(server: ReviewServer, seq: int, verb: str, **headers: str) -> httpx.Response:
    job = _job(seq)
    return plain.post(
        f"{server.url}action/{job.id}/{verb}", headers={"X-Imagine-Review": "1", **headers}
    )


def test_actions_write_the_ledger(server: ReviewServer, imagine_home: Path) -> None:
    answer = _post(server, 1, "approve")
    assert answer.status_code == 200 and answer.json()["state"] == "approved"
    assert _job(1).review_state == "approved"
    assert _post(server, 2, "reject").json()["state"] == "rejected"
    assert _post(server, 1, "reset").json()["state"] == "pending"
    assert _job(1).review_state is None and _job(2).review_state == "rejected"
    actors = {entry["actor"] for entry in _audit(imagine_home)}
    assert actors == {"tester (review page)"}


def test_a_cross_site_post_is_refused(server: ReviewServer) -> None:
    job = _job(1)
    url = f"{server.url}action/{job.id}/approve"
    assert plain.post(url).status_code == 403  # no custom header: a plain form post
    assert _post(server, 1, "approve", Origin="http://evil.example").status_code == 403
    assert _post(server, 1, "approve", **{"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert (
        plain.post(url, headers={"X-Imagine-Review": "1"}, content=b"x" * 5000).status_code == 413
    )
    assert _job(1).review_state is None


def test_promote_without_the_command_answers_501(server: ReviewServer, started: Started) -> None:
    answer = _post(server, 1, "promote")
    assert answer.status_code == 501
    assert answer.json()["message"] == "not here"
    assert started.promotions == []


def test_the_page_knows_whether_this_build_can_promote() -> None:
    from imagine.cli.commands import COMMANDS
    from imagine.cli.review import _promote_missing

    if "promote" in COMMANDS:
        assert _promote_missing() is None
    else:
        assert "promote is not in this build" in (_promote_missing() or "")


def test_promote_refuses_a_take_that_is_not_a_preview(
    renders: Path, imagine_home: Path, started: Started
) -> None:
    running = serve(imagine_home / "ledger.sqlite3", renders, started, promote_missing=None)
    try:
        assert _post(running, 1, "promote").status_code == 409
        with Ledger.open() as ledger:
            ledger.conn.execute("UPDATE jobs SET preview = 1 WHERE seq = 1")
            ledger.conn.commit()
        assert _post(running, 1, "promote").status_code == 200
        assert started.promotions == [_job(1).id]
    finally:
        stop(running)


def test_rerun_queues_a_new_take_of_the_same_request(
    server: ReviewServer, started: Started, imagine_home: Path
) -> None:
    old = _job(2)
    answer = _post(server, 2, "rerun")
    assert answer.status_code == 200
    new = _job(4)
    assert started.runs == [new.id]
    assert new.status == "queued" and new.parent_id == old.id
    assert (new.request_json, new.fingerprint, new.prompt) == (
        old.request_json,
        old.fingerprint,
        old.prompt,
    )
    assert new.output_path != old.output_path
    assert _audit(imagine_home)[-1]["action"] == "rerun"


def test_a_reported_render_is_neither_shown_nor_served(server: ReviewServer) -> None:
    job = _job(3)
    with Ledger.open() as ledger:
        ledger.conn.execute("UPDATE jobs SET reported_at = '2026-01-01T00:00:00Z' WHERE seq = 3")
        ledger.conn.commit()
    assert job.id not in plain.get(server.url).text
    assert plain.get(server.url + "video/" + job.id).status_code == 404
    assert _post(server, 3, "approve").status_code == 404


# -- the command ------------------------------------------------------------------------------


@pytest.mark.slow
def test_review_prints_its_url_serves_and_stops_on_ctrl_c(
    renders: Path, imagine_home: Path
) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "imagine", "review", "--no-open"],
        cwd=renders,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "IMAGINE_HOME": str(imagine_home)},
    ) as process:
        try:
            assert process.stdout is not None and process.stderr is not None
            url = process.stdout.readline().strip()
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+/[\w-]{20,}/", url), url
            assert "take 2 of 2" in plain.get(url).text
            assert "reviewing 3 take(s)" in process.stderr.readline()
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=30) == 130
            assert "interrupted" in process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()


@pytest.mark.slow
def test_a_rerun_from_the_page_renders_a_new_take(renders: Path, imagine_home: Path) -> None:
    """The real launcher: `imagine wait` in the background finishes the new take."""
    from imagine.cli.review import review as _  # noqa: F401  (the command module imports)
    from imagine.review import launch

    with Ledger.open() as ledger:
        new = decide.rerun(ledger, ledger.resolve("@3"), by="me")
    launch.wait_for(new.id, renders)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _job(4).status != "complete":
        time.sleep(0.1)
    done = _job(4)
    assert done.status == "complete", done.error_message
    assert Path(done.output_path).is_file()
    with Ledger.open() as ledger:
        takes = select(ledger, renders.resolve())[0].takes
    assert [(take.job.seq, take.number, take.takes) for take in takes] == [(3, 1, 2), (4, 2, 2)]


def test_review_refuses_a_bad_time_or_a_busy_port(cli: Cli, renders: Path) -> None:
    import socket

    result = cli.run("review", "--no-open", "--since", "last week")
    assert result.exit_code == 2 and "--since 'last week' is not a time" in result.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli.run("review", "--no-open", "--port", str(port))
    assert result.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert result.stdout == ""
