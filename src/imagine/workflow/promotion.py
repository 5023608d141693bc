"""Preview, then final: a short, cheap render first, then the final render of the chosen take.

A preview records what the final would have been (its duration and resolution); promoting it
rebuilds the same request from the ledger (same prompt as sent, template version, inputs, aspect,
audio and take) at those settings, unless changed, and links the two both ways.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from imagine import sidecar
from imagine.config import Settings
from imagine.errors import UsageError
from imagine.ledger.store import Ledger
from imagine.lifecycle import EventKind, Job, Status
from imagine.media.inputs import JobFinder, image_input, video_input, video_rules
from imagine.spec import MediaInput, Mode, Origin, RenderSpec
from imagine.storage import StoreOptions
from imagine.workflow.templating import Applied


def shaped(
    spec: RenderSpec, applied: Applied | None, settings: Settings, *, preview: bool
) -> RenderSpec:
    """``spec`` (its prompt as typed) with the template filled in and, for ``--preview``, made
    short and cheap."""
    if applied is not None:
        template = applied.template
        origin = Origin(
            prompt=spec.prompt, template=template.name, template_version=template.version
        )
        spec = replace(spec, prompt=applied.prompt_sent, origin=origin)
    return as_preview(spec, settings) if preview else spec


def as_preview(spec: RenderSpec, settings: Settings) -> RenderSpec:
    """The preview of ``spec``: preview_duration seconds at preview_resolution, remembering the
    duration and resolution the final render is to have."""
    if spec.mode is Mode.EDIT:
        raise UsageError("an edit keeps its input's length and resolution: it has no --preview")
    final = {"duration": spec.duration, "resolution": spec.resolution}
    origin = replace(spec.origin or Origin(prompt=spec.prompt), preview=True, final=final)
    return replace(
        spec,
        duration=settings.preview_duration,
        resolution=settings.preview_resolution if spec.resolution else None,
        origin=origin,
    )


@dataclass(frozen=True)
class Changes:
    """What the final render changes from its preview's intent (None: keep it)."""

    duration: int | None = None
    resolution: str | None = None
    model: str | None = None


def final_spec(preview: Job, changes: Changes, find_job: JobFinder) -> RenderSpec:
    """The final render of ``preview``: its request again, at the settings meant for the final."""
    if not preview.preview:
        raise UsageError(
            f"job #{preview.seq} is not a preview (it was made without --preview): "
            "promote a preview, or render again with the options you want"
        )
    if preview.status is Status.BLOCKED:
        raise UsageError(
            f"job #{preview.seq} was blocked: its final would be too; change the prompt "
            "and make a new preview"
        )
    params = preview.params
    intent = params.get("final_options") or {}
    inputs = _inputs(preview, find_job)
    return RenderSpec.build(
        Mode(preview.mode),  # (an extension given -r is refused: it keeps its input's resolution)
        defaults=None,  # every value is the preview's, or a change of it
        prompt=preview.prompt_sent,
        model=changes.model or preview.model,
        duration=changes.duration or intent.get("duration") or preview.duration,
        aspect_ratio=preview.aspect_ratio,
        resolution=changes.resolution or intent.get("resolution") or preview.resolution,
        generate_audio=preview.generate_audio,
        image=next((item for item in inputs if item.role == "image"), None),
        references=tuple(item for item in inputs if item.role == "reference"),
        video=next((item for item in inputs if item.role == "video"), None),
        keyframes=tuple(item for item in inputs if item.role == "keyframe"),
        last_frame=next((item for item in inputs if item.role == "last_frame"), None),
        voices=tuple(str(voice) for voice in params.get("voices") or ()),
        store=_store(params.get("store")),
        user=params.get("user"),
        variation=preview.variation,
        origin=Origin(
            prompt=preview.prompt,
            template=preview.template_name,
            template_version=preview.template_version,
            preview_of=preview.id,
        ),
    )


def _inputs(preview: Job, find_job: JobFinder) -> list[MediaInput]:
    """The preview's inputs read again; each must still be what the preview was made from."""
    found = []
    for recorded in preview.inputs:
        made = _input(recorded, preview, find_job)
        expected = recorded.get("sha256")
        if expected and made.sha256 and made.sha256 != expected:
            raise UsageError(
                f"the {recorded.get('role')} {recorded.get('source')} of job #{preview.seq} has "
                "changed since the preview: the final would differ from it; make a new preview"
            )
        found.append(replace(made, source=str(recorded.get("source") or made.source)))
    return found


def _input(recorded: dict[str, Any], preview: Job, find_job: JobFinder) -> MediaInput:
    role = str(recorded.get("role"))
    kind = recorded.get("kind")
    text = recorded.get("job_id") or (
        recorded.get("url")
        if kind == "url"
        else recorded.get("path")
        if kind == "file"
        else recorded.get("source")
    )
    if not isinstance(text, str) or not text:
        raise UsageError(f"job #{preview.seq}: its {role} input cannot be found again")
    if role == "video":
        rules = video_rules(preview.mode)
        return video_input(text, rules, find_job)
    made = image_input(text, role, _FLAGS.get(role, "--ref"), find_job)
    at = recorded.get("at")
    return replace(made, at=float(at)) if isinstance(at, int | float) else made


_FLAGS = {"image": "--image", "keyframe": "--keyframe", "last_frame": "--last-frame"}


def _store(record: Any) -> StoreOptions | None:
    """The preview's --store, as its parameters recorded it (the file name is the final's own)."""
    if not isinstance(record, dict):
        return None
    expires = record.get("expires_after")
    return StoreOptions(
        public=record.get("public") is True,
        expires_after=expires if isinstance(expires, int) else None,
    )


def link(ledger: Ledger, preview: Job, final: Job) -> None:
    """Record ``final`` as the preview's final render, in the ledger and the preview's sidecar
    (the final's own sidecar names its preview from the ledger when it is written)."""
    params = preview.params
    if params.get("final") != final.id:
        params["final"] = final.id
        updated = ledger.update(preview.id, EventKind.UPDATE, params_json=json.dumps(params))
        _rewrite_sidecar(updated)
    if final.preview_of is None and final.id != preview.id:
        # An earlier render of the very same request, reused: it now stands as this final.
        _rewrite_sidecar(ledger.update(final.id, EventKind.UPDATE, preview_of=preview.id))


def _rewrite_sidecar(job: Job) -> None:
    if job.sidecar_path and Path(job.sidecar_path).is_file():
        sidecar.write(job, Path(job.sidecar_path))
