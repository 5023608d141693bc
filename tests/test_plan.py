"""Recording requests as jobs: each distinct request once, in chunks of one write each."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from imagine.session import Session
from imagine.spec import Mode, RenderSpec
from imagine.workflow import plan
from imagine.workflow.plan import Request
from imagine.workflow.steps import preview, record


def _request(prompt: str) -> Request:
    return Request(
        RenderSpec(mode=Mode.TEXT, model="grok-imagine-video", prompt=prompt, duration=1),
        "renders/{slug}",
    )


def test_a_batch_over_several_chunks_records_each_distinct_request_once(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan, "RECORD_CHUNK", 4)
    monkeypatch.setenv("XAI_API_KEY", "xai-test-key-0000000000")
    # Repeats inside one chunk (lines 1-2) and across chunks (lines 3 and 9).
    prompts = ["tide", "tide", "reef", "dune", "kelp", "gull", "surf", "foam", "reef", "moss"]
    with Session(base_url="http://127.0.0.1:9") as session:
        planned = record(session, preview(session, [_request(p) for p in prompts]))
        actions = [item.action for item in planned]
        new, attached = plan.Action.NEW, plan.Action.ATTACHED
        assert actions == [new, attached, *[new] * 6, attached, new]
        assert planned[1].job.id == planned[0].job.id
        assert planned[8].job.id == planned[2].job.id
        rows = session.ledger.jobs()
        assert sorted(job.prompt or "" for job in rows) == sorted(set(prompts))
        assert len({job.output_path for job in rows}) == len(rows)  # every file name its own
        again = record(session, preview(session, [_request(p) for p in prompts]))
        assert {item.action for item in again} == {plan.Action.ATTACHED}
        assert len(session.ledger.jobs()) == len(set(prompts))


def test_a_chunk_that_fails_part_way_records_none_of_its_jobs(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan, "RECORD_CHUNK", 3)
    monkeypatch.setenv("XAI_API_KEY", "xai-test-key-0000000000")
    calls = {"n": 0}
    real = plan._record

    def failing(*args: Any, **kwargs: Any) -> plan.Planned:
        calls["n"] += 1
        if calls["n"] == 5:  # the second request of the second chunk
            raise sqlite3.OperationalError("disk I/O error")
        return real(*args, **kwargs)

    monkeypatch.setattr(plan, "_record", failing)
    with Session(base_url="http://127.0.0.1:9") as session:
        requests = [_request(f"wave {n}") for n in range(6)]
        with pytest.raises(sqlite3.OperationalError):
            record(session, preview(session, requests))
        # The first chunk was committed whole; nothing of the second remains.
        assert sorted(job.prompt or "" for job in session.ledger.jobs()) == [
            "wave 0",
            "wave 1",
            "wave 2",
        ]
