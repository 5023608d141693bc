"""The submit stage on its own: a fake of the stage interface, a fake API client and a real
temporary ledger; what each answer to the POST does to a queued job. No simulator, no network."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from imagine import clock
from imagine.api.http_errors import (
    AnswerLost,
    APIError,
    InvalidRequest,
    PermissionDenied,
    RateLimited,
    ServerError,
    Unreachable,
)
from imagine.engine import schedule
from imagine.engine.events import UpdateKind
from imagine.engine.run_options import EngineOptions
from imagine.engine.stage import Deadline
from imagine.engine.submission import NoSlot, Submitter
from imagine.ledger.store import Ledger
from imagine.lifecycle import EventKind, Job, Status
from tests.helpers import job_values

NOW = 1_800_000_000.0
REQUEST_ID = str(uuid.uuid4())


class FakeClient:
    """Answers the POST with ``answer`` (or raises it), after ``meanwhile`` has run."""

    def __init__(self, answer: dict[str, Any] | Exception, meanwhile: Callable[[], None]) -> None:
        self.answer = answer
        self.meanwhile = meanwhile
        self.sent: list[dict[str, Any]] = []

    async def submit(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        self.sent.append(body)
        self.meanwhile()
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class FakeRun:
    """The stage interface (``stage.Run``) over a real ledger."""

    def __init__(self, ledger: Ledger, client: FakeClient, left: float | None = None) -> None:
        self.ledger = ledger
        self.api = client
        self.told: list[UpdateKind] = []
        self._left = left

    def move(self, job: Job, event: EventKind, **values: Any) -> Job | None:
        return self.ledger.move(job, event, **values)

    def emit(self, job: Job, kind: UpdateKind, **kw: Any) -> None:
        self.told.append(kind)

    def note_once(self, text: str) -> None:
        self.told.append(UpdateKind.NOTE)

    def client(self, job: Job) -> Any:
        return self.api

    async def sleep(self, seconds: float) -> None:
        raise AssertionError("nothing here waits")

    def left(self) -> float | None:
        return self._left


@dataclass(frozen=True)
class Case:
    name: str
    answer: dict[str, Any] | Exception
    status: Status
    event: EventKind
    told: tuple[UpdateKind, ...]
    fields: dict[str, Any]


def _rate_limited() -> RateLimited:
    error = RateLimited("too many requests", status=429)
    error.retry_after = 3.0
    return error


CASES = [
    Case(
        "accepted",
        {"request_id": REQUEST_ID},
        Status.RUNNING,
        EventKind.SUBMITTED,
        (UpdateKind.SUBMITTING, UpdateKind.SUBMITTED),
        # No render of this shape yet: the first poll a second after sending (PollPolicy()).
        {
            "request_id": REQUEST_ID,
            "submitted_at": clock.iso(NOW),
            "next_poll_at": clock.iso(NOW + 1),
        },
    ),
    Case(
        "refused as invalid",
        InvalidRequest("duration must be 1-15", status=400, code="invalid-argument"),
        Status.FAILED,
        EventKind.REFUSED,
        (UpdateKind.SUBMITTING, UpdateKind.FAILED),
        {"error_code": "invalid-argument", "error_message": "duration must be 1-15"},
    ),
    Case(
        "refused without a code",
        PermissionDenied("out of credits", status=403),
        Status.FAILED,
        EventKind.REFUSED,
        (UpdateKind.SUBMITTING, UpdateKind.FAILED),
        {"error_code": "PermissionDenied", "request_id": None},
    ),
    Case(
        "never reached the API",
        Unreachable("connection refused"),
        Status.FAILED,
        EventKind.REFUSED,
        (UpdateKind.SUBMITTING, UpdateKind.FAILED),
        {"error_code": "not_submitted"},
    ),
    Case(
        "a server error after sending: it may have landed",
        ServerError("internal error", status=500),
        Status.UNKNOWN,
        EventKind.ANSWER_LOST,
        (UpdateKind.SUBMITTING, UpdateKind.UNKNOWN),
        {"error_code": "answer_lost"},
    ),
    Case(
        "the answer lost on the way back",
        AnswerLost("read timed out"),
        Status.UNKNOWN,
        EventKind.ANSWER_LOST,
        (UpdateKind.SUBMITTING, UpdateKind.UNKNOWN),
        {"error_code": "answer_lost"},
    ),
    Case(
        "rate limited: queued again",
        _rate_limited(),
        Status.QUEUED,
        EventKind.RATE_LIMITED,
        (UpdateKind.SUBMITTING, UpdateKind.RETRY),
        {"request_id": None, "error_code": None},
    ),
]


@pytest.fixture
def ledger(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(clock, "now", lambda: NOW)
    with Ledger.open() as opened:
        yield opened


def _submitter(run: FakeRun, ledger: Ledger, **options: Any) -> Submitter:
    engine_options = EngineOptions(rps=1000, poll=schedule.PollPolicy(), **options)
    return Submitter(run, ledger, schedule.RenderTimes(ledger), engine_options)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_an_answer_to_the_post_moves_the_job(case: Case, ledger: Ledger) -> None:
    job = ledger.insert(job_values())
    client = FakeClient(case.answer, meanwhile=lambda: None)
    run = FakeRun(ledger, client)
    submitter = _submitter(run, ledger)

    if isinstance(case.answer, APIError) and not isinstance(case.answer, RateLimited):
        with pytest.raises(type(case.answer)):
            asyncio.run(submitter.submit(job))
    else:
        asyncio.run(submitter.submit(job))

    stored = ledger.require(job.id)
    assert len(client.sent) == 1
    assert stored.status is case.status
    assert ledger.events(job.id)[-1].event == case.event
    assert tuple(run.told) == case.told
    for name, value in case.fields.items():
        assert getattr(stored, name) == value, name


def test_a_job_canceled_while_its_request_was_in_flight_keeps_the_request_id(
    ledger: Ledger,
) -> None:
    """The provider has it all the same: the id is kept, for the cost and in case the user
    wants the video after all; the job stays canceled."""
    job = ledger.insert(job_values())

    def cancel() -> None:
        ledger.update(job.id, EventKind.CANCELED, status=Status.CANCELED)

    run = FakeRun(ledger, FakeClient({"request_id": REQUEST_ID}, meanwhile=cancel))
    assert asyncio.run(_submitter(run, ledger).submit(job)) is None
    stored = ledger.require(job.id)
    assert stored.status is Status.CANCELED
    assert stored.request_id == REQUEST_ID
    assert ledger.events(job.id)[-1].event == EventKind.SUBMITTED_AFTER_CANCEL


def test_nothing_is_sent_once_the_time_is_up(ledger: Ledger) -> None:
    job = ledger.insert(job_values())
    client = FakeClient({"request_id": REQUEST_ID}, meanwhile=lambda: None)
    with pytest.raises(Deadline):
        asyncio.run(_submitter(FakeRun(ledger, client, left=0.0), ledger).submit(job))
    assert client.sent == []
    assert ledger.require(job.id).status is Status.QUEUED


def test_without_waiting_a_full_house_leaves_the_job_queued(ledger: Ledger) -> None:
    """--no-wait and every slot taken (by a render sent earlier, still in flight): nothing is
    sent, the job stays queued for `imagine wait`."""
    earlier = ledger.insert(job_values())
    ledger.update(earlier.id, EventKind.SUBMITTING, status=Status.SUBMITTING)
    ledger.update(
        earlier.id,
        EventKind.SUBMITTED,
        status=Status.RUNNING,
        request_id=str(uuid.uuid4()),
        submitted_at=clock.iso(NOW - 1),
    )
    job = ledger.insert(job_values())
    client = FakeClient({"request_id": REQUEST_ID}, meanwhile=lambda: None)
    submitter = _submitter(FakeRun(ledger, client), ledger, concurrency=1, wait=False)
    with pytest.raises(NoSlot):
        asyncio.run(submitter.submit(job))
    assert client.sent == []
    assert ledger.require(job.id).status is Status.QUEUED
