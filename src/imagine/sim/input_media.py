"""Input media of a request (images, videos): decoded and checked when submitted, or deferred.

Inline data URLs and uploaded files are checked at once (400 on bad data). Any other URL is accepted
and the job fails later, at poll time, as the live API does with a URL it cannot fetch; the exception
is a media URL this simulator itself serves, which stands for that job's video.
"""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from imagine.api.contract import MAX_IMAGE_BYTES
from imagine.errors import MediaError
from imagine.media import INSTALL_HINT, have_av
from imagine.media.probe import probe_image, probe_video
from imagine.sim.decode import MediaRef
from imagine.sim.rules import Refused

# messages unconfirmed: the contract gives none for bad inputs; these follow the API's style.
MSG_BAD_DATA_URL = "Invalid data URL in `{field}`: expected base64-encoded {kind} data."
MSG_WRONG_TYPE = "Expected {kind} data in `{field}`, got {mime}."
MSG_IMAGE_TOO_LARGE = "Image in `{field}` is too large: {n} bytes. Maximum allowed is 20 MiB."
MSG_BAD_IMAGE = "Could not decode the image in `{field}`: expected a JPEG, PNG or WebP image."
MSG_BAD_VIDEO = (
    "Could not decode the video in `{field}`: expected an MP4 video (H.264, H.265 or AV1)."
)
MSG_UNKNOWN_FILE = "File {file_id} was not found."
FETCH_FAILURE = {
    "code": "invalid_argument",
    "message": "Failed to fetch the input media from the provided URL.",
}
_VIDEO_CODECS = ("h264", "hevc", "av1")


@dataclass(frozen=True)
class InputMedia:
    kind: str  # "image" or "video"
    width: int = 0
    height: int = 0
    seconds: float = 0.0
    fetchable: bool = True  # False: a URL we cannot fetch; the job will fail at poll time


@dataclass(frozen=True)
class InputSources:
    """Where inputs that are not inline come from: the Files store and this simulator's own media."""

    file_bytes: Callable[[str], bytes | None]
    own_video: Callable[[str], InputMedia | None]


def resolve(ref: MediaRef, kind: str, field: str, sources: InputSources) -> InputMedia:
    if ref.file_id is not None:
        data = sources.file_bytes(ref.file_id)
        if data is None:
            # An unknown file id is a bad argument of this request, so 400 rather than 404.
            raise Refused(MSG_UNKNOWN_FILE.format(file_id=ref.file_id))
        return inspect(data, kind, field)
    url = ref.url or ""
    if url.startswith("data:"):
        return inspect(_data_url_bytes(url, kind, field), kind, field)
    own = sources.own_video(url) if kind == "video" else None
    return own if own is not None else InputMedia(kind, fetchable=False)


def inspect(data: bytes, kind: str, field: str) -> InputMedia:
    if kind == "image":
        return _image(data, field)
    return _video(data, field)


def _image(data: bytes, field: str) -> InputMedia:
    if len(data) > MAX_IMAGE_BYTES:
        raise Refused(MSG_IMAGE_TOO_LARGE.format(field=field, n=len(data)))
    try:
        info = probe_image(data)
    except MediaError:
        raise Refused(MSG_BAD_IMAGE.format(field=field)) from None
    return InputMedia("image", info.width, info.height)


def _video(data: bytes, field: str) -> InputMedia:
    if not have_av():
        message = f"The simulator needs the media extra to read input videos: {INSTALL_HINT}"
        raise Refused(message, status=500, code="internal")
    try:
        info = probe_video(data)
    except MediaError:
        raise Refused(MSG_BAD_VIDEO.format(field=field)) from None
    if info.container != "mp4" or info.video_codec not in _VIDEO_CODECS:
        raise Refused(MSG_BAD_VIDEO.format(field=field))
    return InputMedia("video", info.width, info.height, info.duration)


def _data_url_bytes(url: str, kind: str, field: str) -> bytes:
    header, comma, payload = url[len("data:") :].partition(",")
    mime, *params = header.split(";")
    if not comma:
        raise Refused(MSG_BAD_DATA_URL.format(field=field, kind=kind))
    if mime and not (mime.startswith(f"{kind}/") or mime == "application/octet-stream"):
        raise Refused(MSG_WRONG_TYPE.format(kind=kind, field=field, mime=mime))
    if "base64" not in params:
        return urllib.parse.unquote_to_bytes(payload)
    try:
        return base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError):
        raise Refused(MSG_BAD_DATA_URL.format(field=field, kind=kind)) from None
