"""The job's state machine is one table, and the ledger refuses every move not in it."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

import pytest

from imagine.ledger import leases
from imagine.ledger.store import Ledger
from imagine.lifecycle import NOTES, TRANSITIONS, EventKind, IllegalTransition, Status
from tests.helpers import job_values

STATES: list[Status | None] = [None, *Status]
PAIRS = [(old, new) for old in STATES for new in Status]


def _values(status: Status = Status.QUEUED) -> dict[str, Any]:
    return job_values(status=status)


def _path_to(target: Status) -> list[tuple[Status, EventKind]]:
    """The shortest walk through the table from a new row to ``target``."""
    seen: dict[Status, list[tuple[Status, EventKind]]] = {}
    todo: deque[tuple[Status | None, list[tuple[Status, EventKind]]]] = deque([(None, [])])
    while todo:
        here, walk = todo.popleft()
        for (old, new), kinds in TRANSITIONS.items():
            if old == here and new not in seen:
                seen[new] = [*walk, (new, min(kinds))]
                todo.append((new, seen[new]))
    return seen[target]


def _job_in(ledger: Ledger, status: Status) -> str:
    """A job brought to ``status`` by legal moves only."""
    (first, _), *rest = _path_to(status)
    job = ledger.insert(_values(first))
    for new, kind in rest:
        ledger.update(job.id, kind, status=new)
    assert ledger.require(job.id).status is status
    return job.id


def _row(ledger: Ledger, job_id: str) -> tuple[dict[str, Any], int]:
    row = dict(ledger.conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())
    (events,) = ledger.conn.execute(
        "SELECT COUNT(*) FROM job_events WHERE job_id = ?", (job_id,)
    ).fetchone()
    return row, events


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    """One ledger for the module: each case makes jobs of its own."""
    with Ledger.open(tmp_path_factory.mktemp("lifecycle") / "ledger.sqlite3") as opened:
        yield opened


def test_every_status_is_reachable_and_only_unknown_and_live_ones_can_be_left() -> None:
    for status in Status:
        assert _path_to(status)[-1][0] is status
    leavable = {old for old, _ in TRANSITIONS if old is not None}
    assert leavable == {Status.QUEUED, Status.SUBMITTING, Status.RUNNING, Status.DOWNLOADING} | {
        Status.UNKNOWN
    }
    assert not any(old is not None and old.final for old, _ in TRANSITIONS)


@pytest.mark.parametrize(("old", "new"), PAIRS, ids=lambda s: str(s))
def test_each_pair_of_states_moves_only_as_the_table_says(
    ledger: Ledger, old: Status | None, new: Status
) -> None:
    allowed = TRANSITIONS.get((old, new), frozenset())
    if old is None:  # a new row: always recorded as "created"
        values = _values(new)
        if allowed:
            assert ledger.insert(values).status is new
            assert [e.event for e in ledger.events(values["id"])] == ["created"]
        else:
            with pytest.raises(IllegalTransition):
                ledger.insert(values)
            assert ledger.get(values["id"]) is None
        return
    for kind in EventKind:
        job_id = _job_in(ledger, old)
        before = _row(ledger, job_id)
        if kind in allowed:
            moved = ledger.update(job_id, kind, status=new, error_message="moved")
            assert moved.status is new
            assert ledger.require(job_id).status is new
            last = ledger.events(job_id)[-1]
            assert (last.event, last.from_status, last.to_status) == (kind, old, new)
        else:
            job = ledger.require(job_id)
            with pytest.raises(IllegalTransition):
                ledger.update(job_id, kind, status=new, error_message="moved")
            with pytest.raises(IllegalTransition):
                ledger.move(job, kind, status=new, error_message="moved")
            assert _row(ledger, job_id) == before  # nothing written, not even updated_at


@pytest.mark.parametrize("kind", list(EventKind), ids=str)
def test_only_notes_are_written_without_a_change_of_status(ledger: Ledger, kind: EventKind) -> None:
    job_id = _job_in(ledger, Status.RUNNING)
    before = _row(ledger, job_id)
    if kind in NOTES:
        assert ledger.update(job_id, kind, progress=50).status is Status.RUNNING
        assert ledger.require(job_id).progress == 50
    else:
        with pytest.raises(IllegalTransition):
            ledger.update(job_id, kind, progress=50)
        assert _row(ledger, job_id) == before


def test_a_start_is_a_move_of_the_table(ledger: Ledger) -> None:
    """`try_start` moves queued → submitting inside its own transaction, through the same check."""
    job_id = _job_in(ledger, Status.QUEUED)
    assert leases.try_start(ledger, job_id, "m", rps=1, cap=4).wait == 0
    last = ledger.events(job_id)[-1]
    assert (last.event, last.from_status, last.to_status) == ("submitting", "queued", "submitting")


def test_a_status_outside_the_vocabulary_is_refused(ledger: Ledger) -> None:
    job_id = _job_in(ledger, Status.RUNNING)
    before = _row(ledger, job_id)
    with pytest.raises(IllegalTransition):
        ledger.update(job_id, EventKind.FAILED, status="faild")
    assert _row(ledger, job_id) == before
