"""What one poll answer does to a running job (``Poller.apply``), from a table: each row builds an
answer, applies it to a job in a real temporary ledger through a fake of the stage interface,
and checks the job's state, the event recorded, what the user was told and the fields written.
No simulator, no network, no sleeping: the whole table runs in milliseconds."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from imagine import clock, ids
from imagine.api.client import XAIClient
from imagine.api.types import DONE, EXPIRED, FAILED, PENDING, Poll, parse_poll
from imagine.engine import schedule
from imagine.engine.events import UpdateKind
from imagine.engine.polling import Poller
from imagine.ledger.store import Ledger
from imagine.lifecycle import BlockReason, BlockSource, EventKind, Job, Status
from tests.helpers import job_values

NOW = 1_800_000_000.0  # the fake clock: every case is applied at this instant
SUBMITTED = NOW - 30.0  # the job was sent 30 s before the answer
URL = "https://vidgen.x.ai/xai-video-1.mp4"
PRIOR_RESPONSE = '{"status": "pending", "progress": 10}'


class FakeRun:
    """The stage interface (``stage.Run``) over a real ledger: moves are written, updates kept."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.told: list[tuple[UpdateKind, str | None]] = []

    def move(self, job: Job, event: EventKind, **values: Any) -> Job | None:
        return self.ledger.move(job, event, **values)

    def emit(self, job: Job, kind: UpdateKind, **kw: Any) -> None:
        self.told.append((kind, kw.get("message")))

    def note_once(self, text: str) -> None:
        self.told.append((UpdateKind.NOTE, text))

    def client(self, job: Job) -> XAIClient:
        raise AssertionError("apply never talks to the API")

    async def sleep(self, seconds: float) -> None:
        raise AssertionError("apply never sleeps")

    def left(self) -> float | None:
        return None


@dataclass(frozen=True)
class Case:
    name: str
    answer: Poll
    status: Status
    event: EventKind | None  # the event recorded in the job's history; None: none (an update)
    told: tuple[UpdateKind, ...]
    fields: dict[str, Any] = field(default_factory=dict)


def _answer(body: dict[str, Any], http_status: int = 200) -> Poll:
    """An answer as the client parses it from the wire."""
    return parse_poll(http_status, body)


def _done(**video: Any) -> dict[str, Any]:
    return {
        "status": "done",
        "progress": 100,
        "model": "grok-imagine-video",
        "video": {"url": URL, "duration": 6, "respect_moderation": True, **video},
        "usage": {"cost_in_usd_ticks": 3_000_000_000},
    }


def _failed(code: str, message: str) -> Poll:
    return _answer({"status": "failed", "error": {"code": code, "message": message}})


def _at(seconds: float) -> str:
    return clock.iso(NOW + seconds)


# The default poll policy (schedule.PollPolicy()), 30 s after sending, third poll, no history:
# with 40% reported, the finish is predicted 45 s away, and below 50% the poll closes in at 0.6
# of that (27 s); without progress the wait backs off from 1 s by 1.5 per poll (1 * 1.5**2).
CLOSE_IN = 27.0
BACK_OFF = 2.25
PENDING_STAYS = {"progress": 10, "response_json": PRIOR_RESPONSE, "next_poll_at": _at(BACK_OFF)}

DOCUMENTED_FAILURES = (
    "invalid_argument",
    "permission_denied",
    "failed_precondition",
    "service_unavailable",
    "internal_error",
)

