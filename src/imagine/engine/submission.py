"""The submit stage: wait for a render slot and the model's next start, send the request, and
record the answer (or why there is none).

Slots are shared by every process on the ledger (``leases.try_start``); within this process one
task asks at a time, and a slot freed here wakes the asker at once (``slot_freed``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import replace
from typing import Any

from imagine import clock
from imagine.api.http_errors import (
    APIError,
    AuthenticationFailed,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    Unreachable,
)
from imagine.api.types import for_ledger
from imagine.engine import schedule
from imagine.engine.bodies import InputChanged, request_body
from imagine.engine.events import UpdateKind
from imagine.engine.run_options import EngineOptions
from imagine.engine.stage import Deadline, Run, answer_lost
from imagine.errors import ImagineError, PolicyError
from imagine.ledger import leases
from imagine.ledger.store import Ledger
from imagine.lifecycle import EventKind, Job, Status
from imagine.money.caps import Refusal
from imagine.spec import recorded

MAX_RATE_LIMITED_ROUNDS = 6
SLOT_RECHECK = 0.5  # seconds between looks at the shared ledger while every slot is taken


class NoSlot(Exception):
    """With --no-wait, every render slot is taken: the job is left queued for `imagine wait`."""


class Submitter:
    """Sends queued jobs for a run; one per run, shared by all its jobs (the gate, the wake-up
    when a slot is freed and the 429 rounds are per run)."""

    def __init__(
        self, run: Run, ledger: Ledger, times: schedule.RenderTimes, options: EngineOptions
    ) -> None:
        self.run = run
        self.ledger = ledger
        self.times = times
        self.options = options
        self._gate = asyncio.Lock()
        self._freed = asyncio.Event()
        self._full = False  # the last start took the last free slot
        self._limited: dict[str, int] = {}  # 429 rounds per job

    async def submit(self, job: Job) -> Job | None:
        """Send a queued job; the job as the answer left it (None if it did not move, or is
        queued again after a 429). Raises what stops the job: the API's refusal, a lost answer,
        ``Deadline``, ``NoSlot`` (--no-wait and no free slot), ``PolicyError`` (over budget)."""
        if not await self.take_slot(job):
            return None
        job = replace(job, status=Status.SUBMITTING)  # as try_start left it
        self.run.emit(job, UpdateKind.SUBMITTING)
        client = self.run.client(job)
        try:
            body = await request_body(job, client, self.ledger)
        except InputChanged as error:
            self._refused(job, error, code="input_changed")
            raise
        except APIError as error:
            self._refused(job, error, code="upload_failed")
            raise
        if job.inputs:
            job = self.ledger.require(job.id)  # with the file ids of any uploads
        try:
            answer = await client.submit(job.route, body)
        except asyncio.CancelledError:
            answer_lost(self.run, job, "interrupted while the request was being sent")
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
            answer_lost(self.run, job, str(error))
            raise
        return self._submitted(job, answer, body)

    async def take_slot(self, job: Job) -> bool:
        """Wait for a free slot and the model's next start time; then the job is `submitting`
        (False: someone else moved it meanwhile).

        One task per process asks at a time (the gate), so a thousand queued jobs cost one look
        at the ledger, not a thousand. A slot freed in this process wakes the asker at once; one
        freed elsewhere is seen at the next look. After a start that took the last free slot, the
        next asker waits for a slot to be freed before it looks: that look could only say no.
        """
        async with self._gate:
            while True:
                left = self.run.left()
                if left is not None and left <= 0:
                    raise Deadline  # nothing new is sent once the time is up
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
                    raise NoSlot
                await self._nap(min(start.wait, SLOT_RECHECK))

    def slot_freed(self) -> None:
        """A render slot held in this process is free again: wake the job waiting for one."""
        self._freed.set()

    async def _nap(self, seconds: float) -> None:
        """Sleep up to ``seconds``, waking early when a slot is freed in this process."""
        left = self.run.left()
        if left is not None and seconds > left:
            await self.run.sleep(seconds)  # sleeps to the deadline, then raises
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._freed.wait()

    def _over_budget(self, job: Job, refused: Refusal) -> None:
        """The job was blocked, not sent: a cap would be crossed (exit 5)."""
        blocked = replace(job, status=Status.BLOCKED, error_message=refused.message())
        self.run.emit(blocked, UpdateKind.BLOCKED, message=refused.message())
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
        moved = self.run.move(
            job, EventKind.RATE_LIMITED, status=Status.QUEUED, detail={"retry_in": delay}
        )
        if moved:
            self.run.emit(
                moved, UpdateKind.RETRY, message=f"rate limited; trying again in {delay:.0f}s"
            )
        return True

    def _submitted(self, job: Job, answer: dict[str, Any], body: dict[str, Any]) -> Job | None:
        now = clock.now()
        first = schedule.first_delay(self.times.expected(job), self.options.poll)
        values: dict[str, Any] = {
            "request_id": answer["request_id"],
            "request_json": json.dumps(recorded(body)),
            "submitted_at": clock.iso(now),
            "submit_response_json": for_ledger(answer),
            "next_poll_at": clock.iso(now + first),
        }
        moved = self.run.move(job, EventKind.SUBMITTED, status=Status.RUNNING, **values)
        if moved is None:
            # Canceled while the request was in flight: the provider has it all the same, so the
            # request id is kept (for the cost, and in case the user wants the video after all).
            self.ledger.update(job.id, EventKind.SUBMITTED_AFTER_CANCEL, **values)
            return None
        self.run.emit(moved, UpdateKind.SUBMITTED, progress=0)
        return moved

    def _refused(self, job: Job, error: ImagineError, *, code: str) -> None:
        """Not accepted, so not paid for: the job fails with the reason."""
        moved = self.run.move(
            job,
            EventKind.REFUSED,
            status=Status.FAILED,
            error_code=code,
            error_message=str(error),
            detail={"http_status": getattr(error, "status", None)},
        )
        if moved:
            self.run.emit(moved, UpdateKind.FAILED, message=str(error))
