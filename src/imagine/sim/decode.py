"""Turning a JSON body into a typed request, failing the way the API's serde deserialiser does.

Failures become 422 plain-text answers: ``Failed to deserialize the JSON body into the target type:
<path>: <message>``. As in serde, fields are checked in the order the body lists them and missing
required fields are reported after that. The live API appends `` at line L column C``; we leave that
out (unconfirmed detail, and no client should parse it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from imagine.api.contract import ASPECT_RATIOS, RESOLUTIONS

U32_MAX = 2**32 - 1


class Undeserializable(Exception):
    """The body does not fit the request type; str() is the serde-style message."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)


@dataclass(frozen=True)
class MediaRef:
    """An image or video object: exactly one of a URL (https or data:) or an uploaded file id."""

    url: str | None = None
    file_id: str | None = None


@dataclass(frozen=True)
class Keyframe:
    image: MediaRef
    timestamp_s: float


@dataclass(frozen=True)
class Storage:
    """`storage_options`: keep the result in the Files API (``public_url`` true or with a lifetime)."""

    filename: str | None = None
    expires_after: int | None = None
    public: bool = False
    public_expires_after: int | None = None


@dataclass(frozen=True)
class VideoRequest:
    model: str
    prompt: str | None = None
    duration: int | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    image: MediaRef | None = None
    reference_images: tuple[MediaRef, ...] = ()
    reference_audios: tuple[str, ...] = ()
    video: MediaRef | None = None
    generate_audio: bool | None = None
    keyframes: tuple[Keyframe, ...] = ()
    last_frame: MediaRef | None = None
    storage_options: Storage | None = None
    user: str | None = None