CASES = [
    Case(
        "pending with progress",
        _answer({"status": "pending", "progress": 40}, 202),
        Status.RUNNING,
        None,
        (UpdateKind.PROGRESS,),
        {
            "progress": 40,
            "poll_count": 3,
            "last_pending_at": _at(0),
            "next_poll_at": _at(CLOSE_IN),
            "response_json": json.dumps({"status": "pending", "progress": 40}),
        },
    ),
    Case(
        "pending, empty 202",
        _answer({}, 202),
        Status.RUNNING,
        None,
        (UpdateKind.PROGRESS,),
        {**PENDING_STAYS, "poll_count": 3, "last_pending_at": _at(0)},
    ),
    Case(
        "pending with Retry-After",
        Poll(202, PENDING, retry_after=7.0),
        Status.RUNNING,
        None,
        (UpdateKind.PROGRESS,),
        {"next_poll_at": _at(7.0), "progress": 10},
    ),
    Case(
        "done with URL",
        _answer(_done()),
        Status.DOWNLOADING,
        EventKind.RENDERED,
        (UpdateKind.RENDERED,),
        {
            "video_url": URL,
            "moderation": "passed",
            "progress": 100,
            "cost_ticks": 3_000_000_000,
            "video_duration": 6.0,
            "completed_at": _at(0),
            "poll_count": 3,
            "error_code": None,
        },
    ),
    Case(
        "done, kept in the Files API",
        _answer(_done(url=None, file_output={"file_id": "file-1", "public_url": URL + "?public"})),
        Status.DOWNLOADING,
        EventKind.RENDERED,
        (UpdateKind.RENDERED,),
        {
            "video_url": URL + "?public",
            "file_output_json": json.dumps({"file_id": "file-1", "public_url": URL + "?public"}),
        },
    ),
    Case(
        "done without URL",
        _answer(_done(url=None)),
        Status.BLOCKED,
        EventKind.BLOCKED,
        (UpdateKind.BLOCKED,),
        {
            "error_code": "moderation",
            "moderation": "blocked",
            "block_source": BlockSource.PROVIDER,
            "block_reason": BlockReason.MODERATION,
            "video_url": None,
            "cost_ticks": 3_000_000_000,  # (a withheld video is still billed)
        },
    ),
    Case(
        "moderated (respect_moderation false)",
        _answer(_done(url=None, respect_moderation=False)),
        Status.BLOCKED,
        EventKind.BLOCKED,
        (UpdateKind.BLOCKED,),
        {
            "error_message": "the provider's moderation withheld this video",
            "block_source": BlockSource.PROVIDER,
            "block_reason": BlockReason.MODERATION,
        },
    ),
    *(
        Case(
            f"failed: {code}",
            _failed(code, "Video generation failed."),
            Status.FAILED,
            EventKind.FAILED,
            (UpdateKind.FAILED,),
            {
                "error_code": code,
                "error_message": "Video generation failed.",
                "completed_at": _at(0),
                "moderation": None,
                "block_source": None,
            },
        )
        for code in DOCUMENTED_FAILURES
    ),
    Case(
        "failed: rejected by moderation",
        _failed("invalid_argument", "Generated video rejected by content moderation."),
        Status.BLOCKED,
        EventKind.BLOCKED,
        (UpdateKind.BLOCKED,),
        {
            "error_code": "invalid_argument",
            "moderation": "blocked",
            "block_source": BlockSource.PROVIDER,
            "block_reason": BlockReason.MODERATION,
        },
    ),
    Case(
        "failed without an error",
        _answer({"status": "failed"}),
        Status.FAILED,
        EventKind.FAILED,
        (UpdateKind.FAILED,),
        {"error_code": "failed", "error_message": "the provider reported the render failed"},
    ),
    Case(
        "expired",
        _answer({"status": "expired", "model": "grok-imagine-video"}),
        Status.EXPIRED,
        EventKind.EXPIRED,
        (UpdateKind.EXPIRED,),
        {"error_code": "expired", "error_message": "the provider no longer holds this result"},
    ),
    # -- hostile answers ----------------------------------------------------------------------
    Case(
        "unknown status: warned once, still polled",
        _answer({"status": "Rendering", "progress": 40}),
        Status.RUNNING,
        None,
        (UpdateKind.WARNING, UpdateKind.PROGRESS),
        {"progress": 40, "next_poll_at": _at(CLOSE_IN), "poll_count": 3},
    ),
    Case(
        "negative progress is no progress",
        _answer({"status": "pending", "progress": -5}),
        Status.RUNNING,
        None,
        (UpdateKind.PROGRESS,),
        {"progress": 10, "next_poll_at": _at(BACK_OFF)},
    ),
    Case(
        "progress over 100 is no progress",
        _answer({"status": "pending", "progress": 250}),
        Status.RUNNING,
        None,
        (UpdateKind.PROGRESS,),
        {"progress": 10, "next_poll_at": _at(BACK_OFF)},
    ),
    Case(
        "huge progress is no progress",
        _answer({"status": "pending", "progress": 10**30}),
        Status.RUNNING,
        None,
        (UpdateKind.PROGRESS,),
        {"progress": 10, "next_poll_at": _at(BACK_OFF)},
    ),
    Case(
        "huge Retry-After waits at most five minutes",
        Poll(202, PENDING, retry_after=1e12),
        Status.RUNNING,
        None,
        (UpdateKind.PROGRESS,),
        {"next_poll_at": _at(300.0)},
    ),
    Case(
        "endless Retry-After waits at most five minutes",
        Poll(202, PENDING, retry_after=float("inf")),
        Status.RUNNING,
        None,
        (UpdateKind.PROGRESS,),
        {"next_poll_at": _at(300.0)},
    ),
    Case(
        "huge cost is no cost",
        _answer({**_done(), "usage": {"cost_in_usd_ticks": 10**30}}),
        Status.DOWNLOADING,
        EventKind.RENDERED,
        (UpdateKind.RENDERED,),
        {"cost_ticks": None, "video_url": URL},
    ),
    Case(
        "negative cost is no cost",
        _answer({**_done(), "usage": {"cost_in_usd_ticks": -3_000_000_000}}),
        Status.DOWNLOADING,
        EventKind.RENDERED,
        (UpdateKind.RENDERED,),
        {"cost_ticks": None},
    ),
    Case(
        "impossible duration is no duration",
        _answer(_done(duration=1e300)),
        Status.DOWNLOADING,
        EventKind.RENDERED,
        (UpdateKind.RENDERED,),
        {"video_duration": None, "cost_ticks": 3_000_000_000},
    ),
    Case(
        "an error code with terminal escapes, a megabyte long",
        _failed("\x1b]0;owned\x07" * 100_000, "x" * 1_000_000),
        Status.FAILED,
        EventKind.FAILED,
        (UpdateKind.FAILED,),
        {"error_code": "\\x1b]0;owned\\x07" * 4 + "…", "error_message": "x" * 300 + "…"},
    ),
]


