"""A hostile server: bounded time, bounded bytes, validated ids and URLs, printable text.

Each test points the real CLI (or the engine) at ``tests.hostile.Hostile`` on loopback, with one
route misbehaving, and checks what a user would see: the exit code, the one line that says why,
and the ledger and files left behind.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagine.api.client import RetryPolicy, XAIClient
from imagine.api.http_errors import AnswerLost, MalformedRequestId, NotTheAPI
from imagine.engine.download import DownloadError, Limits, fetch
from imagine.printable import printable
from tests import hostile
from tests.helpers import Cli, read_jobs

RID = "3f1c2a9e-8b7d-4c6e-9a5f-0123456789ab"


@pytest.fixture
def home(imagine_home: Path) -> Path:
    return imagine_home


@pytest.fixture
def server() -> Iterator[hostile.Hostile]:
    started = hostile.Hostile().start()
    yield started
    started.stop()


def gen(cli: Cli, server: hostile.Hostile, *args: str) -> Any:
    return cli.run(
        "gen", "a fox", "-d", "1", "--base-url", server.url, *args, env={"XAI_API_KEY": hostile.KEY}
    )


def timed_gen(cli: Cli, server: hostile.Hostile, *args: str) -> tuple[Any, float]:
    started = time.monotonic()
    result = gen(cli, server, *args)
    return result, time.monotonic() - started


# -- 7. request ids ---------------------------------------------------------------------------


@pytest.mark.parametrize("odd", ["../../x", "abc", RID + "/../../v1/api-key", ""])
def test_a_request_id_that_is_not_one_is_never_stored_nor_polled(
    cli: Cli, server: hostile.Hostile, project: Path, home: Path, odd: str
) -> None:
    server.submit = hostile.answer_json(200, lambda: {"request_id": odd})
    result = gen(cli, server, "--timeout", "5")
    assert result.exit_code == 4, result.stderr
    assert "request id" in result.stderr
    assert server.count("GET") == 0  # nothing was asked with the key
    (job,) = read_jobs(home)
    assert job["status"] == "unknown" and job["request_id"] is None


def test_the_client_refuses_to_put_a_bad_id_in_a_path(server: hostile.Hostile) -> None:
    async def go() -> None:
        async with XAIClient(server.url, hostile.KEY) as client:
            await client.poll("../../v1/api-key")

    with pytest.raises(MalformedRequestId, match="not a request id"):
        asyncio.run(go())
    assert server.seen == []


# -- 8. video URLs ----------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/v.mp4"])
def test_a_video_url_that_is_not_http_fails_the_job_once(
    cli: Cli, server: hostile.Hostile, project: Path, home: Path, url: str
) -> None:
    server.poll = hostile.done_with(lambda: url)
    result, took = timed_gen(cli, server, "--timeout", "20")
    assert result.exit_code == 1, result.stderr
    assert "✗ #1 failed: the API gave a video URL that is not http(s)" in result.stderr
    assert "resuming" not in result.stderr and "retry" not in result.stderr and took < 5
    (job,) = read_jobs(home)
    assert job["status"] == "failed" and job["error_code"] == "bad_video_url"


# -- 1. time ----------------------------------------------------------------------------------

SLOW = 0.4  # seconds between dripped bytes: any answer takes far longer than the test's timeout


POLLING = "the API had not finished answering a poll"
SENDING = "the file host was still sending the video"


@pytest.mark.parametrize(
    ("route", "value", "left_in", "why"),
    [
        (
            "poll",
            lambda s: hostile.drip(json.dumps({"status": "pending"}).encode(), SLOW),
            "running",
            POLLING,
        ),
        ("file", lambda s: hostile.drip(b"\0" * 200, SLOW), "downloading", SENDING),
        ("file", lambda s: hostile.stall_body(), "downloading", SENDING),
    ],
    ids=["dripping-poll", "dripping-download", "body-never-comes"],
)
def test_timeout_bounds_the_command_whatever_the_server_does(
    cli: Cli,
    server: hostile.Hostile,
    project: Path,
    home: Path,
    route: str,
    value: Any,
    left_in: str,
    why: str,
) -> None:
    setattr(server, route, value(server))
    # (The first poll goes out after a second: a download starts after that.)
    result, took = timed_gen(cli, server, "--timeout", "2")
    assert result.exit_code == 6, result.stderr
    assert took < 5
    assert "timed out" in result.stderr and "imagine wait" in result.stderr
    assert f"--timeout ran out while {why}" in result.stderr
    (job,) = read_jobs(home)
    assert job["status"] == left_in  # resumable


def test_an_api_answer_that_drips_is_cut_off_at_the_request_deadline(
    server: hostile.Hostile,
) -> None:
    server.poll = hostile.drip(json.dumps({"status": "pending"}).encode(), SLOW)

    async def go() -> None:
        retry = RetryPolicy(attempts=1)
        async with XAIClient(server.url, hostile.KEY, retry=retry, deadline=0.5) as client:
            await client.poll(RID)

    started = time.monotonic()
    with pytest.raises(AnswerLost, match=r"no complete answer within 0.5 s"):
        asyncio.run(go())
    assert time.monotonic() - started < 3  # not the 8 s the drip would take


@pytest.mark.parametrize("route", [hostile.drip(b"\0" * 200, SLOW), hostile.stall_body()])
def test_a_download_that_stalls_is_cut_off_and_resumable(
    server: hostile.Hostile, tmp_path: Path, route: hostile.Route
) -> None:
    server.file = route
    limits = Limits(stall_bytes=64, stall_seconds=0.5)

    async def go() -> None:
        await fetch(f"{server.url}/files/v.mp4", tmp_path / "v.mp4", limits=limits)

    started = time.monotonic()
    with pytest.raises(DownloadError, match="sent less than") as caught:
        asyncio.run(go())
    assert caught.value.resumable
    assert time.monotonic() - started < 3  # not the 80 s the drip would take


# -- 4. download size -------------------------------------------------------------------------


def test_a_download_announcing_20_gb_fails_the_job_and_writes_nothing(
    cli: Cli, server: hostile.Hostile, project: Path, home: Path
) -> None:
    server.file = hostile.announce(20 * 1024**3, send=1 << 20)
    result = gen(cli, server, "--timeout", "20")
    assert result.exit_code == 1, result.stderr
    assert "larger than max_download_mb = 2048" in result.stderr
    (job,) = read_jobs(home)
    assert job["status"] == "failed" and job["error_code"] == "too_large"
    assert not list(project.rglob("*.part")) and not list(project.rglob("*.mp4"))


def test_the_size_cap_holds_while_streaming_a_file_of_unknown_length(
    cli: Cli, server: hostile.Hostile, project: Path, home: Path
) -> None:
    server.file = hostile.endless()
    assert cli.run("config", "set", "max_download_mb", "1").exit_code == 0
    result = gen(cli, server, "--timeout", "20")
    assert result.exit_code == 1, result.stderr
    assert "larger than max_download_mb = 1" in result.stderr
    assert not list(project.rglob("*.part"))


def test_max_download_mb_is_a_setting(cli: Cli) -> None:
    assert cli.run("config", "get", "max_download_mb").stdout.strip() == "2048"
    assert cli.run("config", "set", "max_download_mb", "100").exit_code == 0
    result = cli.run("config", "set", "max_download_mb", "0")
    assert result.exit_code == 2
    assert "expected a size in MB of 1 or more" in result.stderr


# -- 5. JSON answers --------------------------------------------------------------------------


def test_a_large_answer_is_kept_trimmed_in_the_ledger(
    cli: Cli, server: hostile.Hostile, project: Path, home: Path
) -> None:
    done = {
        "status": "done",
        "video": {"url": f"{server.url}/files/v.mp4", "duration": 1},
        "usage": {"cost_in_usd_ticks": 500_000_000},
        "padding": "x" * 500_000,
    }
    server.poll = hostile.answer_json(200, lambda: done)
    result = gen(cli, server, "--timeout", "20")
    assert result.exit_code == 0, result.stderr
    (job,) = read_jobs(home)
    stored = json.loads(job["response_json"])
    assert len(job["response_json"]) < 20_000
    assert stored["status"] == "done" and stored["usage"] == done["usage"]
    assert stored["_imagine_trimmed"]["dropped"] == ["padding"]
    assert stored["_imagine_trimmed"]["original_bytes"] > 500_000


def test_an_answer_of_megabytes_is_not_read_whole(
    cli: Cli, server: hostile.Hostile, project: Path, home: Path
) -> None:
    server.poll = hostile.answer_json(200, lambda: {"status": "pending", "pad": "x" * 5_000_000})
    result = gen(cli, server, "--timeout", "2")
    assert result.exit_code == 6, result.stderr
    assert "more than 1,048,576 bytes" in result.stderr
    (job,) = read_jobs(home)
    assert len(job["response_json"] or "") < 20_000
    assert (home / "ledger.sqlite3").stat().st_size < 1_000_000


# -- 6. printable server text -----------------------------------------------------------------

NASTY = "boom\x1b]0;pwned\x07\r\nfake: all good\x1b[2J"


def test_server_text_reaches_the_terminal_printable(
    cli: Cli, server: hostile.Hostile, project: Path, home: Path
) -> None:
    failed = {"status": "failed", "error": {"code": "internal_error", "message": NASTY}}
    server.poll = hostile.answer_json(200, lambda: failed)
    result = gen(cli, server, "--timeout", "20")
    assert result.exit_code == 1, result.stderr
    assert "\x1b" not in result.stderr and "\r" not in result.stderr and "\x07" not in result.stderr
    line = next(line for line in result.stderr.splitlines() if "boom" in line)
    assert "fake: all good" in line  # the injected line break stayed on the same line


def test_an_error_answer_is_made_printable(
    cli: Cli, server: hostile.Hostile, project: Path
) -> None:
    server.submit = hostile.answer_json(400, lambda: {"code": "bad", "error": NASTY})
    result = gen(cli, server)
    assert result.exit_code == 2, result.stderr
    assert "\x1b" not in result.stderr and "\r" not in result.stderr
    assert r"boom\x1b]0;pwned\x07" in result.stderr


def test_printable_escapes_controls_and_bounds_length() -> None:
    assert printable("a\x1b[31mb\r\nc\u202ed") == r"a\x1b[31mb\r\nc\u202ed"
    assert printable("x" * 1000, 10) == "x" * 10 + "…"
    assert printable("🧑\u200d🚀 café") == "🧑\u200d🚀 café"
    assert printable("one\ntwo\x07", lines=True) == "one\ntwo\\x07"


# -- 9. not the API ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "said"),
    [
        (hostile.html(200), "200 (text/html; charset=utf-8)"),
        (hostile.redirect("https://login.example.com/sso"), "302 (text/html) to https://login"),
    ],
    ids=["html", "redirect"],
)
def test_a_poll_answered_by_something_else_says_what_answered(
    cli: Cli,
    server: hostile.Hostile,
    project: Path,
    home: Path,
    route: hostile.Route,
    said: str,
) -> None:
    server.poll = route
    result = gen(cli, server, "--timeout", "2")
    assert result.exit_code == 6, result.stderr
    assert said in result.stderr
    assert "\x1b" not in result.stderr
    assert server.count("GET", "/v1/videos/") >= 2  # retried like a 5xx
    (job,) = read_jobs(home)
    assert job["status"] == "running"


def test_a_poll_answered_by_something_else_is_an_error_that_retries(
    server: hostile.Hostile,
) -> None:
    server.poll = hostile.html(200)

    async def go() -> None:
        retry = RetryPolicy(attempts=3, initial=0.01, maximum=0.01)
        async with XAIClient(server.url, hostile.KEY, retry=retry) as client:
            await client.poll(RID)

    with pytest.raises(NotTheAPI, match="Please log in"):
        asyncio.run(go())
    assert server.count("GET") == 3
