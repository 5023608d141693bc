"""Turning what a user points at (a file, a URL, an earlier job) into an input the API accepts,
and refusing a bad one before a cent is spent.

Local files are checked by content, not name. Small ones travel inline as a base64 data URL; larger
ones go through the Files API (at submit time) and are sent as a ``file_id``. INLINE_LIMIT is 1 MiB:
the largest request body known to be accepted is 1.6 MB, and 1 MiB of file becomes about 1.4 MB of
base64, so an inline image stays under it with room for the rest of the body.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from imagine import paths
from imagine.api import contract
from imagine.atomic import write_atomic
from imagine.errors import MediaError, UsageError
from imagine.lifecycle import Job, Status
from imagine.spec import MediaInput

INLINE_LIMIT = 1024 * 1024
VIDEO_CODECS = {"h264": "H.264", "hevc": "H.265", "av1": "AV1"}
IMAGE_MIME = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}

JobFinder = Callable[[str], Job | None]


@dataclass(frozen=True)
class VideoRules:
    """What a video input must be for one kind of request."""

    purpose: str  # "edit" or "extend"
    min_seconds: float
    max_seconds: float


EDIT_RULES = VideoRules("edit", 0.0, contract.MAX_EDIT_INPUT_SECONDS)
EXTEND_RULES = VideoRules("extend", *contract.EXTENSION_INPUT_SECONDS)


def video_rules(mode: str) -> VideoRules:
    """What an input video must be for an edit (``"edit"``) or an extension (``"extend"``)."""
    return {EDIT_RULES.purpose: EDIT_RULES, EXTEND_RULES.purpose: EXTEND_RULES}[mode]


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def is_job_reference(text: str) -> bool:
    return text.startswith("@")


def _url_input(text: str, role: str, flag: str) -> MediaInput | None:
    """An http(s) URL is sent as it is (the API fetches it); other schemes are refused."""
    parts = urlsplit(text)
    if "://" not in text and not text.startswith("data:"):
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        scheme = parts.scheme or text.split(":", 1)[0]
        raise UsageError(
            f"{flag} {text[:60]}: unsupported URL scheme {scheme!r}; "
            "give an https:// URL or a local file"
        )
    return MediaInput(role=role, source=text, kind="url", sent_as="url", value=text)


def _read(path: Path, flag: str) -> bytes:
    if not path.exists():
        raise UsageError(f"{flag} {path}: no such file")
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a folder, not a file")
    try:
        return path.read_bytes()
    except OSError as error:
        raise UsageError(f"{flag} {path}: cannot read it ({error.strerror})") from None


def _packed(data: bytes, mime: str) -> tuple[str, str]:
    """(sent_as, value): inline below the limit, else an upload done at submit time."""
    if len(data) <= INLINE_LIMIT:
        return "data_url", f"data:{mime};base64,{base64.b64encode(data).decode()}"
    return "file_id", ""


def image_input(text: str, role: str, flag: str, find_job: JobFinder) -> MediaInput:
    """``--image`` / ``--ref``: a JPEG, PNG or WebP file, an https URL, or an earlier job's last frame."""
    found = _url_input(text, role, flag)
    if found:
        return found
    job = _job_for(text, flag, find_job)
    if job is not None:
        return _frame_of(job, role, text)
    return _image_file(Path(text).expanduser(), role, flag, source=text)


def keyframe_input(
    image: str, at: float, find_job: JobFinder, *, flag: str = "--keyframe"
) -> MediaInput:
    """A mid-clip anchor: an image as ``--image`` takes it, and its time inside the clip."""
    return replace(image_input(image, "keyframe", flag, find_job), at=at)


def _image_file(path: Path, role: str, flag: str, *, source: str) -> MediaInput:
    from imagine.media.probe import probe_image

    data = _read(path, flag)
    if len(data) > contract.MAX_IMAGE_BYTES:
        raise UsageError(
            f"{flag} {path}: the image is {_mb(len(data))}; the API takes images up to 20 MiB "
            "(resize or re-encode it, e.g. as JPEG)"
        )
    try:
        info = probe_image(data)
    except MediaError as error:
        raise UsageError(
            f"{flag} {path}: {_lower(str(error))} Give a JPEG, PNG or WebP image."
        ) from None
    mime = IMAGE_MIME[info.format]
    sent_as, value = _packed(data, mime)
    return MediaInput(
        role=role,
        source=source,
        kind="file",
        sent_as=sent_as,
        value=value,
        sha256=hashlib.sha256(data).hexdigest(),
        mime=mime,
        size=len(data),
        path=str(path.resolve()),
        width=info.width,
        height=info.height,
    )


