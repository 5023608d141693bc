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
from imagine.ledger.store import Ledger
from imagine.lifecycle import Job, Status
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
            # (RenderFiles.of_file, spelled with strings)
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
    """Complete renders in a project folder by fingerprint, kept in the ledger.

    The folder is walked once per ledger (the first time a request in it is new to the ledger):
    every complete render whose sidecar the ledger has no job for is recorded by fingerprint in
    ``found_renders``, and the folder is stamped as indexed. From then on a lookup is one indexed
    query, however many renders the folder holds; renders made here reach the ledger as jobs
    anyway. A fresh ledger (a clone, a CI runner restoring ``renders/`` without its ledger)
    has never indexed the folder, so it walks it and finds what was rendered elsewhere.

    Renders the ledger already has as complete jobs are passed over unread during the walk: the
    ledger answers for those (by fingerprint, before this index is asked)."""

    def __init__(self, project: Project, ledger: Ledger) -> None:
        self.project = project
        self.ledger = ledger
        self._ready = False

    def _ensure_indexed(self) -> None:
        if self._ready:
            return
        if not self.ledger.folder_indexed(self.project.root):
            self.ledger.index_folder(self.project.root, self._walk())
        self._ready = True

    def _walk(self) -> list[tuple[str, str]]:
        known = self.ledger.complete_outputs(self.project.root)
        found = []
        for path in _sidecars(self.project.root, known):
            document = _read(path)
            if document is not None and _intact(document, path):
                found.append((str(path), str(document.get("fingerprint"))))
        return found

    def find(self, fingerprint: str) -> Found | None:
        """A render of this request on disk, checked again now (it may have gone since)."""
        self._ensure_indexed()
        for sidecar in self.ledger.found_renders(self.project.root, fingerprint):
            path = Path(sidecar)
            document = _read(path)
            if (
                document is not None
                and str(document.get("fingerprint")) == fingerprint
                and _intact(document, path)
            ):
                return Found(document, RenderFiles.of_file(path).video, path)
        return None


def _intact(document: dict[str, Any], sidecar: Path) -> bool:
    """A complete render whose MP4 is beside its sidecar with the size the sidecar records."""
    if document.get("status") != "complete":
        return False
    video = RenderFiles.of_file(sidecar).video
    expected = (document.get("file") or {}).get("bytes")
    try:
        return video.is_file() and video.stat().st_size == expected
    except OSError:
        return False


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
    values.update(_template_and_preview(ledger, doc))
    clean = {key: value for key, value in values.items() if value is not None}
    return ledger.insert(clean, detail={"imported_from": str(found.sidecar)})


def _template_and_preview(ledger: Ledger, doc: dict[str, Any]) -> dict[str, Any]:
    """The template a render was made with and its preview link, as far as the sidecar (a file
    anyone may have edited) says so plainly; a link to a job this ledger lacks is left out."""
    given = doc.get("template")
    template: dict[str, Any] = given if isinstance(given, dict) else {}
    name, version = template.get("name"), template.get("version")
    preview_of = doc.get("preview_of")
    return {
        "template_name": name if isinstance(name, str) else None,
        "template_version": version if type(version) is int else None,
        "preview": doc.get("preview") is True,
        "preview_of": (
            preview_of
            if isinstance(preview_of, str) and ledger.get(preview_of) is not None
            else None
        ),
    }


def _file_info(file: dict[str, Any], video: Path) -> dict[str, Any]:
    keys = ("duration", "width", "height", "video_codec", "audio_codec", "has_audio")
    info = {key: file[key] for key in keys if key in file}
    if file.get("poster"):
        info["poster"] = Path(file["poster"]).name
    info["probed"] = file.get("duration") is not None
    return info
