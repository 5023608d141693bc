"""The storyboard's results beside its panels: the stitched film, its captions (WebVTT) and the
storyboard sidecar listing panels, jobs, timings and cost.

    renders/<slug>/        each panel's MP4 and sidecar (jobs like any other)
    renders/<slug>.mp4     the film
    renders/<slug>.vtt     the captions, timed to the film (only when a panel has one)
    renders/<slug>.json    the storyboard sidecar
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagine import __version__, clock
from imagine.atomic import write_atomic
from imagine.lifecycle import Job
from imagine.money.pricing import ticks_to_usd
from imagine.project import Project
from imagine.storyboard.parse import Continuity, Storyboard
from imagine.storyboard.stitch import Clip, Placed, Stitched, clip_seconds, stitch

SCHEMA = "imagine.storyboard"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Film:
    stitched: Stitched
    captions: Path | None
    sidecar: Path
    total_usd: float
    document: dict[str, Any]  # the sidecar's content


def film_path(project: Project, board: Storyboard) -> Path:
    return project.root / "renders" / f"{board.slug}.mp4"


def assemble(
    project: Project,
    board: Storyboard,
    jobs: Mapping[int, Job],
    *,
    board_id: str,
    actions: Mapping[int, str],
) -> Film:
    """Stitch the panels' finished jobs (by panel index) and write the captions and sidecar."""
    target = film_path(project, board)
    clips = [_clip(board, panel.index, jobs) for panel in board.panels]
    stitched = stitch(clips, target)
    captions = _write_captions(board, stitched.placed, target.with_suffix(".vtt"))
    costs = {index: job_cost(job) for index, job in jobs.items()}
    total = round(sum(costs.values()), 6)
    document = _document(board, board_id, stitched, captions, jobs, actions, costs, total, project)
    sidecar = target.with_suffix(".json")
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    write_atomic(sidecar, text.encode("utf-8"))
    return Film(stitched, captions, sidecar, total, document)


def _clip(board: Storyboard, index: int, jobs: Mapping[int, Job]) -> Clip:
    panel = board.panels[index - 1]
    skip = 0.0
    if panel.continuity is Continuity.EXTEND:
        # The extension's clip begins with the whole clip it extends, already in the film.
        skip = clip_seconds(Path(jobs[index - 1].output_path))
    return Clip(Path(jobs[index].output_path), skip, panel.transition)


def job_cost(job: Job) -> float:
    """What a job cost (the provider's figure), else what it was estimated to."""
    if job.cost_ticks is not None:
        return ticks_to_usd(job.cost_ticks)
    return float(job.cost_estimate_usd or 0.0)


# --- captions ----------------------------------------------------------------------------------


def _write_captions(board: Storyboard, placed: Sequence[Placed], target: Path) -> Path | None:
    """WebVTT cues, one per captioned panel, from the middle of the crossfade into it to the
    middle of the one out of it (so cues never overlap). No captions: no file (an old one goes)."""
    cues = [
        (place.start + place.fade_in / 2, place.end - place.fade_out / 2, panel.caption)
        for panel, place in zip(board.panels, placed, strict=True)
        if panel.caption
    ]
    if not cues:
        target.unlink(missing_ok=True)
        return None
    lines = ["WEBVTT", ""]
    for number, (start, end, text) in enumerate(cues, start=1):
        lines += [str(number), f"{_timestamp(start)} --> {_timestamp(end)}", _cue_text(text), ""]
    write_atomic(target, "\n".join(lines).encode("utf-8"))
    return target


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def _cue_text(text: str) -> str:
    """A caption as cue text: markup characters escaped, no blank line (it would end the cue),
    no arrow (it would read as a timing line)."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    lines = [line.strip() for line in escaped.replace("\r", "\n").split("\n")]
    return "\n".join(line for line in lines if line)


# --- sidecar -----------------------------------------------------------------------------------


def _document(
    board: Storyboard,
    board_id: str,
    stitched: Stitched,
    captions: Path | None,
    jobs: Mapping[int, Job],
    actions: Mapping[int, str],
    costs: Mapping[int, float],
    total: float,
    project: Project,
) -> dict[str, Any]:
    def relative(path: Path | str) -> str:
        try:
            return Path(path).relative_to(project.root).as_posix()
        except ValueError:
            return str(path)

    panels = []
    for panel, place in zip(board.panels, stitched.placed, strict=True):
        job = jobs[panel.index]
        panels.append(
            {
                "index": panel.index,
                "prompt": panel.prompt,
                "continuity": str(panel.continuity),
                "transition": str(panel.transition),
                "caption": panel.caption,
                "job": {
                    "id": job.id,
                    "number": job.seq,
                    "status": str(job.status),
                    "fingerprint": job.fingerprint,
                    "file": relative(job.output_path),
                    "sidecar": relative(Path(job.output_path).with_suffix(".json")),
                    "this_run": actions.get(panel.index),
                },
                "film": {
                    "start": round(place.start, 3),
                    "end": round(place.end, 3),
                    "crossfade_in": round(place.fade_in, 3),
                    "crossfade_out": round(place.fade_out, 3),
                },
                "cost_usd": round(costs[panel.index], 6),
            }
        )
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "ai_generated": True,
        "id": board_id,
        "title": board.title,
        "slug": board.slug,
        "source": str(board.source),
        "film": {
            "path": relative(stitched.path),
            "captions": relative(captions) if captions else None,
            "duration": round(stitched.duration, 3),
            "width": stitched.width,
            "height": stitched.height,
            "fps": stitched.fps,
            "has_audio": stitched.audio,
        },
        "panels": panels,
        "total_cost_usd": total,
        "stitched_at": clock.iso(),
        "tool": {"name": "imagine", "version": __version__},
    }
