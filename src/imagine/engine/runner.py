"""The async engine used by `gen`, `edit`, `extend`, `batch` and `wait`: submit, poll, download.

Every transition is committed to the ledger before the next network call, so a crash at any point
leaves each job in a state `imagine wait` can carry on from. A job whose POST may have landed without
an answer becomes ``unknown`` and is never sent again by the engine.

Three stages share one event loop, each a module of its own that sees only ``stage.Run`` (this
engine: move, emit, note_once, client, sleep, left) and the collaborators it is given:
``submission.Submitter`` (paced per model and capped in flight across every process sharing the
ledger, ``leases.try_start``), ``polling.Poller`` (each job at its ``next_poll_at``) and
``finish.Finisher`` (download, check, record). This module composes them and keeps the driving:
which jobs are taken in and how many at once, their leases, the deadline, and what each stage
hands on to the next. A job is driven by one process at a time, the holder of its lease; another
process that wants it watches the ledger until it is finished, or takes it over if its holder
dies.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from typing import Any

from imagine import clock
from imagine.api.client import XAIClient
from imagine.engine import schedule, workers
from imagine.engine.events import Reason, Sink, Update, UpdateKind, null_sink
from imagine.engine.finish import Finisher
from imagine.engine.outcome import Outcome as Outcome  # (where callers find it)
from imagine.engine.outcome import stopped
from imagine.engine.polling import Poller
from imagine.engine.run_options import EngineOptions as EngineOptions  # (where callers find it)
from imagine.engine.stage import Deadline, answer_lost
from imagine.engine.submission import NoSlot, Submitter
from imagine.errors import ImagineError, LedgerUnreachable
from imagine.ledger import leases
from imagine.ledger.store import Ledger
from imagine.lifecycle import EventKind, Job, Status
from imagine.money.caps import settled

ClientFactory = Callable[[str], XAIClient]
WATCH_INTERVAL = 1.0  # seconds between looks at a job another process is driving


async def _at_once(job_ids: list[str]) -> AsyncIterator[list[str]]:
    yield job_ids


async def _close_source(source: AsyncIterator[Sequence[str]]) -> None:
    """A source of job ids left early (the time is up, or an error) records nothing more."""
    close = getattr(source, "aclose", None)
    if close is not None:
        await close()


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
        self._deadline: float | None = None
        self._noted: set[str] = set()
        self._unsent: set[str] = set()  # queued jobs taken in, whose sending is not yet settled
        self._sent_one = asyncio.Event()
        # The stages, each given only what it uses (stage.Run: this engine).
        self.times = schedule.RenderTimes(ledger)
        self.submitter = Submitter(self, ledger, self.times, self.options)
        self.poller = Poller(self, self.times, self.options.poll)
        self.finisher = Finisher(self, ledger, self.poller.apply, self.options)

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
                async with asyncio.timeout(self.left()):
                    await self._sent_one.wait()

    def _settled_sending(self, job_id: str) -> None:
        if job_id in self._unsent:
            self._unsent.discard(job_id)
            self._sent_one.set()

    def _not_taken(self, job_id: str) -> Outcome:
        """A job the time ran out for before it was even looked at."""
        return Outcome.of(self.ledger.require(job_id), reason=Reason.TIMEOUT)

    async def _close(self) -> None:
        for client in self._clients.values():
            with contextlib.suppress(Exception):
                await client.aclose()
        self._clients.clear()

    async def _heartbeat(self) -> None:
        interval = self.options.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            leases.renew(self.ledger, self.owner, self.options.lease_seconds)

    def _time_up(self) -> bool:
        return self._deadline is not None and clock.now() >= self._deadline

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
                async with asyncio.timeout(self.left()):
                    job = await self._advance(claimed)
                return Outcome.of(job)
            finally:
                if job is None or job.status.live or job.lease_owner:
                    # (A job this process settled let go of its lease in that same write.)
                    leases.release(self.ledger, job_id, self.owner)
                if job is None or job.status is not Status.COMPLETE:
                    # Its lease may have held a render slot until now, or another process moved
                    # it. (A complete job freed its slot when its render finished.)
                    self.submitter.slot_freed()
        except LedgerUnreachable:
            raise  # the command stops (exit 4): no job's outcome can be read or written
        except (Deadline, TimeoutError, ImagineError) as error:
            return stopped(self, self.ledger.require(job_id), error)

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
        while True:
            after: Job | None = None
            if job.status is Status.QUEUED:
                try:
                    after = await self.submitter.submit(job)
                    if after is not None:
                        self._settled_sending(job.id)
                except NoSlot:
                    self.note_once(
                        f"every render slot is taken (-c {self.options.concurrency}); jobs left "
                        "queued are sent by `imagine wait`"
                    )
                    return job
            elif job.status is Status.SUBMITTING:
                answer_lost(self, job, "the process sending it stopped before the answer came")
            elif job.status is Status.RUNNING:
                if not self.options.wait:
                    return job
                after = await self.poller.poll(job)
            elif job.status is Status.DOWNLOADING:
                after = await self.finisher.finish(job)
            else:
                return job
            job = after or self.ledger.require(job.id)

    # -- what the stages may ask of the run (stage.Run) ----------------------------------------

    def left(self) -> float | None:
        """Seconds until the deadline (None: no deadline). It bounds everything a job does,
        whatever a server does: a dripping answer, a body that never comes."""
        return None if self._deadline is None else self._deadline - clock.now()

    def client(self, job: Job) -> XAIClient:
        if job.base_url not in self._clients:
            self._clients[job.base_url] = self._client_factory(job.base_url)
        return self._clients[job.base_url]

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
            self.submitter.slot_freed()
        return moved

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self._deadline is not None and clock.now() + seconds > self._deadline:
            await asyncio.sleep(max(0.0, self._deadline - clock.now()))
            raise Deadline
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
