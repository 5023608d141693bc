"""What to render: a validated request, its exact JSON body, and its fingerprint.

Validation here happens before anything is recorded or sent; where the API has its own message for a
rule, the message is the API's, followed by what would work instead.

Every request is made by ``RenderSpec.build``: `gen`, `edit`, `extend`, a batch line, a storyboard
panel and a promoted preview alike. It holds what a kind of request takes and keeps (an edit keeps its
input's length, aspect and resolution; an extension its aspect and resolution, and adds 6 s unless
told) and what it takes from the settings when it does not say; ``validate`` holds what the API refuses.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from imagine.api import contract
from imagine.errors import UsageError
from imagine.storage import StoreOptions
from imagine.storage import check as check_store


class Mode(StrEnum):
    """What kind of render a request is: the API route it goes to, and the rules it follows."""

    TEXT = "text"
    IMAGE = "image"
    REFERENCE = "reference"
    EDIT = "edit"
    EXTEND = "extend"


GENERATIONS = (Mode.TEXT, Mode.IMAGE, Mode.REFERENCE)

ROUTES = {
    Mode.TEXT: contract.ROUTE_GENERATIONS,
    Mode.IMAGE: contract.ROUTE_GENERATIONS,
    Mode.REFERENCE: contract.ROUTE_GENERATIONS,
    Mode.EDIT: contract.ROUTE_EDITS,
    Mode.EXTEND: contract.ROUTE_EXTENSIONS,
}


@dataclass(frozen=True)
class MediaInput:
    """One input file or URL, held by reference: the ledger keeps its path and hash, never its bytes."""

    role: str  # "image", "reference", "video", "keyframe" or "last_frame"
    source: str  # what the user gave: a path, a URL, a file id or a job reference
    kind: str  # "file", "url", "file_id" or "job"
    sent_as: str  # "data_url", "file_id" or "url"
    value: str = field(repr=False)  # what goes in the body: a URL, data URL or file id
    sha256: str | None = None
    mime: str | None = None
    size: int | None = None
    path: str | None = None
    seconds: float | None = None
    width: int | None = None
    height: int | None = None
    job_id: str | None = None
    at: float | None = None  # a keyframe's time inside the clip, in seconds

    def api_object(self) -> dict[str, str]:
        if self.sent_as == "file_id":
            # Uploaded through the Files API at submit time; the id is not known before.
            return {"file_id": self.value or f"<uploaded at submit: {Path(self.path or '').name}>"}
        return {"url": self.value}

    def reference(self) -> dict[str, Any]:
        """How this input is recorded in the ledger and the sidecar (no data URL, ever)."""
        record: dict[str, Any] = {
            "role": self.role,
            "source": self.source,
            "kind": self.kind,
            "sent_as": self.sent_as,
            "sha256": self.sha256,
            "mime": self.mime,
            "bytes": self.size,
        }
        if self.path:
            record["path"] = self.path
        if self.sent_as == "url":
            record["url"] = self.value
        if self.sent_as == "file_id":
            record["file_id"] = self.value
        for key in ("seconds", "width", "height", "job_id", "at"):
            if getattr(self, key) is not None:
                record[key] = getattr(self, key)
        return record

    def identity(self) -> str:
        """What makes two inputs the same for the fingerprint: content hash, else the URL."""
        return self.sha256 or self.value


@dataclass(frozen=True)
class Origin:
    """Where a request came from, recorded beside it and never sent (nor fingerprinted: two
    requests that send the same thing are the same render)."""

    prompt: str | None = None  # as the user typed it, before a template filled it in
    template: str | None = None
    template_version: int | None = None
    preview: bool = False  # a short, cheap render standing in for ``final``
    final: Mapping[str, Any] | None = None  # a preview's intended duration and resolution
    preview_of: str | None = None  # the preview this final render was promoted from


class Defaults(Protocol):
    """What a request takes where it does not say: the settings in force (``config.Settings``:
    built-in, config files, a template's defaults, then the command's flags)."""

    @property
    def model(self) -> str: ...
    @property
    def duration(self) -> int: ...
    @property
    def aspect(self) -> str: ...
    @property
    def resolution(self) -> str: ...
    @property
    def audio(self) -> bool: ...
    @property
    def user(self) -> str | None: ...


# What an edit and an extension keep of their input video, and so are never given: the field, the
# words for it, and the flag that would give it.
KEEPS: dict[Mode, tuple[tuple[str, str, str], ...]] = {
    Mode.EDIT: (
        ("duration", "length", "-d/--duration"),
        ("aspect_ratio", "aspect ratio", "-a/--aspect"),
        ("resolution", "resolution", "-r/--resolution"),
    ),
    Mode.EXTEND: (
        ("aspect_ratio", "aspect ratio", "-a/--aspect"),
        ("resolution", "resolution", "-r/--resolution"),
    ),
}
_NAMED = {Mode.EDIT: "an edit", Mode.EXTEND: "an extension"}


def generation_mode(image: MediaInput | None, references: Sequence[MediaInput]) -> Mode:
    """Which generation a request is, by its inputs: reference images, a first frame, or text."""
    return Mode.REFERENCE if references else Mode.IMAGE if image else Mode.TEXT


def duration_for(mode: Mode, given: int | None, default: int | None = None) -> int | None:
    """The seconds a request renders: what it says; else a generation's ``default`` (the
    settings'), an extension's EXTENSION_DEFAULT_DURATION added seconds (the settings' duration is
    a generation's), and an edit none: it keeps its input's length."""
    if mode is Mode.EDIT:
        return None
    if given is not None:
        return given
    if mode is Mode.EXTEND:
        return contract.EXTENSION_DEFAULT_DURATION
    if default is None:
        raise ValueError(f"a {mode} request needs a duration or a default one")
    return default


@dataclass(frozen=True)
class RenderSpec:
    """One request as it will be sent. Made by ``RenderSpec.build``, which applies the rules of
    its kind; the constructor takes any values (tests, and the ledger's own records)."""

    mode: Mode
    model: str
    prompt: str | None
    duration: int | None = contract.DEFAULT_DURATION
    aspect_ratio: str | None = "16:9"
    resolution: str | None = "480p"
    generate_audio: bool = True
    image: MediaInput | None = None
    references: tuple[MediaInput, ...] = ()
    video: MediaInput | None = None
    variation: int = 1
    origin: Origin | None = None  # None: the prompt was sent as typed, no template or preview
    keyframes: tuple[MediaInput, ...] = ()
    last_frame: MediaInput | None = None
    voices: tuple[str, ...] = ()
    store: StoreOptions | None = None
    user: str | None = None  # the end user, for xAI's abuse monitoring

    @classmethod
    def build(
        cls,
        mode: Mode | None = None,
        *,
        defaults: Defaults | None,
        prompt: str | None,
        model: str | None = None,
        duration: int | None = None,
        aspect_ratio: str | None = None,
        resolution: str | None = None,
        generate_audio: bool | None = None,
        image: MediaInput | None = None,
        references: Sequence[MediaInput] = (),
        video: MediaInput | None = None,
        keyframes: Sequence[MediaInput] = (),
        last_frame: MediaInput | None = None,
        voices: Sequence[str] = (),
        store: StoreOptions | None = None,
        user: str | None = None,
        variation: int = 1,
        origin: Origin | None = None,
    ) -> RenderSpec:
        """The request of one kind: ``mode`` edit or extend (``video`` is the clip), or a
        generation (None, or any of text, image and reference: which one follows from ``image``
        and ``references``). A value not given is the kind's default: ``duration_for``, else the
        ``defaults`` (None: every value the kind takes is given, and no ``user``). A value the
        kind keeps from its input (``KEEPS``) is refused with the flag to drop; what the API
        refuses is ``validate``'s, called once the request has its final shape (a template
        filled in, a --preview made short)."""
        if mode is None or mode in GENERATIONS:
            mode = generation_mode(image, references)
        _refuse_kept(mode, duration=duration, aspect_ratio=aspect_ratio, resolution=resolution)
        generation = mode in GENERATIONS
        if (video is None) != generation:
            raise ValueError(f"a {mode} request {'takes no' if video else 'needs a'} video")
        return cls(
            mode=mode,
            model=model or _default(defaults, "model"),
            prompt=prompt,
            duration=duration_for(mode, duration, defaults.duration if defaults else None),
            aspect_ratio=(aspect_ratio or _default(defaults, "aspect")) if generation else None,
            resolution=(resolution or _default(defaults, "resolution")) if generation else None,
            generate_audio=(
                generate_audio if generate_audio is not None else _default(defaults, "audio")
            ),
            image=image,
            references=tuple(references),
            video=video,
            variation=variation,
            origin=origin,
            keyframes=tuple(keyframes),
            last_frame=last_frame,
            voices=tuple(voices),
            store=store,
            user=user or (defaults.user if defaults else None),
        )

    @property
    def route(self) -> str:
        return ROUTES[self.mode]

    @property
    def raw_prompt(self) -> str | None:
        """The prompt as the user typed it (``prompt`` is the one sent)."""
        return self.origin.prompt if self.origin and self.origin.template else self.prompt

    @property
    def inputs(self) -> list[MediaInput]:
        found = [self.image, *self.references, self.video, *self.keyframes, self.last_frame]
        return [item for item in found if item is not None]

    @property
    def output_seconds(self) -> float:
        """Length of the video this request produces (edits keep the input's; extensions add)."""
        if self.mode == Mode.EDIT:
            return float(self.video.seconds or 0) if self.video else 0.0
        if self.mode == Mode.EXTEND:
            base = float(self.video.seconds or 0) if self.video else 0.0
            return base + float(duration_for(Mode.EXTEND, self.duration) or 0)
        return float(self.duration or contract.DEFAULT_DURATION)

    @property
    def billed_resolution(self) -> str:
        if self.resolution:
            return self.resolution
        height = min(self.video.width or 0, self.video.height or 0) if self.video else 0
        return "720p" if height >= 720 else "480p"

    def body(self) -> dict[str, Any]:
        """The exact JSON body sent to the API."""
        body: dict[str, Any] = {"model": self.model}
        if self.prompt:
            body["prompt"] = self.prompt
        if self.mode in (Mode.TEXT, Mode.IMAGE, Mode.REFERENCE):
            body["duration"] = self.duration
            body["aspect_ratio"] = self.aspect_ratio
            body["resolution"] = self.resolution
        if self.mode == Mode.EXTEND:
            body["duration"] = self.duration
        if self.image:
            body["image"] = self.image.api_object()
        if self.references:
            body["reference_images"] = [item.api_object() for item in self.references]
        if self.video:
            body["video"] = self.video.api_object()
        if not self.generate_audio:
            body["generate_audio"] = False
        if self.keyframes:
            body["keyframes"] = [
                {"image": item.api_object(), "timestamp_s": item.at} for item in self.keyframes
            ]
        if self.last_frame:
            body["last_frame"] = self.last_frame.api_object()
        if self.voices:
            body["reference_audios"] = [{"voice_id": voice} for voice in self.voices]
        if self.store:
            body["storage_options"] = self.store.api_object()
        if self.user:
            body["user"] = self.user
        return body

    def recorded_body(self) -> dict[str, Any]:
        """The body as the ledger keeps it: inline data replaced by a reference to its hash."""
        return recorded(self.body())

    def params(self) -> dict[str, Any]:
        return {
            "duration": self.duration,
            "aspect_ratio": self.aspect_ratio,
            "resolution": self.resolution,
            "generate_audio": self.generate_audio,
            "variation": self.variation,
            "output_seconds": self.output_seconds,
            **self._extras(),
        }

    def _extras(self) -> dict[str, Any]:
        """The newer inputs, only when used (older jobs' parameters keep their shape)."""
        extras: dict[str, Any] = {}
        if self.keyframes:
            extras["keyframes"] = [item.at for item in self.keyframes]
        if self.voices:
            extras["voices"] = list(self.voices)
        if self.store:
            extras["store"] = self.store.record()
        if self.user:
            extras["user"] = self.user
        return extras

    def fingerprint(self, base_url: str) -> str:
        """Same request to the same provider → same fingerprint → rendered (and paid for) once."""
        identity: dict[str, Any] = {
            "provider": provider_identity(base_url),
            "route": self.route,
            "mode": self.mode,
            "model": self.model,
            "prompt": self.prompt,
            "duration": self.duration,
            "aspect_ratio": self.aspect_ratio,
            "resolution": self.resolution,
            "generate_audio": self.generate_audio,
            "inputs": [_identity(item) for item in self.inputs],
            "variation": self.variation,
        }
        # Added only when used, so that every earlier request keeps its fingerprint. The user is
        # not part of it: who asked does not change the video.
        if self.voices:
            identity["voices"] = list(self.voices)
        if self.store:
            identity["store"] = self.store.record()
        canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def _refuse_kept(mode: Mode, **given: Any) -> None:
    """An edit or an extension given what it keeps from its input video: the flag to drop."""
    for key, words, flag in KEEPS.get(mode, ()):
        if given[key] is not None:
            raise UsageError(f"{_NAMED[mode]} keeps its input's {words}: drop {flag}")


def _default(defaults: Defaults | None, key: str) -> Any:
    if defaults is None:
        raise ValueError(f"no {key} given and no defaults to take it from")
    return getattr(defaults, key)


def _identity(item: MediaInput) -> list[Any]:
    if item.at is None:
        return [item.role, item.identity()]
    return [item.role, item.identity(), item.at]


def recorded(body: dict[str, Any]) -> dict[str, Any]:
    """A request body fit for the ledger: inline data replaced by its length and hash."""
    kept = dict(body)
    for key in ("image", "video", "last_frame"):
        if isinstance(kept.get(key), dict):
            kept[key] = _redact_data(kept[key])
    if isinstance(kept.get("reference_images"), list):
        kept["reference_images"] = [_redact_data(item) for item in kept["reference_images"]]
    if isinstance(kept.get("keyframes"), list):
        kept["keyframes"] = [_redact_keyframe(item) for item in kept["keyframes"]]
    return kept


def _redact_keyframe(item: Any) -> Any:
    if isinstance(item, dict) and isinstance(item.get("image"), dict):
        return {**item, "image": _redact_data(item["image"])}
    return item


def _redact_data(obj: dict[str, Any]) -> dict[str, Any]:
    url = obj.get("url")
    if isinstance(url, str) and url.startswith("data:"):
        head, _, payload = url.partition(",")
        digest = hashlib.sha256(base64.b64decode(payload)).hexdigest()
        return {"url": f"{head},<{len(payload)} base64 characters of sha256 {digest}>"}
    return obj


def provider_identity(base_url: str) -> str:
    """The provider a render belongs to: its host (ports change between simulator runs)."""
    if base_url.startswith("sim:"):
        return "simulator"
    return (urlsplit(base_url).hostname or base_url).lower()


def validate(spec: RenderSpec) -> None:
    """Refuse, before a cent is spent, what the API would refuse."""
    _check_prompt(spec)
    if spec.mode in (Mode.TEXT, Mode.IMAGE, Mode.REFERENCE):
        _check_generation(spec)
    _check_extras(spec)
    if spec.mode in (Mode.EDIT, Mode.EXTEND) and spec.model != contract.BASE_MODEL:
        message = (
            contract.MSG_EDIT_MODEL if spec.mode == Mode.EDIT else contract.MSG_EXTENSION_MODEL
        )
        raise UsageError(f"{message} Use -m {contract.BASE_MODEL}.")
    if spec.mode == Mode.EXTEND and not 1 <= (spec.duration or 0) <= contract.MAX_DURATION:
        raise UsageError(
            f"an extension adds 1 to 15 seconds (got {spec.duration}): pass -d/--duration 1 to 15."
        )


def _check_prompt(spec: RenderSpec) -> None:
    if spec.prompt is not None and not spec.prompt.strip():
        raise UsageError(
            'the prompt is empty: say what to render, e.g. imagine gen "a fox in snow"'
        )
    if spec.prompt is None and spec.mode != Mode.IMAGE:
        raise UsageError(
            'a prompt is required: say what to render, e.g. imagine gen "a fox in snow"'
        )


def _check_generation(spec: RenderSpec) -> None:
    duration = spec.duration or 0
    if not contract.MIN_DURATION <= duration <= contract.MAX_DURATION:
        raise UsageError(f"{contract.MSG_DURATION} (got {duration}): pass -d/--duration 1 to 15.")
    base = spec.model == contract.BASE_MODEL
    if spec.references:
        if len(spec.references) > contract.MAX_REFERENCE_IMAGES:
            message = contract.MSG_TOO_MANY_REFERENCES.format(n=len(spec.references))
            raise UsageError(f"{message} Pass at most 14 --ref images.")
        if base and duration > contract.MAX_REFERENCE_DURATION_BASE:
            message = contract.MSG_REFERENCE_DURATION.format(n=duration)
            raise UsageError(f"{message} Use -d 10 or less, or -m {contract.MODEL_15}.")
        if spec.resolution == "1080p":
            raise UsageError(f"{contract.MSG_REFERENCE_1080P} Use -r 720p.")
        if base and spec.image:
            raise UsageError(
                "--image and --ref cannot be combined on grok-imagine-video: "
                f"drop one, or use -m {contract.MODEL_15}."
            )
    if spec.resolution == "1080p" and base:
        raise UsageError(
            f"1080p is only available on {contract.MODEL_15}: "
            f"add -m {contract.MODEL_15}, or use -r 720p."
        )


def _check_extras(spec: RenderSpec) -> None:
    """Keyframes, a last frame, voices and storage: which models and modes take them."""
    base = spec.model == contract.BASE_MODEL
    use_15 = f"use -m {contract.MODEL_15}"
    if len(spec.voices) > contract.MAX_REFERENCE_AUDIOS:
        message = contract.MSG_TOO_MANY_AUDIOS.format(n=len(spec.voices))
        raise UsageError(f"{message} Pass at most 3 --voice.")
    if spec.voices and base:
        raise UsageError(f"{contract.MSG_AUDIOS_MODEL} Drop --voice, or {use_15}.")
    if spec.voices and spec.mode != Mode.REFERENCE:
        raise UsageError(
            f"{contract.MSG_AUDIOS_MODE} Add --ref images for the voices to speak in, "
            "or drop --voice."
        )
    if spec.keyframes:
        _check_keyframes(spec, base, use_15)
    if spec.last_frame and spec.mode not in (Mode.TEXT, Mode.IMAGE):
        raise UsageError(
            f"{contract.MSG_LAST_FRAME_MODE} Drop the last frame (or the --ref images)."
        )
    if spec.last_frame and base:
        raise UsageError(f"{contract.MSG_LAST_FRAME_MODEL} Drop --last-frame, or {use_15}.")
    if spec.store:
        if spec.mode not in (Mode.TEXT, Mode.IMAGE, Mode.REFERENCE):
            raise UsageError(
                "--store is only for generations: xAI documents storage_options on "
                "`imagine gen` requests only; drop it."
            )
        check_store(spec.store)


def _check_keyframes(spec: RenderSpec, base: bool, use_15: str) -> None:
    if spec.mode not in (Mode.TEXT, Mode.IMAGE):
        raise UsageError(f"{contract.MSG_KEYFRAMES_MODE} Drop the keyframes (or the --ref images).")
    if base:
        raise UsageError(f"{contract.MSG_KEYFRAMES_MODEL} Drop --keyframe, or {use_15}.")
    if len(spec.keyframes) > contract.MAX_KEYFRAMES:
        message = contract.MSG_TOO_MANY_KEYFRAMES.format(n=len(spec.keyframes))
        raise UsageError(f"{message} Pass at most 4 --keyframe.")
    duration = spec.duration or contract.DEFAULT_DURATION
    for item in spec.keyframes:
        at = item.at if item.at is not None else 0.0
        if not 0 < at < duration:
            message = contract.MSG_KEYFRAME_TIME.format(t=at, duration=duration)
            raise UsageError(f"{message} Give a time between 0 and {duration} (exclusive).")
