"""The poll stage: ask about a running job when its schedule says so, and record the answer."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

from imagine import clock
from imagine.api import contract
from imagine.api.http_errors import (
    AnswerLost,
    APIError,
    NotFound,
    RateLimited,
    ServerError,
    Unreachable,
)
from imagine.api.types import DONE, EXPIRED, FAILED, PENDING, Poll, for_ledger
from imagine.engine import schedule
from imagine.engine.events import UpdateKind
from imagine.engine.stage import Run, answer_lost
from imagine.errors import sentences
from imagine.lifecycle import BlockReason, BlockSource, EventKind, Job, Status
from imagine.printable import printable

MAX_STALLED_POLLS = 4
# What a poll answer may say and be believed (a hostile or broken server says anything): a wait
# longer than the client ever heeds, or a cost past what the ledger holds, is no real answer.
MAX_POLL_DELAY = 300.0  # seconds
MAX_COST_TICKS = 2**63 - 1
MAX_VIDEO_SECONDS = 3600.0
CODE_CHARS = 64


class Poller:
    """Polls running jobs for a run; one per run (stalls and warnings are counted per job)."""

    def __init__(self, run: Run, times: schedule.RenderTimes, policy: schedule.PollPolicy) -> None:
        self.run = run
        self.times = times
        self.policy = policy
        self._stalls: dict[str, int] = {}
        self._warned: set[str] = set()

    async def poll(self, job: Job) -> Job | None:
        """Poll when the job's schedule says; the job as the answer left it (None if unmoved)."""
        run = self.run
        if job.next_poll_at:
            await run.sleep(clock.parse(job.next_poll_at) - clock.now())
        if not contract.is_request_id(job.request_id):
            # Never polled with the key: an id like `../../x` would reach another route.
            answer_lost(run, job, "no valid request id was recorded")
            return None
        assert job.request_id is not None
        try:
            answer = await run.client(job).poll(job.request_id)
        except (Unreachable, ServerError, RateLimited, AnswerLost) as error:
            self._stalled(job, error)
            return None
        except NotFound as error:
            moved = run.move(
                job,
                EventKind.NOT_FOUND,
                status=Status.FAILED,
                error_code="not_found",
                error_message=f"the API no longer knows this request: {error}",
            )
            if moved:
                run.emit(moved, UpdateKind.FAILED, message=moved.error_message)
            return moved
        self._stalls.pop(job.id, None)
        return self.apply(job, answer)

    def _stalled(self, job: Job, error: APIError) -> None:
        """The API did not answer even after retries: the render goes on without us, so try
        again later, and give up this run only after several rounds."""
        rounds = self._stalls.get(job.id, 0) + 1
        self._stalls[job.id] = rounds
        if rounds > MAX_STALLED_POLLS:
            raise error
        delay = min(60.0, 5.0 * 2 ** (rounds - 1))
        self.run.move(job, EventKind.UPDATE, next_poll_at=clock.iso(clock.now() + delay))
        self.run.emit(
            job,
            UpdateKind.STALLED,
            message=sentences(str(error), f"polling again in {delay:.0f}s"),
        )

    def apply(self, job: Job, answer: Poll) -> Job | None:
        """Record one poll answer and move the job on (None if someone else moved it first)."""
        answer = _believable(answer)
        common: dict[str, Any] = {
            "poll_count": job.poll_count + 1,
            "response_json": for_ledger(answer.raw) if answer.raw else job.response_json,
        }
        if answer.status == DONE:
            return self._done(job, answer, common)
        if answer.status == FAILED:
            return self._failed(job, answer, common)
        if answer.status == EXPIRED:
            return self._finish(
                job,
                EventKind.EXPIRED,
                Status.EXPIRED,
                "expired",
                "the provider no longer holds this result",
                **common,
            )
        return self._pending(job, answer, common)

    def _pending(self, job: Job, answer: Poll, common: dict[str, Any]) -> Job | None:
        now = clock.now()
        elapsed = now - clock.parse(job.submitted_at or job.created_at)
        delay = answer.retry_after
        if delay is None:
            delay = schedule.next_delay(
                elapsed,
                answer.progress,
                self.times.expected(job),
                common["poll_count"],
                self.policy,
            )
        moved = self.run.move(
            job,
            EventKind.UPDATE,
            progress=answer.progress if answer.progress is not None else job.progress,
            last_pending_at=clock.iso(now),
            next_poll_at=clock.iso(now + delay),
            **common,
        )
        if moved is None:
            return None
        if answer.status != PENDING and job.id not in self._warned:
            self._warned.add(job.id)
            self.run.emit(
                moved,
                UpdateKind.WARNING,
                message=f"unexpected status {answer.status!r}; still polling",
            )
        self.run.emit(moved, UpdateKind.PROGRESS, progress=moved.progress)
        return moved

    def _done(self, job: Job, answer: Poll, common: dict[str, Any]) -> Job | None:
        fields: dict[str, Any] = {
            **common,
            "completed_at": clock.iso(),
            "cost_ticks": answer.cost_ticks,
            "video_duration": answer.video_duration,
            "progress": 100,
        }
        if answer.file_output is not None:
            fields["file_output_json"] = json.dumps(answer.file_output)
        if answer.blocked:
            return self._finish(
                job,
                EventKind.BLOCKED,
                Status.BLOCKED,
                "moderation",
                "the provider's moderation withheld this video",
                moderation="blocked",
                block_source=BlockSource.PROVIDER,
                block_reason=BlockReason.MODERATION,
                **fields,
            )
        moved = self.run.move(
            job,
            EventKind.RENDERED,
            status=Status.DOWNLOADING,
            moderation="passed",
            video_url=answer.video_url,
            **fields,
        )
        if moved:
            self.times.learned(moved)
            self.run.emit(moved, UpdateKind.RENDERED, progress=100)
        return moved

    def _failed(self, job: Job, answer: Poll, common: dict[str, Any]) -> Job | None:
        message = printable(answer.error_message or "the provider reported the render failed")
        blocked = "moderation" in message.lower()
        return self._finish(
            job,
            EventKind.BLOCKED if blocked else EventKind.FAILED,
            Status.BLOCKED if blocked else Status.FAILED,
            printable(answer.error_code or "failed", CODE_CHARS),
            message,
            moderation="blocked" if blocked else None,
            block_source=BlockSource.PROVIDER if blocked else None,
            block_reason=BlockReason.MODERATION if blocked else None,
            completed_at=clock.iso(),
            **common,
        )

    def _finish(
        self, job: Job, event: EventKind, status: Status, code: str, message: str, **values: Any
    ) -> Job | None:
        moved = self.run.move(
            job, event, status=status, error_code=code, error_message=message, **values
        )
        if moved:
            self.run.emit(moved, UpdateKind(event), message=message)
        return moved


def _believable(answer: Poll) -> Poll:
    """The answer without the numbers no real answer gives, each then taken as not given: a
    progress outside 0-100, a negative or unstorable cost, an impossible video length. A
    Retry-After is heeded for at most ``MAX_POLL_DELAY``."""
    progress, ticks, seconds = answer.progress, answer.cost_ticks, answer.video_duration
    wait = answer.retry_after
    return replace(
        answer,
        progress=progress if progress is not None and 0 <= progress <= 100 else None,
        cost_ticks=ticks if ticks is not None and 0 <= ticks <= MAX_COST_TICKS else None,
        video_duration=(
            seconds if seconds is not None and 0 <= seconds <= MAX_VIDEO_SECONDS else None
        ),
        retry_after=None
        if wait is None or math.isnan(wait)
        else min(max(wait, 0.0), MAX_POLL_DELAY),
    )