def unexpected(value: Any) -> str:
    """serde_json's wording for the JSON value it did not expect."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value!r}`"
    if isinstance(value, str):
        return f'string "{value}"'
    return "sequence" if isinstance(value, list) else "map"


def _invalid(path: str, value: Any, expected: str) -> Undeserializable:
    return Undeserializable(path, f"invalid type: {unexpected(value)}, expected {expected}")


def _string(path: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _invalid(path, value, "a string")
    return value


def _u32(path: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(path, value, "u32")
    if not 0 <= value <= U32_MAX:
        raise Undeserializable(path, f"invalid value: integer `{value}`, expected u32")
    return value


def _boolean(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _invalid(path, value, "a boolean")
    return value


def _variant(path: str, value: Any, allowed: tuple[str, ...], enum: str) -> str:
    if not isinstance(value, str):
        # message unconfirmed: serde's wording for a non-string where a unit variant is expected
        raise _invalid(path, value, f"enum {enum}")
    if value not in allowed:
        expected = ", ".join(f"`{name}`" for name in allowed)
        raise Undeserializable(path, f"unknown variant `{value}`, expected one of {expected}")
    return value


def _media(path: str, value: Any, struct: str) -> MediaRef:
    if not isinstance(value, dict):
        raise _invalid(path, value, f"struct {struct}")
    url, file_id = value.get("url"), value.get("file_id")
    ref = MediaRef(
        url=None if url is None else _string(f"{path}.url", url),
        file_id=None if file_id is None else _string(f"{path}.file_id", file_id),
    )
    if (ref.url is None) == (ref.file_id is None):
        # message unconfirmed: the API refuses both and neither; its exact words are unknown
        raise Undeserializable(path, "exactly one of `url` or `file_id` must be set")
    return ref


def _sequence(path: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise _invalid(path, value, "a sequence")
    return value


def _images(path: str, value: Any) -> tuple[MediaRef, ...]:
    items = _sequence(path, value)
    return tuple(_media(f"{path}[{i}]", item, "ImageInput") for i, item in enumerate(items))


def _voice(path: str, value: Any) -> str:
    if not isinstance(value, dict):
        raise _invalid(path, value, "struct ReferenceAudio")
    if value.get("voice_id") is None:
        raise Undeserializable(path, "missing field `voice_id`")
    return _string(f"{path}.voice_id", value["voice_id"])


def _voices(path: str, value: Any) -> tuple[str, ...]:
    return tuple(_voice(f"{path}[{i}]", item) for i, item in enumerate(_sequence(path, value)))


def _f64(path: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(path, value, "f64")
    return float(value)


def _struct(path: str, value: Any, name: str, required: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(path, value, f"struct {name}")
    for key in required:
        if value.get(key) is None:
            raise Undeserializable(path, f"missing field `{key}`")
    return value


def _keyframe(path: str, value: Any) -> Keyframe:
    fields = _struct(path, value, "Keyframe", ("image", "timestamp_s"))
    return Keyframe(
        image=_media(f"{path}.image", fields["image"], "ImageInput"),
        timestamp_s=_f64(f"{path}.timestamp_s", fields["timestamp_s"]),
    )


def _keyframes(path: str, value: Any) -> tuple[Keyframe, ...]:
    return tuple(_keyframe(f"{path}[{i}]", item) for i, item in enumerate(_sequence(path, value)))


def _optional(path: str, fields: dict[str, Any], key: str, parse: Callable[[str, Any], Any]) -> Any:
    return None if fields.get(key) is None else parse(f"{path}.{key}", fields[key])


def _storage(path: str, value: Any) -> Storage:
    fields = _struct(path, value, "StorageOptions", ())
    public = fields.get("public_url")
    public_expires = None
    if isinstance(public, dict):
        public_expires = _optional(f"{path}.public_url", public, "expires_after", _u32)
        public = True
    elif public is not None:
        public = _boolean(f"{path}.public_url", public)
    return Storage(
        filename=_optional(path, fields, "filename", _string),
        expires_after=_optional(path, fields, "expires_after", _u32),
        public=bool(public),
        public_expires_after=public_expires,
    )


Parser = Callable[[str, Any], Any]

_PARSERS: dict[str, Parser] = {
    "model": _string,
    "prompt": _string,
    "user": _string,
    "duration": _u32,
    "generate_audio": _boolean,
    "aspect_ratio": lambda p, v: _variant(p, v, ASPECT_RATIOS, "AspectRatio"),
    "resolution": lambda p, v: _variant(p, v, RESOLUTIONS, "Resolution"),
    "image": lambda p, v: _media(p, v, "ImageInput"),
    "reference_images": _images,
    "reference_audios": _voices,
    "video": lambda p, v: _media(p, v, "VideoInput"),
    "keyframes": _keyframes,
    "last_frame": lambda p, v: _media(p, v, "ImageInput"),
    "storage_options": _storage,
}

# Per route: the request type's name, its fields, and which of them are required.
_SHAPES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "generations": (
        "GenerateVideoRequest",
        (
            "model",
            "prompt",
            "duration",
            "aspect_ratio",
            "resolution",
            "image",
            "reference_images",
            "reference_audios",
            "generate_audio",
            "user",
            "keyframes",
            "last_frame",
            "storage_options",
        ),
        ("model",),
    ),
    # keyframes and last_frame are read on edits and extensions only to be refused there: the
    # simulator's decision (the API documents them for generations only).
    "edits": (
        "EditVideoRequest",
        ("model", "prompt", "video", "generate_audio", "user", "keyframes", "last_frame"),
        ("model", "video"),
    ),
    "extensions": (
        "ExtendVideoRequest",
        (
            "model",
            "prompt",
            "video",
            "duration",
            "generate_audio",
            "user",
            "keyframes",
            "last_frame",
        ),
        ("model", "video"),
    ),
}


def decode_request(kind: str, body: Any) -> VideoRequest:
    """The typed request for route ``kind`` (generations, edits, extensions), or Undeserializable."""
    name, fields, required = _SHAPES[kind]
    if not isinstance(body, dict):
        raise _invalid("", body, f"struct {name}")
    values: dict[str, Any] = {}
    for key, value in body.items():
        # null is an absent Option (but not a missing String); unknown fields are ignored.
        if key in fields and (value is not None or key in required):
            values[key] = _PARSERS[key](key, value)
    for key in required:
        if key not in values:
            raise Undeserializable("", f"missing field `{key}`")
    return VideoRequest(**values)
