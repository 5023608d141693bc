"""The async engine used by `gen`, `edit`, `extend`, `batch` and `wait`: submit, poll, download.

Every transition is committed to the ledger before the next network call, so a crash at any point
leaves each job in a state `imagine wait` can carry on from. A job whose POST may have landed without
an answer becomes ``unknown`` and is never sent again by the engine.

Three stages share one event loop: submissions, paced per model and capped in flight across every
process sharing the ledger (``leases.try_start``); polls, each at the job's ``next_poll_at``; and
downloads. A job is driven by one process at a time, the holder of its lease; another process that
wants it watches the ledger until it is finished, or takes it over if its holder dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from imagine import clock, ids
from imagine.api.client import XAIClient
from imagine.api.http_errors import (
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
from imagine.api.types import for_ledger
from imagine.caps import Budget, Refusal, settled
from imagine.engine import schedule, workers
from imagine.engine.bodies import InputChanged, request_body
from imagine.engine.download import Limits, SaveFailed, new_http
from imagine.engine.events import Reason, Sink, Update, UpdateKind, null_sink
from imagine.engine.finish import Finisher
from imagine.engine.polling import Poller
from imagine.errors import ImagineError, LedgerUnreachable, PolicyError, sentences
from imagine.ledger import leases
from imagine.ledger.store import HISTORY, Ledger, render_time
from imagine.lifecycle import Brief, EventKind, Job, Status
from imagine.spec import recorded

ClientFactory = Callable[[str], XAIClient]
Shape = tuple[str, str | None, float | None]  # model, resolution, seconds of video
MAX_RATE_LIMITED_ROUNDS = 6
SLOT_RECHECK = 0.5  # seconds between looks at the shared ledger while every slot is taken
WATCH_INTERVAL = 1.0  # seconds between looks at a job another process is driving


@dataclass(frozen=True)
class EngineOptions:
    rps: float = 1.0
    concurrency: int = 4
    wait: bool = True
    timeout: float | None = None
    lease_seconds: float = 60.0
    poll: schedule.PollPolicy = field(default_factory=lambda: schedule.DEFAULT)
    download_attempts: int = 6
    download: Limits = field(default_factory=Limits)
    # Jobs driven at once (rendering, polled, downloading, or waiting for a slot); the rest of a
    # batch waits as ledger rows only.
    max_active: int = 256
    # Spending caps, checked and reserved as each job is sent (imagine.caps).
    budget: Budget = field(default_factory=Budget)


@dataclass(frozen=True, slots=True)  # (one per job of a run)
class Outcome:
    """Where a job stands when the engine let go of it, and why if it is not final. Only the
    job's brief is kept, so that a run's outcomes stay small however long the batch."""

    job: Brief
    reason: Reason | None = None  # None when settled
    error: ImagineError | None = None

    @classmethod
    def of(
        cls, job: Job, reason: Reason | None = None, error: ImagineError | None = None
    ) -> Outcome:
        return cls(Brief.of(job), reason, error)


async def _at_once(job_ids: list[str]) -> AsyncIterator[list[str]]:
    yield job_ids


async def _close_source(source: AsyncIterator[Sequence[str]]) -> None:
    """A source of job ids left early (the time is up, or an error) records nothing more."""
    close = getattr(source, "aclose", None)
    if close is not None:
        await close()


class _Deadline(Exception):
    pass


_CUT_SHORT = {
    Status.RUNNING: "the API had not finished answering a poll",
    Status.DOWNLOADING: "the file host was still sending the video",
    Status.UNKNOWN: "the request was being sent (it may have been accepted)",
}


class _NoSlot(Exception):
    """With --no-wait, every render slot is taken: the job is left queued for `imagine wait`."""


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
        self._freed = asyncio.Event()
        self._full = False  # the last start took the last free slot
        self._deadline: float | None = None
        self._http: httpx.AsyncClient | None = None
        self._limited: dict[str, int] = {}  # 429 rounds per job at submit
        self._noted: set[str] = set()
        self._history: dict[Shape, list[float]] = {}
        self._expected: dict[Shape, float | None] = {}
        self._unsent: set[str] = set()  # queued jobs taken in, whose sending is not yet settled
        self._sent_one = asyncio.Event()
        self.poller = Poller(self)

    # -- running -------------------------------------------------------------------------------

    async def run(self, job_ids: Sequence[str] | AsyncIterable[Sequence[str]]) -> list[Outcome]:
        """Carry every job as far as it will go; outcomes come back in the order given.

        ``job_ids`` is a list, or chunks of ids arriving over time (a batch recorded while the
        first of its jobs are already sent): a chunk is asked for only when there is room for
        more jobs in flight, so the one recording them never runs far ahead, and none is asked
        for once ``--timeout`` is up (nothing new is recorded, nothing new is sent)."""
        if self.options.timeout is not None:
            self._deadline = clock.now() + self.options.timeout
        workers.adopt(asyncio.get_running_loop())
        heartbeat = asyncio.create_task(self._heartbeat())
        self._http = new_http()
        try:
            if isinstance(job_ids, AsyncIterable):
                return await self._drive_all(job_ids)
            given = list(job_ids)
            outcomes = await self._drive_all(_at_once(list(dict.fromkeys(given))))
            by_id = {outcome.job.id: outcome for outcome in outcomes}
            return [by_id.get(job_id) or self._not_taken(job_id) for job_id in given]
        finally:
            heartbeat.cancel()
            await self._close()

    async def _drive_all(self, chunks: AsyncIterable[Sequence[str]]) -> list[Outcome]:
        """A driver per job, but at most ``max_active`` at once, so that memory does not grow
        with the size of a batch. Within each chunk, jobs already at the provider go first: they
        only need polling, and a queued job must wait for a render slot anyway. Outcomes in the
        order the jobs were taken in."""
        taken: dict[str, None] = {}  # (a job named twice is driven once)
        outcomes: dict[str, Outcome] = {}
        active: set[asyncio.Task[Outcome]] = set()

        def collect(done: set[asyncio.Task[Outcome]]) -> None:
            for task in done:
                outcome = task.result()
                outcomes[outcome.job.id] = outcome

        source = aiter(chunks)
        try:
            while not self._time_up():
                try:
                    chunk = [job_id for job_id in await anext(source) if job_id not in taken]
                except StopAsyncIteration:
                    break
                statuses = self.ledger.statuses(chunk)
                for job_id in sorted(chunk, key=lambda j: statuses.get(j) is Status.QUEUED):
                    while len(active) >= self.options.max_active:
                        done, active = await asyncio.wait(
                            active, return_when=asyncio.FIRST_COMPLETED
                        )
                        collect(done)
                    taken[job_id] = None
                    if statuses.get(job_id) is Status.QUEUED:
                        self._unsent.add(job_id)
                    active.add(asyncio.create_task(self._drive(job_id)))
                await self._sending_caught_up(len(chunk) // 2)
            if active:
                done, active = await asyncio.wait(active)
                collect(done)
        finally:
            for task in active:
                task.cancel()
            if active:
                await asyncio.wait(active)
            await _close_source(source)
        return [outcomes[job_id] for job_id in taken if job_id in outcomes]

    async def _sending_caught_up(self, most: int) -> None:
        """Wait until at most ``most`` of the queued jobs taken in are still to be sent (each
        sent, refused, or left for later), or the time is up: what records the next chunk never
        runs ahead of what sends, and the first jobs go out before later lines are recorded."""
        while len(self._unsent) > most and not self._time_up():
            self._sent_one.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._left()):
                    await self._sent_one.wait()

    def _settled_sending(self, job_id: str) -> None:
        if job_id in self._unsent:
            self._unsent.discard(job_id)
            self._sent_one.set()

    def _not_taken(self, job_id: str) -> Outcome:
        """A job the time ran out for before it was even looked at."""
        return Outcome.of(self.ledger.require(job_id), reason=Reason.TIMEOUT)

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

    def _left(self) -> float | None:
        """Seconds until the deadline (None: no deadline). It bounds everything a job does,
        whatever a server does: a dripping answer, a body that never comes."""
        return None if self._deadline is None else self._deadline - clock.now()

    def _time_up(self) -> bool:
        return self._deadline is not None and clock.now() >= self._deadline

    def client(self, job: Job) -> XAIClient:
        if job.base_url not in self._clients:
            self._clients[job.base_url] = self._client_factory(job.base_url)
        return self._clients[job.base_url]

    async def _drive(self, job_id: str) -> Outcome:
        try:
            return await self._drive_job(job_id)
        finally:
            self._settled_sending(job_id)

    async def _drive_job(self, job_id: str) -> Outcome:
        try:
            claimed = await self._claim(job_id)
            if claimed is None:
                return Outcome.of(self.ledger.require(job_id))
            job: Job | None = None
            try:
                async with asyncio.timeout(self._left()):
                    job = await self._advance(claimed)
                return Outcome.of(job)
            finally:
                if job is None or job.status.live or job.lease_owner:
                    # (A job this process settled let go of its lease in that same write.)
                    leases.release(self.ledger, job_id, self.owner)
                if job is None or job.status is not Status.COMPLETE:
                    # Its lease may have held a render slot until now, or another process moved
                    # it. (A complete job freed its slot when its render finished.)
                    self.slot_freed()
        except _Deadline:
            return Outcome.of(self.ledger.require(job_id), reason=Reason.TIMEOUT)
        except TimeoutError:
            # The deadline cut a request or a download short: say which, since the server's
            # silence is the news.
            job = self.ledger.require(job_id)
            doing = _CUT_SHORT.get(job.status)
            if doing:
                self.emit(job, UpdateKind.STALLED, message=f"--timeout ran out while {doing}")
            return Outcome.of(job, reason=Reason.TIMEOUT)
        except (Unreachable, ServerError, RateLimited, AnswerLost, SaveFailed) as error:
            job = self.ledger.require(job_id)
            if job.status.live:  # a job already failed or unknown has said its last word
                self.emit(job, UpdateKind.STALLED, message=str(error))
            return Outcome.of(job, reason=Reason.UNREACHABLE, error=error)
        except (AuthenticationFailed, PermissionDenied) as error:
            return Outcome.of(self.ledger.require(job_id), reason=Reason.AUTH, error=error)
        except LedgerUnreachable:
            raise  # the command stops (exit 4): no job's outcome can be read or written
        except ImagineError as error:
            return Outcome.of(self.ledger.require(job_id), reason=Reason.REFUSED, error=error)

    async def _claim(self, job_id: str) -> Job | None:
        """Take the job's lease; while another live process holds it, watch the ledger instead.
        The job as it stood when claimed; None when it is finished (by whoever) before we get
        it."""
        told = False
        while True:
            job = leases.claim(self.ledger, job_id, self.owner, self.options.lease_seconds)
            if job is not None:
                return job if job.status.live else None
            if not told:
                self.emit(
                    self.ledger.require(job_id),
                    UpdateKind.HELD,
                    message="another imagine process is handling it; watching",
                )
                told = True
            await self.sleep(WATCH_INTERVAL)

    async def _advance(self, job: Job) -> Job:
        """Run the job's stages in turn; the job as the engine leaves it. Each stage hands back
        the job as its last move left it; when it has none (nothing moved, or someone else moved
        the job first), the ledger says where the job stands."""
        finisher = Finisher(self, self._require_http())
        while True:
            after: Job | None = None
            if job.status is Status.QUEUED:
                try:
                    after = await self._submit(job)
                    if after is not None:
                        self._settled_sending(job.id)
                except _NoSlot:
                    self.note_once(
                        f"every render slot is taken (-c {self.options.concurrency}); jobs left "
                        "queued are sent by `imagine wait`"
                    )
                    return job
            elif job.status is Status.SUBMITTING:
                self.answer_lost(job, "the process sending it stopped before the answer came")
            elif job.status is Status.RUNNING:
                if not self.options.wait:
                    return job
                after = await self.poller.poll(job)
            elif job.status is Status.DOWNLOADING:
                after = await finisher.finish(job)
            else:
                return job
            job = after or self.ledger.require(job.id)

    def _require_http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = new_http()
        return self._http

    # -- submitting ----------------------------------------------------------------------------

    async def _submit(self, job: Job) -> Job | None:
        if not await self._take_slot(job):
            return None
        job = replace(job, status=Status.SUBMITTING)  # as try_start left it
        self.emit(job, UpdateKind.SUBMITTING)
        try:
            body = await request_body(job, self.client(job), self.ledger)
        except InputChanged as error:
            self._refused(job, error, code="input_changed")
            raise
        except APIError as error:
            self._refused(job, error, code="upload_failed")
            raise
        if job.inputs:
            job = self.ledger.require(job.id)  # with the file ids of any uploads
        try:
            answer = await self.client(job).submit(job.route, body)
        except asyncio.CancelledError:
            self.answer_lost(job, "interrupted while the request was being sent")
            raise
        except RateLimited as error:
            if self._rate_limited(job, error):
                return None
            self._refused(job, error, code="not_submitted")
            raise
        except Unreachable as error:
            self._refused(job, error, code="not_submitted")
            raise
        except (InvalidRequest, NotFound, AuthenticationFailed, PermissionDenied) as error:
            self._refused(job, error, code=error.code or type(error).__name__)
            raise
        except APIError as error:  # 5xx, a lost answer, an answer without a request id
            self.answer_lost(job, str(error))
            raise
        return self._submitted(job, answer, body)

    async def _take_slot(self, job: Job) -> bool:
        """Wait for a free slot and the model's next start time; then the job is `submitting`.

        One task per process asks at a time (the gate), so a thousand queued jobs cost one look
        at the ledger, not a thousand. A slot freed in this process wakes the asker at once; one
        freed elsewhere is seen at the next look. After a start that took the last free slot, the
        next asker waits for a slot to be freed before it looks: that look could only say no.
        """
        async with self._gate:
            while True:
                if self._time_up():
                    raise _Deadline  # nothing new is sent once the time is up
                if self._full:
                    await self._nap(SLOT_RECHECK)
                    self._full = False
                self._freed.clear()
                start = leases.try_start(
                    self.ledger,
                    job.id,
                    job.model,
                    rps=self.options.rps,
                    cap=self.options.concurrency,
                    budget=self.options.budget,
                )
                if start.refused is not None:
                    self._over_budget(job, start.refused)
                if start.wait == 0:
                    self._full = start.slots_left <= 0
                    return True
                if start.wait < 0:
                    return False
                if start.slots_left <= 0 and not self.options.wait:
                    # Nothing here follows the renders in flight, so no slot would be freed.
                    raise _NoSlot
                await self._nap(min(start.wait, SLOT_RECHECK))

    async def _nap(self, seconds: float) -> None:
        """Sleep up to ``seconds``, waking early when a slot is freed in this process."""
        if self._deadline is not None and clock.now() + seconds > self._deadline:
            await self.sleep(seconds)  # sleeps to the deadline, then raises
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._freed.wait()

    def slot_freed(self) -> None:
        self._freed.set()

    def _over_budget(self, job: Job, refused: Refusal) -> None:
        """The job was blocked, not sent: a cap would be crossed (exit 5)."""
        blocked = replace(job, status=Status.BLOCKED, error_message=refused.message())
        self.emit(blocked, UpdateKind.BLOCKED, message=refused.message())
        raise PolicyError(f"#{job.seq} {refused.message()}")

    def _rate_limited(self, job: Job, error: RateLimited) -> bool:
        """Still limited after the client's retries: slow every process down and queue the job
        again (it was refused, so nothing was paid), a few times before giving up."""
        rounds = self._limited.get(job.id, 0) + 1
        self._limited[job.id] = rounds
        if rounds > MAX_RATE_LIMITED_ROUNDS:
            return False
        delay = error.retry_after or min(60.0, 2.0**rounds)
        leases.slow_down(self.ledger, job.model, delay)
        moved = self.move(
            job, EventKind.RATE_LIMITED, status=Status.QUEUED, detail={"retry_in": delay}
        )
        if moved:
            self.emit(
                moved, UpdateKind.RETRY, message=f"rate limited; trying again in {delay:.0f}s"
            )
        return True

    def _submitted(self, job: Job, answer: dict[str, Any], body: dict[str, Any]) -> Job | None:
        now = clock.now()
        first = schedule.first_delay(self.expected(job), self.options.poll)
        values: dict[str, Any] = {
            "request_id": answer["request_id"],
            "request_json": json.dumps(recorded(body)),
            "submitted_at": clock.iso(now),
            "submit_response_json": for_ledger(answer),
            "next_poll_at": clock.iso(now + first),
        }
        moved = self.move(job, EventKind.SUBMITTED, status=Status.RUNNING, **values)
        if moved is None:
            # Canceled while the request was in flight: the provider has it all the same, so the
            # request id is kept (for the cost, and in case the user wants the video after all).
            self.ledger.update(job.id, EventKind.SUBMITTED_AFTER_CANCEL, **values)
            return None
        self.emit(moved, UpdateKind.SUBMITTED, progress=0)
        return moved

    def _refused(self, job: Job, error: ImagineError, *, code: str) -> None:
        """Not accepted, so not paid for: the job fails with the reason."""
        moved = self.move(
            job,
            EventKind.REFUSED,
            status=Status.FAILED,
            error_code=code,
            error_message=str(error),
            detail={"http_status": getattr(error, "status", None)},
        )
        if moved:
            self.emit(moved, UpdateKind.FAILED, message=str(error))

    def answer_lost(self, job: Job, reason: str) -> None:
        message = sentences(
            f"the answer was lost after sending: {reason}",
            "it may be rendering, and billed",
            f"Run `imagine retry {ids.short(job.id)}` to send it again, "
            f"or `imagine cancel {ids.short(job.id)}`.",
        )
        moved = self.move(
            job,
            EventKind.ANSWER_LOST,
            status=Status.UNKNOWN,
            error_code="answer_lost",
            error_message=message,
        )
        if moved:
            self.emit(moved, UpdateKind.UNKNOWN, message=message)

    # -- shared by the stages ------------------------------------------------------------------

    def move(self, job: Job, event: EventKind, **values: Any) -> Job | None:
        """Change the job if it is still in the state we last saw; None if someone moved it
        first (e.g. `imagine cancel` from another terminal). A job leaving the provider's queue
        frees its render slot, and a job waiting for one here is woken. A job settled here lets
        go of its lease in the same write."""
        status = values.get("status")
        if status is not None and not Status(status).live:
            values.update(lease_owner=None, lease_expires_at=None)
        values.update(settled(values))
        moved = self.ledger.move(job, event, **values)
        if moved and job.status in leases.IN_FLIGHT and moved.status not in leases.IN_FLIGHT:
            self.slot_freed()
        return moved

    def expected(self, job: Job) -> float | None:
        """The expected render time for the job's shape, from its recent renders: read from the
        ledger once per run, then kept up to date as this run's renders finish."""
        shape = (job.model, job.resolution, job.output_seconds)
        if shape not in self._history:
            self._history[shape] = self.ledger.render_seconds(*shape)
            self._expected[shape] = schedule.expected_seconds(self._history[shape])
        return self._expected[shape]

    def learned(self, job: Job) -> None:
        """A render finished: its time joins the history of its shape (as the ledger would
        give it: the newest first, by the duration the provider reports)."""
        shape = (job.model, job.resolution, job.video_duration)
        history = self._history.get(shape)
        if history is None or not (job.submitted_at and job.completed_at):
            return
        history.insert(0, render_time(job.submitted_at, job.completed_at, job.last_pending_at))
        del history[HISTORY:]
        self._expected[shape] = schedule.expected_seconds(history)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self._deadline is not None and clock.now() + seconds > self._deadline:
            await asyncio.sleep(max(0.0, self._deadline - clock.now()))
            raise _Deadline
        await asyncio.sleep(seconds)

    def emit(self, job: Job, kind: UpdateKind, **kw: Any) -> None:
        self.sink(
            Update(
                job_id=job.id,
                kind=kind,
                status=str(job.status),
                label=f"#{job.seq}",
                number=job.seq,
                **kw,
            )
        )

    def note_once(self, text: str) -> None:
        """A message worth saying once per run, not once per job."""
        if text not in self._noted:
            self._noted.add(text)
            self.sink(Update(job_id="", kind=UpdateKind.NOTE, status="", label="", message=text))
