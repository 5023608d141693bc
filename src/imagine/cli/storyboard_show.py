"""What `imagine show NAME` prints for a storyboard: its file, its film and each panel's job."""

from __future__ import annotations

from pathlib import Path

from imagine.cli import output
from imagine.ledger.store import Ledger
from imagine.storyboard import boards


def show_storyboard(ledger: Ledger, ref: str, *, json_output: bool, by_id: bool) -> bool:
    """Print the storyboard ``ref`` names (by slug, or with ``by_id`` by id or its prefix) and
    its panels; False when there is none."""
    board = boards.find(ledger, ref, by_id=by_id)
    if board is None:
        return False
    panels = boards.panels(ledger, board.id)
    if json_output:
        from imagine import sidecar

        output.json_pretty(
            {
                "storyboard": {
                    "id": board.id,
                    "title": board.title,
                    "slug": board.slug,
                    "project_dir": board.project_dir,
                    "file": board.file_path,
                    "created_at": board.created_at,
                    "film": str(Path(board.project_dir) / "renders" / f"{board.slug}.mp4"),
                },
                "panels": [
                    {
                        "index": row.index,
                        "job_id": row.job_id,
                        "fingerprint": row.fingerprint,
                        "job": sidecar.job_document(row.job) if row.job else None,
                    }
                    for row in panels
                ],
            }
        )
        return True
    console = output.out()
    film = Path(board.project_dir) / "renders" / f"{board.slug}.mp4"
    for key, value in (
        ("storyboard", f"{board.title} ({board.slug}) {board.id}"),
        ("file", board.file_path),
        ("film", _shown(str(film)) + ("" if film.exists() else " (not stitched)")),
        ("panels", str(len(panels))),
    ):
        console.print(f"{key:>12}  {value}", markup=False, highlight=False)
    for row in panels:
        console.print(_panel_line(row), markup=False, highlight=False)
    return True


def _panel_line(row: boards.PanelRow) -> str:
    job = row.job
    if job is None:
        return f"{row.index:>12}  job {row.job_id} (removed from the ledger)"
    prompt = job.prompt or ""
    prompt = prompt if len(prompt) <= 40 else prompt[:37] + "..."
    return (
        f"{row.index:>12}  #{job.seq} {job.status} {job.mode} {job.output_seconds:g}s "
        f"{prompt!r} {_shown(job.output_path)}"
    )


def _shown(path: str) -> str:
    from imagine.cli.output import shown_path

    return shown_path(path)
