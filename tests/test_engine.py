"""The engine's in-run knowledge matches what the ledger would tell a fresh run; its slots and
leases."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from imagine.engine.finish import Finisher
from imagine.engine.runner import Engine, EngineOptions
from imagine.ledger import leases
from imagine.lifecycle import Job, Status
from imagine.session import Session
from imagine.spec import Mode, RenderSpec
from imagine.workflow.plan import Request
from imagine.workflow.steps import preview, record


def _requests(count: int) -> list[Request]:
    return [
        Request(
            RenderSpec(mode=Mode.TEXT, model="grok-imagine-video", prompt=f"tide {n}", duration=1),
            "renders/{slug}",
        )
        for n in range(count)
    ]


def test_render_times_learned_during_a_run_match_the_ledger(
    sim_factory: Any, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first poll of each job is planned from the renders of its shape finished so far: the
    engine keeps that history up to date as its own renders finish, instead of asking the ledger
    again, and must arrive at what the ledger says."""
    sim = sim_factory(render_time=0.3, jitter=0.2, speed=1.0)
    monkeypatch.setenv("XAI_API_KEY", sim.api_key)
    with Session(base_url=sim.url) as session:
        planned = record(session, preview(session, _requests(3)))
        first = session.ledger.require(planned[0].job.id)
        engine = Engine(
            session.ledger, session.client, options=EngineOptions(rps=50, concurrency=1)
        )
        assert engine.times.expected(first) is None  # nothing of this shape has rendered yet

        outcomes = asyncio.run(engine.run([item.job.id for item in planned]))
        assert [str(outcome.job.status) for outcome in outcomes] == ["complete"] * 3

        learned = engine.times.expected(first)
        fresh = Engine(session.ledger, session.client).times.expected(first)
        assert learned is not None and fresh is not None
        assert learned == pytest.approx(fresh, abs=1e-9)
        assert 0 < learned < 5


def test_a_full_engine_waits_for_a_freed_slot_before_asking_the_ledger(
    sim_factory: Any, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a start has taken the last free slot, the next job waits until a slot is freed (or
    the recheck interval passes) instead of asking the ledger for a start it cannot have."""
    sim = sim_factory()
    monkeypatch.setenv("XAI_API_KEY", sim.api_key)
    asked: list[str] = []
    try_start = leases.try_start

    def counted(ledger: Any, job_id: str, *args: Any, **kwargs: Any) -> leases.Start:
        asked.append(job_id)
        return try_start(ledger, job_id, *args, **kwargs)

    monkeypatch.setattr(leases, "try_start", counted)
    with Session(base_url=sim.url) as session:
        first, second = (
            session.ledger.require(item.job.id)
            for item in record(session, preview(session, _requests(2)))
        )
        engine = Engine(
            session.ledger, session.client, options=EngineOptions(rps=1000, concurrency=1)
        )

        async def go() -> None:
            assert await engine.submitter.take_slot(first)
            waiting = asyncio.create_task(engine.submitter.take_slot(second))
            await asyncio.sleep(0.2)  # under the 0.5 s recheck
            assert asked == [first.id] and not waiting.done()
            running = session.ledger.require(first.id)
            engine.move(running, "refused", status=Status.FAILED)  # its slot is free again
            assert await asyncio.wait_for(waiting, 1.0)

        asyncio.run(go())
    assert asked == [first.id, second.id]


def test_leases_are_let_go_whether_jobs_settle_or_are_left_running(
    sim_factory: Any, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job settled by the engine gives up its lease in the same write; one left running (no
    wait) or settled by someone else is released after; either way another process can take
    it at once."""
    sim = sim_factory()
    monkeypatch.setenv("XAI_API_KEY", sim.api_key)
    with Session(base_url=sim.url) as session:
        jobs = [item.job for item in record(session, preview(session, _requests(3)))]
        left, settled, canceled = (job.id for job in jobs)
        engine = Engine(session.ledger, session.client, options=EngineOptions(rps=1000, wait=False))
        assert [str(o.job.status) for o in asyncio.run(engine.run([left]))] == ["running"]

        engine = Engine(session.ledger, session.client, options=EngineOptions(rps=1000))
        finish = Finisher.finish

        async def canceled_meanwhile(self: Finisher, job: Job) -> Job | None:
            if job.id == canceled:  # as `imagine cancel` from another terminal would
                session.ledger.update(job.id, "canceled", status=Status.CANCELED)
                return None
            return await finish(self, job)

        monkeypatch.setattr(Finisher, "finish", canceled_meanwhile)
        outcomes = asyncio.run(engine.run([settled, canceled]))
        assert [str(o.job.status) for o in outcomes] == ["complete", "canceled"]
        for job_id in (left, settled, canceled):
            assert leases.holder(session.ledger, job_id) is None
            assert session.ledger.require(job_id).lease_owner is None
