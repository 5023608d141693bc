"""The JSON sidecar beside every MP4, and the one JSON shape of a job (`show --json`, `gen --json`).

Schema changes bump SCHEMA_VERSION and add a step to ``upgrade`` so older sidecars stay readable.
Never holds the API key, nor inline input data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from imagine import __version__, clock
from imagine.atomic import write_atomic
from imagine.lifecycle import Job
from imagine.money import pricing

SCHEMA = "imagine.sidecar"
SCHEMA_VERSION = 1


def job_document(job: Job) -> dict[str, Any]:
    """Everything known about a job, in the sidecar's shape."""
    params = job.params
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "ai_generated": True,
        "id": job.id,
        "number": job.seq,
        "parent_id": job.parent_id,
        "status": str(job.status),
        "request_id": job.request_id,
        "fingerprint": job.fingerprint,
        "model": job.model,
        "mode": job.mode,
        "prompt": {
            "raw": job.prompt,
            "sent": job.prompt_sent,
            "template": job.template_name,
            "template_version": job.template_version,
        },
        "template": (
            {"name": job.template_name, "version": job.template_version}
            if job.template_name
            else None
        ),
        "preview": job.preview,
        "preview_of": job.preview_of,
        "final": params.get("final"),
        "parameters": {
            "duration": job.duration,
            "aspect_ratio": job.aspect_ratio,
            "resolution": job.resolution,
            "generate_audio": job.generate_audio,
            "variation": job.variation,
            # The newer inputs, only when the request had them.
            **{
                key: params[key]
                for key in ("keyframes", "voices", "store", "user")
                if key in params
            },
        },
        "inputs": job.inputs,
        "provider": _provider(job),
        "timestamps": {
            "created": job.created_at,
            "submitted": job.submitted_at,
            "completed": job.completed_at,
            "downloaded": job.downloaded_at,
        },
        "durations_ms": {
            "queued": clock.ms_between(job.created_at, job.submitted_at),
            "render": clock.ms_between(job.submitted_at, job.completed_at),
            "total": clock.ms_between(job.created_at, job.downloaded_at or job.completed_at),
        },
        "cost": _cost(job),
        "moderation": {"outcome": job.moderation},
        "report": {"at": job.reported_at, "reason": job.report_reason} if job.reported_at else None,
        "consent": params.get("consent"),
        "error": (
            {"code": job.error_code, "message": job.error_message}
            if job.error_code or job.error_message
            else None
        ),
        "file": _file(job),
        "file_output": json.loads(job.file_output_json) if job.file_output_json else None,
        "review_state": job.review_state or "pending",  # approved | rejected | pending
        "reviewed_at": job.reviewed_at,
        "tool": {"name": "imagine", "version": __version__},
    }


def _provider(job: Job) -> dict[str, Any]:
    return {
        "base_url": job.base_url,
        "route": job.route,
        "request": json.loads(job.request_json) if job.request_json else None,
        "response": job.response,
        "video_url": job.video_url,
        "video_duration": job.video_duration,
        "polls": job.poll_count,
    }


def _cost(job: Job) -> dict[str, Any]:
    actual = pricing.ticks_to_usd(job.cost_ticks) if job.cost_ticks is not None else None
    return {
        "estimate_usd": round(job.cost_estimate_usd, 4) if job.cost_estimate_usd else None,
        "price_per_second_usd": job.price_per_second_usd,
        "actual_usd": round(actual, 6) if actual is not None else None,
        "actual_ticks": job.cost_ticks,
    }


def _relative(path: str | None, project_dir: str) -> str | None:
    """Paths inside the project relative to it, so a sidecar stays true when the folder moves."""
    if path is None:
        return None
    try:
        return Path(path).relative_to(project_dir).as_posix()
    except ValueError:
        return path


def _file(job: Job) -> dict[str, Any]:
    info = job.file_info or {}
    return {
        "path": _relative(job.output_path, job.project_dir),
        "sidecar": _relative(job.sidecar_path, job.project_dir),
        "bytes": job.file_bytes,
        "sha256": job.file_sha256,
        "duration": info.get("duration"),
        "width": info.get("width"),
        "height": info.get("height"),
        "video_codec": info.get("video_codec"),
        "audio_codec": info.get("audio_codec"),
        "has_audio": info.get("has_audio"),
        "poster": _relative(
            str(Path(job.output_path).with_name(info["poster"])) if info.get("poster") else None,
            job.project_dir,
        ),
        # The AI-generated tags written into the MP4 (media/label.py), or why it has none.
        "label": info.get("label"),
    }


def write(job: Job, path: Path) -> None:
    document = job_document(job)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    write_atomic(path, text.encode("utf-8"))


def read(path: Path) -> dict[str, Any]:
    """A sidecar of any schema version, upgraded to the current shape."""
    document = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise ValueError(f"{path} is not an imagine sidecar")
    return upgrade(document)


def upgrade(document: dict[str, Any]) -> dict[str, Any]:
    version = int(document.get("schema_version", 0))
    if version > SCHEMA_VERSION:
        raise ValueError(
            f"sidecar schema {version} is newer than this imagine understands ({SCHEMA_VERSION})"
        )
    return document