@pytest.fixture(scope="module")
def _shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    """One ledger for the table (each case has a job of its own): made once, not per row."""
    with Ledger.open(tmp_path_factory.mktemp("poll-apply") / "ledger.sqlite3") as opened:
        yield opened


@pytest.fixture
def ledger(_shared: Ledger, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    monkeypatch.setattr(clock, "now", lambda: NOW)
    return _shared


def _running(ledger: Ledger, resolution: str) -> Job:
    """A job sent 30 s ago and polled twice, last at 10%. Each test gives it a resolution of its
    own: a shape no other job of the shared ledger has rendered, so none informs its schedule."""
    job_id = ids.new_id()
    output = f"/tmp/p/renders/{job_id}.mp4"
    job = ledger.insert(
        job_values(id=job_id, output_path=output, duration=6, resolution=resolution)
    )
    ledger.update(job.id, EventKind.SUBMITTING, status=Status.SUBMITTING)
    return ledger.update(
        job.id,
        EventKind.SUBMITTED,
        status=Status.RUNNING,
        request_id=str(uuid.uuid4()),
        submitted_at=clock.iso(SUBMITTED),
        next_poll_at=clock.iso(NOW),
        poll_count=2,
        progress=10,
        response_json=PRIOR_RESPONSE,
    )


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_poll_answer_moves_the_job(case: Case, ledger: Ledger) -> None:
    run = FakeRun(ledger)
    poller = Poller(run, schedule.RenderTimes(ledger), schedule.PollPolicy())
    job = _running(ledger, case.name)

    moved = poller.apply(job, case.answer)

    stored = ledger.require(job.id)
    assert moved == stored  # what apply hands on is what the ledger holds
    assert stored.status is case.status
    assert tuple(kind for kind, _ in run.told) == case.told
    for name, value in case.fields.items():
        assert getattr(stored, name) == value, name
    last = ledger.events(job.id)[-1]
    assert last.event == (case.event or EventKind.SUBMITTED)
    if case.event is not None:
        assert (last.from_status, last.to_status) == ("running", case.status)
    final = {UpdateKind.FAILED, UpdateKind.BLOCKED, UpdateKind.EXPIRED}
    if case.told[-1] in final:  # a settled job says why, in the words it recorded
        assert run.told[-1][1] == stored.error_message


def test_the_table_covers_every_documented_poll_status() -> None:
    assert {case.answer.status for case in CASES} >= {PENDING, DONE, FAILED, EXPIRED}


def test_a_job_moved_by_someone_else_is_left_alone(ledger: Ledger) -> None:
    """A cancel from another terminal between the poll and its answer wins: nothing is
    written, nothing told."""
    run = FakeRun(ledger)
    poller = Poller(run, schedule.RenderTimes(ledger), schedule.PollPolicy())
    job = _running(ledger, "canceled")
    ledger.update(job.id, EventKind.CANCELED, status=Status.CANCELED)

    assert poller.apply(job, _answer(_done())) is None
    assert ledger.require(job.id).status is Status.CANCELED
    assert ledger.require(job.id).video_url is None
    assert run.told == []


def test_a_finished_render_teaches_the_expected_render_time(ledger: Ledger) -> None:
    """The render time of a job done joins its shape's history: the next job of that shape is
    first polled near it."""
    times = schedule.RenderTimes(ledger)
    poller = Poller(FakeRun(ledger), times, schedule.PollPolicy())
    job = _running(ledger, "learns")
    assert times.expected(job) is None

    poller.apply(job, _answer(_done()))

    assert times.expected(job) == pytest.approx(30.0)


def test_an_unknown_status_is_warned_about_once_per_job(ledger: Ledger) -> None:
    run = FakeRun(ledger)
    poller = Poller(run, schedule.RenderTimes(ledger), schedule.PollPolicy())
    job = _running(ledger, "warned")
    for _ in range(3):
        job = poller.apply(job, _answer({"status": "Rendering"})) or job
    assert [kind for kind, _ in run.told].count(UpdateKind.WARNING) == 1
    assert job.poll_count == 5
