"""Finding renders already paid for by their sidecars, so that a project whose renders/ folder was
restored on a fresh machine (a CI cache, a clone) does not pay for them again.

A sidecar counts only if its MP4 is beside it with the size it records. A match is imported into
the ledger as a complete job, so `imagine list` and later runs know it too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagine.ids import new_id
from imagine.jobs import Job, Status
from imagine.ledger.store import Ledger
from imagine.project import Project
from imagine.render_files import RenderFiles
from imagine.sidecar import SCHEMA, upgrade

SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".imagine"}
MAX_SIDECAR_BYTES = 1 << 20


@dataclass(frozen=True)
class Found:
    document: dict[str, Any]
    video: Path
    sidecar: Path


def _sidecars(root: Path, passed_over: set[str]) -> Iterator[Path]:
    """The JSON files under ``root`` whose MP4's path is not in ``passed_over`` (compared as
    strings, so the thousands of known renders in a big project cost no Path objects)."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")]
        for name in files:
            if not name.endswith(".json"):
                continue
            # (RenderFiles.of_sidecar, spelled with strings)
            if os.path.join(folder, name[: -len(".json")] + ".mp4") not in passed_over:
                yield Path(folder) / name


def _read(path: Path) -> dict[str, Any] | None:
    try:
        if path.stat().st_size > MAX_SIDECAR_BYTES:
            return None
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        return None
    try:
        return upgrade(document)
    except ValueError:
        return None


class SidecarIndex:
    """Complete renders in a project folder by fingerprint, read once, on first use.

    Renders the ledger already has as complete jobs are passed over unread: the ledger answers
    for those (by fingerprint, before this index is asked), and a project's folder holds
    mostly them. Reading every sidecar would make each new request in a project of thousands
    of renders wait for thousands of files."""

    def __init__(self, project: Project, ledger: Ledger) -> None:
        self.project = project
        self.ledger = ledger
        self._by_fingerprint: dict[str, Found] | None = None

    def _build(self) -> dict[str, Found]:
        found: dict[str, Found] = {}
        known = self.ledger.complete_outputs(self.project.root)
        for path in _sidecars(self.project.root, known):
            document = _read(path)
            if document is None or document.get("status") != "complete":
                continue
            video = RenderFiles.of_sidecar(path).video
            expected = (document.get("file") or {}).get("bytes")
            if video.is_file() and video.stat().st_size == expected:
                found.setdefault(str(document.get("fingerprint")), Found(document, video, path))
        return found

    def find(self, fingerprint: str) -> Found | None:
        if self._by_fingerprint is None:
            self._by_fingerprint = self._build()
        return self._by_fingerprint.get(fingerprint)


def import_render(ledger: Ledger, found: Found, project: Project) -> Job:
    """Record a render found on disk as a complete job (or return the job it already is)."""
    doc = found.document
    existing = ledger.get(str(doc.get("id")))
    if existing is not None and existing.status is Status.COMPLETE:
        return existing
    params, times, cost = (
        doc.get("parameters") or {},
        doc.get("timestamps") or {},
        doc.get("cost") or {},
    )
    provider, file = doc.get("provider") or {}, doc.get("file") or {}
    values = {
        "id": doc["id"] if existing is None else new_id(),
        "status": Status.COMPLETE,
        "mode": doc.get("mode") or "text",
        "model": doc.get("model") or "",
        "route": provider.get("route") or "",
        "prompt": (doc.get("prompt") or {}).get("raw"),
        "prompt_sent": (doc.get("prompt") or {}).get("sent"),
        "duration": params.get("duration"),
        "aspect_ratio": params.get("aspect_ratio"),
        "resolution": params.get("resolution"),
        "generate_audio": params.get("generate_audio", True),
        "variation": params.get("variation") or 1,
        "params_json": json.dumps(params),
        "inputs_json": json.dumps(doc.get("inputs") or []),
        "fingerprint": doc["fingerprint"],
        "base_url": provider.get("base_url") or "",
        "project_dir": str(project.root),
        "output_path": str(found.video),
        "sidecar_path": str(found.sidecar),
        "request_id": doc.get("request_id"),
        "video_url": provider.get("video_url"),
        "video_duration": provider.get("video_duration"),
        "moderation": (doc.get("moderation") or {}).get("outcome"),
        "cost_estimate_usd": cost.get("estimate_usd"),
        "price_per_second_usd": cost.get("price_per_second_usd"),
        "cost_ticks": cost.get("actual_ticks"),
        "request_json": json.dumps(provider.get("request")) if provider.get("request") else None,
        "response_json": json.dumps(provider.get("response")) if provider.get("response") else None,
        "file_sha256": file.get("sha256"),
        "file_bytes": file.get("bytes"),
        "file_json": json.dumps(_file_info(file, found.video)),
        "created_at": times.get("created"),
        "submitted_at": times.get("submitted"),
        "completed_at": times.get("completed"),
        "downloaded_at": times.get("downloaded"),
    }
    clean = {key: value for key, value in values.items() if value is not None}
    return ledger.insert(clean, detail={"imported_from": str(found.sidecar)})


def _file_info(file: dict[str, Any], video: Path) -> dict[str, Any]:
    keys = ("duration", "width", "height", "video_codec", "audio_codec", "has_audio")
    info = {key: file[key] for key in keys if key in file}
    if file.get("poster"):
        info["poster"] = Path(file["poster"]).name
    info["probed"] = file.get("duration") is not None
    return info
