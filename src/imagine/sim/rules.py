"""The API's 404 model lookup and 400 checks, in the order the live API applies them."""

from __future__ import annotations

from imagine.api import contract as c
from imagine.sim.decode import Storage, VideoRequest

TEXT, IMAGE, REFERENCE = "text-to-video", "image-to-video", "reference-to-video"
EDIT, EXTENSION = "edit", "extension"
# How a mode is named in the (unconfirmed) "prompt is required" message.
_MODE_WORDS = {TEXT: TEXT, REFERENCE: REFERENCE, EDIT: "video edit", EXTENSION: "video extension"}


class Refused(Exception):
    """A request the API turns down: HTTP status, error slug and the API's message."""

    def __init__(self, message: str, *, status: int = 400, code: str = "invalid-argument") -> None:
        super().__init__(message)
        self.message, self.status, self.code = message, status, code


def lookup_model(name: str, team: str) -> str:
    """The canonical model id for a name or alias; 404 with the API's message if unknown."""
    model = c.canonical_model(name)
    if model is None:
        message = c.MSG_UNKNOWN_MODEL.format(model=name, team=team)
        raise Refused(message, status=404, code="not-found")
    return model


def generation_mode(request: VideoRequest) -> str:
    if request.reference_images:
        return REFERENCE
    return IMAGE if request.image is not None else TEXT


def check_generation(request: VideoRequest, model: str, *, allow_1080p: bool) -> None:
    base = model == c.BASE_MODEL
    references, audios = len(request.reference_images), len(request.reference_audios)
    duration = _duration(request, c.DEFAULT_DURATION)
    if references > c.MAX_REFERENCE_IMAGES:
        raise Refused(c.MSG_TOO_MANY_REFERENCES.format(n=references))
    if audios > c.MAX_REFERENCE_AUDIOS:
        raise Refused(c.MSG_TOO_MANY_AUDIOS.format(n=audios))
    if not c.MIN_DURATION <= duration <= c.MAX_DURATION:
        raise Refused(c.MSG_DURATION)
    if references and base and duration > c.MAX_REFERENCE_DURATION_BASE:
        raise Refused(c.MSG_REFERENCE_DURATION.format(n=duration))
    if request.resolution == "1080p":
        _check_1080p(references > 0, base, allow_1080p)
    if audios and base:
        raise Refused(c.MSG_AUDIOS_MODEL)
    mode = generation_mode(request)
    if audios and mode != REFERENCE:
        raise Refused(c.MSG_AUDIOS_MODE)
    _check_anchors(request, mode, base, duration)
    if request.storage_options is not None:
        _check_storage(request.storage_options)
    if mode in (TEXT, REFERENCE):
        _require_prompt(request, mode)
    if base and request.image is not None and references:
        raise Refused(c.MSG_IMAGE_WITH_REFERENCES)


def _check_anchors(request: VideoRequest, mode: str, base: bool, duration: int) -> None:
    """Keyframes and a last frame: 1.5 only, text/image→video only, keyframes inside the clip."""
    if request.keyframes:
        if mode == REFERENCE:
            raise Refused(c.MSG_KEYFRAMES_MODE)
        if base:
            raise Refused(c.MSG_KEYFRAMES_MODEL)
        if len(request.keyframes) > c.MAX_KEYFRAMES:
            raise Refused(c.MSG_TOO_MANY_KEYFRAMES.format(n=len(request.keyframes)))
        for keyframe in request.keyframes:
            if not 0 < keyframe.timestamp_s < duration:
                message = c.MSG_KEYFRAME_TIME.format(t=keyframe.timestamp_s, duration=duration)
                raise Refused(message)
    if request.last_frame is not None:
        if mode == REFERENCE:
            raise Refused(c.MSG_LAST_FRAME_MODE)
        if base:
            raise Refused(c.MSG_LAST_FRAME_MODEL)


def _check_storage(storage: Storage) -> None:
    if storage.expires_after is not None and not 1 <= storage.expires_after <= c.MAX_STORE_SECONDS:
        raise Refused(c.MSG_STORE_EXPIRY.format(n=storage.expires_after))
    low, high = c.PUBLIC_URL_SECONDS
    seconds = storage.public_expires_after
    if seconds is not None and not low <= seconds <= high:
        raise Refused(c.MSG_PUBLIC_URL_EXPIRY.format(n=seconds))


def _refuse_anchors(request: VideoRequest) -> None:
    """Edits and extensions take no keyframes and no last frame."""
    if request.keyframes:
        raise Refused(c.MSG_KEYFRAMES_MODE)
    if request.last_frame is not None:
        raise Refused(c.MSG_LAST_FRAME_MODE)


def _check_1080p(references: bool, base: bool, allow_1080p: bool) -> None:
    if references:
        raise Refused(c.MSG_REFERENCE_1080P)
    if base:
        raise Refused(c.MSG_1080P_MODEL)
    if not allow_1080p:
        raise Refused(c.MSG_1080P_TEAM)


def check_edit(request: VideoRequest, model: str) -> None:
    _refuse_anchors(request)
    if model != c.BASE_MODEL:
        raise Refused(c.MSG_EDIT_MODEL)
    _require_prompt(request, EDIT)


def check_extension(request: VideoRequest, model: str) -> None:
    _refuse_anchors(request)
    if model != c.BASE_MODEL:
        raise Refused(c.MSG_EXTENSION_MODEL)
    if not c.MIN_DURATION <= extension_seconds(request) <= c.MAX_DURATION:
        raise Refused(c.MSG_DURATION)
    _require_prompt(request, EXTENSION)


def input_video_problem(mode: str, seconds: float) -> str | None:
    """Why an input video of this length cannot be edited or extended, or None."""
    shown = round(seconds, 2)
    if mode == EDIT and seconds > c.MAX_EDIT_INPUT_SECONDS:
        return c.MSG_EDIT_INPUT_TOO_LONG.format(seconds=shown)
    low, high = c.EXTENSION_INPUT_SECONDS
    if mode == EXTENSION and not low <= seconds <= high:
        return c.MSG_EXTENSION_INPUT.format(seconds=shown)
    return None


def extension_seconds(request: VideoRequest) -> int:
    return _duration(request, c.EXTENSION_DEFAULT_DURATION)


def generation_seconds(request: VideoRequest) -> int:
    return _duration(request, c.DEFAULT_DURATION)


def _duration(request: VideoRequest, default: int) -> int:
    return default if request.duration is None else request.duration


def _require_prompt(request: VideoRequest, mode: str) -> None:
    if not (request.prompt or "").strip():
        raise Refused(c.MSG_PROMPT_REQUIRED.format(mode=_MODE_WORDS[mode]))
