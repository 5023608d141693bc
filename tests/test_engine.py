"""The engine's in-run knowledge matches what the ledger would tell a fresh run."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from imagine.engine.runner import Engine, EngineOptions
from imagine.plan import Request
from imagine.render import preview, record
from imagine.session import Session
from imagine.spec import TEXT, RenderSpec


def _requests(count: int) -> list[Request]:
    return [
        Request(
            RenderSpec(mode=TEXT, model="grok-imagine-video", prompt=f"tide {n}", duration=1),
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
    sim = sim_factory(render_time=1.3, jitter=0.2, speed=1.0)
    monkeypatch.setenv("XAI_API_KEY", sim.api_key)
    with Session(base_url=sim.url) as session:
        first, *rest = record(session, preview(session, _requests(3)))
        engine = Engine(
            session.ledger, session.client, options=EngineOptions(rps=50, concurrency=1)
        )
        assert engine.expected(first.job) is None  # nothing of this shape has rendered yet

        outcomes = asyncio.run(engine.run([item.job.id for item in [first, *rest]]))
        assert [str(outcome.job.status) for outcome in outcomes] == ["complete"] * 3

        learned = engine.expected(first.job)
        fresh = Engine(session.ledger, session.client).expected(first.job)
        assert learned is not None and fresh is not None
        assert learned == pytest.approx(fresh, abs=1e-9)
        assert 0 < learned < 5
