"""Storyboards in the ledger (migration 008): which job each panel of a storyboard is.

A storyboard is known by its slug within its project; running the file again keeps its id and
points each panel at the job it now is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from imagine import clock, ids
from imagine.errors import JobNotFound
from imagine.ledger.store import Ledger
from imagine.lifecycle import Job


@dataclass(frozen=True)
class BoardRow:
    id: str
    title: str
    slug: str
    project_dir: str
    file_path: str
    created_at: str


@dataclass(frozen=True)
class PanelRow:
    index: int
    job_id: str
    fingerprint: str
    job: Job | None  # None once the job was removed from the ledger


def save(
    ledger: Ledger,
    *,
    title: str,
    slug: str,
    project_dir: Path,
    file_path: Path,
    panels: Sequence[tuple[int, Job]],
) -> str:
    """Record the storyboard and its panels' jobs in one transaction; its id."""
    with ledger.transaction() as conn:
        row = conn.execute(
            "SELECT id FROM storyboards WHERE project_dir = ? AND slug = ?",
            (str(project_dir), slug),
        ).fetchone()
        board_id = row[0] if row else ids.new_id()
        if row is None:
            conn.execute(
                "INSERT INTO storyboards (id, title, slug, project_dir, file_path, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (board_id, title, slug, str(project_dir), str(file_path), clock.iso()),
            )
        else:
            conn.execute(
                "UPDATE storyboards SET title = ?, file_path = ? WHERE id = ?",
                (title, str(file_path), board_id),
            )
        conn.execute("DELETE FROM storyboard_panels WHERE storyboard_id = ?", (board_id,))
        conn.executemany(
            "INSERT INTO storyboard_panels (storyboard_id, panel_index, job_id, fingerprint)"
            " VALUES (?, ?, ?, ?)",
            [(board_id, index, job.id, job.fingerprint) for index, job in panels],
        )
    return str(board_id)


def find(ledger: Ledger, ref: str, *, by_id: bool) -> BoardRow | None:
    """A storyboard by its slug (the newest of that name when several projects have one), or
    with ``by_id`` by its id or a unique prefix of it (4+ characters)."""
    text = ref.strip().lower()
    if not re.fullmatch(r"[0-9a-z-]+", text):
        return None
    columns = "id, title, slug, project_dir, file_path, created_at"
    if not by_id:
        row = ledger.conn.execute(
            f"SELECT {columns} FROM storyboards WHERE slug = ? ORDER BY created_at DESC LIMIT 1",
            (text,),
        ).fetchone()
        return BoardRow(*row) if row else None
    if len(text) < 4:
        return None
    rows = ledger.conn.execute(
        f"SELECT {columns} FROM storyboards WHERE id >= ? AND id < ? LIMIT 2",
        (text, text + "~"),
    ).fetchall()
    if len(rows) > 1:
        raise JobNotFound(f"{ref!r} matches several storyboards: give more of the id")
    return BoardRow(*rows[0]) if rows else None


def panels(ledger: Ledger, board_id: str) -> list[PanelRow]:
    rows = ledger.conn.execute(
        "SELECT panel_index, job_id, fingerprint FROM storyboard_panels"
        " WHERE storyboard_id = ? ORDER BY panel_index",
        (board_id,),
    ).fetchall()
    return [
        PanelRow(index, job_id, fingerprint, ledger.get(job_id))
        for index, job_id, fingerprint in rows
    ]