def _frame_of(job: Job, role: str, source: str) -> MediaInput:
    """The last frame of an earlier render, kept in a content-addressed cache (by reference)."""
    from imagine.media.frames import last_frame_jpeg

    video = _finished_video(job, source)
    data = last_frame_jpeg(video)
    digest = hashlib.sha256(data).hexdigest()
    still = paths.data_dir() / "frames" / f"{digest}.jpg"
    if not still.exists():
        write_atomic(still, data)
    made = _image_file(still, role, source, source=source)
    return replace(made, kind="job", job_id=job.id)


def video_input(text: str, rules: VideoRules, find_job: JobFinder) -> MediaInput:
    """The VIDEO of `edit` / `extend`: an MP4 file, an earlier job, or an https URL."""
    flag = "VIDEO"
    found = _url_input(text, "video", flag)
    if found:
        return found
    job = _job_for(text, flag, find_job)
    if job is not None:
        made = _video_file(_finished_video(job, text), rules, source=text)
        return replace(made, kind="job", job_id=job.id)
    return _video_file(Path(text).expanduser(), rules, source=text)


def _video_file(path: Path, rules: VideoRules, *, source: str) -> MediaInput:
    from imagine.media import INSTALL_HINT, have_av
    from imagine.media.probe import probe_video

    if not have_av():
        raise UsageError(
            f"{rules.purpose} needs the media extra to check the video before paying for it: "
            f"{INSTALL_HINT}"
        )
    data = _read(path, "VIDEO")
    try:
        info = probe_video(data)
    except MediaError as error:
        raise UsageError(f"{path}: {_lower(str(error))} Give an MP4 video.") from None
    _check_video(path, info.container, info.video_codec, info.duration, len(data), rules)
    sent_as, value = _packed(data, "video/mp4")
    return MediaInput(
        role="video",
        source=source,
        kind="file",
        sent_as=sent_as,
        value=value,
        sha256=hashlib.sha256(data).hexdigest(),
        mime="video/mp4",
        size=len(data),
        path=str(path.resolve()),
        seconds=round(info.duration, 3),
        width=info.width,
        height=info.height,
    )


def _check_video(
    path: Path, container: str, codec: str, seconds: float, size: int, rules: VideoRules
) -> None:
    if container != "mp4":
        raise UsageError(
            f"{path}: the container is {container}, not MP4; "
            f"remux it first, e.g. ffmpeg -i {path.name} -c copy {path.stem}.mp4"
        )
    if codec not in VIDEO_CODECS:
        raise UsageError(
            f"{path}: the video codec is {codec}; the API takes H.264, H.265 or AV1 "
            f"(e.g. ffmpeg -i {path.name} -c:v libx264 {path.stem}-h264.mp4)"
        )
    if size > contract.MAX_FILE_UPLOAD_BYTES:
        raise UsageError(f"{path}: the file is {_mb(size)}; inputs may be at most 50 MB")
    if seconds > rules.max_seconds + 0.05:
        raise UsageError(
            f"{path}: the video is {seconds:.1f} s long; {rules.purpose} takes videos up to "
            f"{rules.max_seconds:g} s (trim it, e.g. ffmpeg -i {path.name} -t "
            f"{rules.max_seconds:g} -c copy {path.stem}-short.mp4)"
        )
    if seconds < rules.min_seconds - 0.05:
        raise UsageError(
            f"{path}: the video is {seconds:.1f} s long; {rules.purpose} needs at least "
            f"{rules.min_seconds:g} s"
        )


def _job_for(text: str, flag: str, find_job: JobFinder) -> Job | None:
    """A job reference, unless ``text`` names an existing file (a file always wins)."""
    if Path(text).expanduser().exists():
        return None
    if is_job_reference(text):
        job = find_job(text)
        if job is None:
            raise UsageError(f"{flag} {text}: no such job (see `imagine list`)")
        return job
    return find_job(text)


def _finished_video(job: Job, source: str) -> Path:
    video = Path(job.output_path)
    if job.status is not Status.COMPLETE:
        raise UsageError(
            f"{source} is job #{job.seq}, which is {job.status}: "
            f"only a complete render can be used as input (try `imagine wait {source}`)"
        )
    if not video.is_file():
        raise UsageError(f"{source} is job #{job.seq}, but its file {video} is gone")
    return video


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:] if text else text
