"""The async engine used by `gen`, `wait` (and later `batch`): submit, poll, download, finish.

Every transition is committed to the ledger before the next network call, so a crash at any point
leaves each job in a state `imagine wait` can carry on from. A job whose POST may have landed without
an answer becomes ``unknown`` and is never sent again by the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from imagine import clock, ids
from imagine.api.client import XAIClient
from imagine.api.errors import (
    AnswerLost,
    APIError,
    AuthenticationFailed,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    Unreachable,
)
from imagine.api.types import DONE, EXPIRED, FAILED, PENDING, Poll
from imagine.engine import schedule
from imagine.engine.bodies import InputChanged, request_body
from imagine.engine.download import new_http
from imagine.engine.events import Sink, Update, null_sink
from imagine.engine.finish import Finisher
from imagine.errors import ImagineError
from imagine.jobs import Job, Status
from imagine.ledger import leases
from imagine.ledger.store import Ledger
from imagine.spec import recorded

ClientFactory = Callable[[str], XAIClient]
MAX_RATE_LIMITED_ROUNDS = 6
MAX_STALLED_POLLS = 4


@dataclass(frozen=True)
class EngineOptions:
    rps: float = 1.0
    concurrency: int = 4
    wait: bool = True
    timeout: float | None = None
    lease_seconds: float = 60.0
    poll: schedule.PollPolicy = field(default_factory=schedule.PollPolicy)
    download_attempts: int = 6


@dataclass(frozen=True)
class Outcome:
    """Where a job stands when the engine let go of it, and why if it is not final."""

    job: Job
    reason: str | None = None  # "timeout", "held", "unreachable", or None when settled
    error: ImagineError | None = None


class _Deadline(Exception):
    pass


class Engine:
    def __init__(
        self,
        ledger: Ledger,
        clients: ClientFactory,
        *,
        sink: Sink = null_sink,
        options: EngineOptions | None = None,
        owner: str | None = None,
    ) -> None:
        self.ledger = ledger
        self.options = options or EngineOptions()
        self.sink = sink
        self.owner = owner or leases.new_owner()
        self._client_factory = clients
        self._clients: dict[str, XAIClient] = {}
        self._gate = asyncio.Lock()
        self._deadline: float | None = None
        self._http: httpx.AsyncClient | None = None
        self._strikes: dict[str, int] = {}  # consecutive 429s at submit, or failed polls, per job
        self._warned: set[str] = set()
        self._noted: set[str] = set()

    # -- running -------------------------------------------------------------------------------

    async def run(self, job_ids: list[str]) -> list[Outcome]:
        """Carry every job as far as it will go; outcomes come back in the order given."""
        if self.options.timeout is not None:
            self._deadline = clock.now() + self.options.timeout
        heartbeat = asyncio.create_task(self._heartbeat())
        self._http = new_http()
        try:
            return list(await asyncio.gather(*(self._drive(job_id) for job_id in job_ids)))
        finally:
            heartbeat.cancel()
            await self._close()

    async def _close(self) -> None:
        with contextlib.suppress(Exception):
            if self._http is not None:
                await self._http.aclose()
        for client in self._clients.values():
            with contextlib.suppress(Exception):
                await client.aclose()
        self._clients.clear()

    async def _heartbeat(self) -> None:
        interval = self.options.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            leases.renew(self.ledger, self.owner, self.options.lease_seconds)

    def client(self, job: Job) -> XAIClient:
        if job.base_url not in self._clients:
            self._clients[job.base_url] = self._client_factory(job.base_url)
        return self._clients[job.base_url]

    async def _drive(self, job_id: str) -> Outcome:
        job = self.ledger.require(job_id)
        if not job.status.live:
            return Outcome(job)
        if not leases.claim(self.ledger, job_id, self.owner, self.options.lease_seconds):
            self.emit(job, "held", message="another imagine process is handling this job")
            return Outcome(job, reason="held")
        try:
            return await self._advance(job_id)
        except _Deadline:
            return Outcome(self.ledger.require(job_id), reason="timeout")
        except (Unreachable, ServerError, RateLimited, AnswerLost) as error:
            job = self.ledger.require(job_id)
            self.emit(job, "stalled", message=str(error))
            return Outcome(job, reason="unreachable", error=error)
        except (AuthenticationFailed, PermissionDenied) as error:
            return Outcome(self.ledger.require(job_id), reason="auth", error=error)
        except ImagineError as error:
            return Outcome(self.ledger.require(job_id), reason="refused", error=error)
        finally:
            leases.release(self.ledger, job_id, self.owner)

    async def _advance(self, job_id: str) -> Outcome:
        finisher = Finisher(self, self._require_http())
        while True:
            job = self.ledger.require(job_id)
            if job.status is Status.QUEUED:
                await self._submit(job)
            elif job.status is Status.SUBMITTING:
                self._answer_lost(job, "the process sending it stopped before the answer came")
            elif job.status is Status.RUNNING:
                if not self.options.wait:
                    return Outcome(job)
                await self._poll(job)
            elif job.status is Status.DOWNLOADING:
                await finisher.finish(job)
            else:
                return Outcome(job)

    def _require_http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = new_http()
        return self._http

    # -- submitting ----------------------------------------------------------------------------

    async def _submit(self, job: Job) -> None:
        if not await self._take_slot(job):
            return
        job = self.ledger.require(job.id)
        self.emit(job, "submitting")
        try:
            body = await request_body(job, self.client(job), self.ledger)
        except InputChanged as error:
            self._refused(job, error, code="input_changed")
            raise
        except APIError as error:
            self._refused(job, error, code="upload_failed")
            raise
        try:
            answer = await self.client(job).submit(job.route, body)
        except asyncio.CancelledError:
            self._answer_lost(job, "interrupted while the request was being sent")
            raise
        except RateLimited as error:
            if self._rate_limited(job, error):
                return
            self._refused(job, error, code="not_submitted")
            raise
        except Unreachable as error:
            self._refused(job, error, code="not_submitted")
            raise
        except (AnswerLost, ServerError) as error:
            self._answer_lost(job, str(error))
            raise
        except (InvalidRequest, NotFound, AuthenticationFailed, PermissionDenied) as error:
            self._refused(job, error, code=error.code or type(error).__name__)
            raise
        except APIError as error:
            self._answer_lost(job, str(error))
            raise
        self._submitted(job, answer, body)

    def _rate_limited(self, job: Job, error: RateLimited) -> bool:
        """Still limited after the client's retries: slow every process down and queue the job
        again (it was refused, so nothing was paid), a few times before giving up."""
        rounds = self._strikes.get(job.id, 0) + 1
        self._strikes[job.id] = rounds
        if rounds > MAX_RATE_LIMITED_ROUNDS:
            return False
        delay = error.retry_after or min(60.0, 2.0**rounds)
        leases.slow_down(self.ledger, job.model, delay)
        job = self.ledger.update(
            job.id, "rate_limited", status=Status.QUEUED, detail={"retry_in": delay}
        )
        self.emit(job, "retry", message=f"rate limited; trying again in {delay:.0f}s")
        return True

    async def _take_slot(self, job: Job) -> bool:
        """Wait for a free slot and the model's next start time; then the job is `submitting`."""
        async with self._gate:
            while True:
                wait = leases.try_start(
                    self.ledger,
                    job.id,
                    job.model,
                    rps=self.options.rps,
                    cap=self.options.concurrency,
                )
                if wait == 0:
                    return True
                if wait < 0:
                    return False
                await self._sleep(wait)

    def _submitted(self, job: Job, answer: dict[str, Any], body: dict[str, Any]) -> None:
        now = clock.now()
        expected = self._expected(job)
        job = self.ledger.update(
            job.id,
            "submitted",
            status=Status.RUNNING,
            request_id=answer["request_id"],
            request_json=json.dumps(recorded(body)),
            submitted_at=clock.iso(now),
            submit_response_json=json.dumps(answer),
            next_poll_at=clock.iso(now + schedule.first_delay(expected, self.options.poll)),
            detail={"request_id": answer["request_id"]},
        )
        self.emit(job, "submitted", progress=0)

    def _refused(self, job: Job, error: ImagineError, *, code: str) -> None:
        """Not accepted, so not paid for: the job fails with the reason."""
        job = self.ledger.update(
            job.id,
            "refused",
            status=Status.FAILED,
            error_code=code,
            error_message=str(error),
            detail={"http_status": getattr(error, "status", None)},
        )
        self.emit(job, "failed", message=str(error))

    def _answer_lost(self, job: Job, reason: str) -> None:
        message = (
            f"the answer was lost after sending ({reason}); it may be rendering and billed. "
            f"Run `imagine retry {ids.short(job.id)}` to send it again, "
            f"or `imagine cancel {ids.short(job.id)}`."
        )
        job = self.ledger.update(
            job.id,
            "answer_lost",
            status=Status.UNKNOWN,
            error_code="answer_lost",
            error_message=message,
        )
        self.emit(job, "unknown", message=message)

    # -- polling -------------------------------------------------------------------------------

    async def _poll(self, job: Job) -> None:
        if job.next_poll_at:
            await self._sleep(clock.parse(job.next_poll_at) - clock.now())
        if job.request_id is None:
            self._answer_lost(job, "no request id was recorded")
            return
        try:
            poll = await self.client(job).poll(job.request_id)
        except (Unreachable, ServerError, RateLimited, AnswerLost) as error:
            self._stalled(job, error)
            return
        except NotFound as error:
            job = self.ledger.update(
                job.id,
                "not_found",
                status=Status.FAILED,
                error_code="not_found",
                error_message=f"the API no longer knows this request: {error}",
            )
            self.emit(job, "failed", message=job.error_message)
            return
        self._strikes.pop(job.id, None)
        self.apply_poll(job, poll)

    def _stalled(self, job: Job, error: APIError) -> None:
        """The API did not answer a poll even after retries: the render goes on without us, so
        try again later, and give up this run only after several rounds."""
        rounds = self._strikes.get(job.id, 0) + 1
        self._strikes[job.id] = rounds
        if rounds > MAX_STALLED_POLLS:
            raise error
        delay = min(60.0, 5.0 * 2 ** (rounds - 1))
        self.ledger.update(job.id, "update", next_poll_at=clock.iso(clock.now() + delay))
        self.emit(job, "stalled", message=f"{error}; polling again in {delay:.0f}s")

    def apply_poll(self, job: Job, poll: Poll) -> Job:
        """Record one poll answer and move the job on."""
        common: dict[str, Any] = {
            "poll_count": job.poll_count + 1,
            "response_json": json.dumps(poll.raw) if poll.raw else job.response_json,
        }
        if poll.status == DONE:
            return self._done(job, poll, common)
        if poll.status == FAILED:
            return self._failed(job, poll, common)
        if poll.status == EXPIRED:
            job = self.ledger.update(
                job.id,
                "expired",
                status=Status.EXPIRED,
                error_code="expired",
                error_message="the provider no longer holds this result",
                **common,
            )
            self.emit(job, "expired", message=job.error_message)
            return job
        return self._pending(job, poll, common)

    def _pending(self, job: Job, poll: Poll, common: dict[str, Any]) -> Job:
        now = clock.now()
        elapsed = now - clock.parse(job.submitted_at or job.created_at)
        delay = poll.retry_after
        if delay is None:
            delay = schedule.next_delay(
                elapsed, poll.progress, self._expected(job), common["poll_count"], self.options.poll
            )
        job = self.ledger.update(
            job.id,
            "update",
            progress=poll.progress if poll.progress is not None else job.progress,
            last_pending_at=clock.iso(now),
            next_poll_at=clock.iso(now + delay),
            **common,
        )
        if poll.status != PENDING and job.id not in self._warned:
            self._warned.add(job.id)
            self.emit(job, "warning", message=f"unexpected status {poll.status!r}; still polling")
        self.emit(job, "progress", progress=job.progress)
        return job

    def _done(self, job: Job, poll: Poll, common: dict[str, Any]) -> Job:
        fields: dict[str, Any] = {
            **common,
            "completed_at": clock.iso(),
            "cost_ticks": poll.cost_ticks,
            "video_duration": poll.video_duration,
            "progress": 100,
        }
        if poll.blocked:
            job = self.ledger.update(
                job.id,
                "blocked",
                status=Status.BLOCKED,
                moderation="blocked",
                error_code="moderation",
                error_message="the provider's moderation withheld this video",
                **fields,
            )
            self.emit(job, "blocked", message=job.error_message)
            return job
        job = self.ledger.update(
            job.id,
            "rendered",
            status=Status.DOWNLOADING,
            moderation="passed",
            video_url=poll.video_url,
            **fields,
        )
        self.emit(job, "rendered", progress=100)
        return job

    def _failed(self, job: Job, poll: Poll, common: dict[str, Any]) -> Job:
        message = poll.error_message or "the provider reported the render failed"
        blocked = "moderation" in message.lower()
        job = self.ledger.update(
            job.id,
            "blocked" if blocked else "failed",
            status=Status.BLOCKED if blocked else Status.FAILED,
            moderation="blocked" if blocked else None,
            error_code=poll.error_code or "failed",
            error_message=message,
            completed_at=clock.iso(),
            **common,
        )
        self.emit(job, str(job.status), message=message)
        return job

    def _expected(self, job: Job) -> float | None:
        history = self.ledger.render_seconds(job.model, job.resolution, job.output_seconds)
        return schedule.expected_seconds(history)

    # -- helpers -------------------------------------------------------------------------------

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self._deadline is not None and clock.now() + seconds > self._deadline:
            await asyncio.sleep(max(0.0, self._deadline - clock.now()))
            raise _Deadline
        await asyncio.sleep(seconds)

    def emit(self, job: Job, kind: str, **kw: Any) -> None:
        label = f"#{job.seq}"
        self.sink(Update(job_id=job.id, kind=kind, status=str(job.status), label=label, **kw))

    def note_once(self, text: str) -> None:
        """A message for the user that is worth saying once per run, not once per job."""
        if text not in self._noted:
            self._noted.add(text)
            self.sink(Update(job_id="", kind="note", status="", label="", message=text))
