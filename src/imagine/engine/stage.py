"""What a stage of the engine (submission, polling, finishing) may ask of the run that drives it.

A stage moves one job a step: it talks to the API or the file host, and records what it learned
by moving the job in the ledger and telling the user. The run behind it (``runner.Engine``) owns
what is shared by every job: the lease and render slots, the deadline, the API clients, the
display. Stages see only the few members of ``Run`` below, so that each can be built and tested
on its own (a fake ``Run`` and a temporary ledger), and none imports the runner.

This module imports no stage: only the vocabulary of updates (``events``, which imports nothing
of the engine either).
"""

from __future__ import annotations

from typing import Any, Protocol

from imagine import ids
from imagine.api.client import XAIClient
from imagine.engine.events import UpdateKind
from imagine.errors import sentences
from imagine.lifecycle import EventKind, Job, Status


class Deadline(Exception):
    """The run's --timeout is up: raised by ``Run.sleep``, and by a stage about to start
    something new (nothing new is sent once the time is up)."""


class Run(Protocol):
    """The run a stage works for."""

    def move(self, job: Job, event: EventKind, **values: Any) -> Job | None:
        """Change the job in the ledger if it is still in the state the stage saw; None if
        someone moved it first (e.g. `imagine cancel` from another terminal)."""
        ...

    def emit(self, job: Job, kind: UpdateKind, **kw: Any) -> None:
        """Tell the user what happened to the job (``kw``: the fields of an ``events.Update``)."""
        ...

    def note_once(self, text: str) -> None:
        """A message about the run, said once however many jobs have it to say."""
        ...

    def client(self, job: Job) -> XAIClient:
        """The API client for the job's base URL."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Sleep, raising ``Deadline`` instead of sleeping past the run's --timeout."""
        ...

    def left(self) -> float | None:
        """Seconds until the run's --timeout (None: no timeout)."""
        ...


def answer_lost(run: Run, job: Job, reason: str) -> None:
    """The request may have reached the API without its answer reaching us: the job becomes
    `unknown` and is never sent again by the engine (it may be rendering, and billed)."""
    message = sentences(
        f"the answer was lost after sending: {reason}",
        "it may be rendering, and billed",
        f"Run `imagine retry {ids.short(job.id)}` to send it again, "
        f"or `imagine cancel {ids.short(job.id)}`.",
    )
    moved = run.move(
        job,
        EventKind.ANSWER_LOST,
        status=Status.UNKNOWN,
        error_code="answer_lost",
        error_message=message,
    )
    if moved:
        run.emit(moved, UpdateKind.UNKNOWN, message=message)
