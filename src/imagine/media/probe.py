"""What a media file is, judged by content: videos probed with PyAV, images by structure and PyAV.

Every refusal is a MediaError whose message is one line saying what is wrong with the file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from imagine.errors import MediaError
from imagine.media import have_av, require_av
from imagine.media.poster import one_thread, poster_frame, save_poster
from imagine.media.structure import image_dimensions, mp4_box_problem, sniff_image

Source = Path | bytes

# Demuxers that FFmpeg uses for single images: they open as "video" but are not one.
_IMAGE_DEMUXERS = ("image2", "jpeg_pipe", "png_pipe", "webp_pipe", "gif", "bmp_pipe")


@dataclass(frozen=True)
class VideoInfo:
    container: str
    duration: float
    width: int
    height: int
    video_codec: str
    audio_codec: str | None
    fps: float | None
    size: int

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    size: int


def probe_video(source: Source, *, poster: Path | None = None) -> VideoInfo:
    """Container, streams, size and duration of a video; MediaError unless it decodes as one.

    With ``poster``, the video's poster (media/poster.py) is written there too, from the same
    opening of the file: opening is a third of a probe's CPU, and a render needs both."""
    av = require_av("Inspecting a video")
    name = _describe(source, "video")
    with _open_binary(source) as stream:
        problem = mp4_box_problem(stream)
        if problem:
            raise MediaError(f"{name} is not a complete video: {problem}.")
        # Read what we need from the raw bytes first: FFmpeg owns the stream position once open.
        brand, size = _brand(stream), _length(stream)
        try:
            with av.open(stream) as container:
                info = _video_info(container, brand, size, name)
                still = (
                    poster_frame(container, container.streams.video[0], name) if poster else None
                )
        except av.error.FFmpegError as error:
            raise MediaError(f"{name} is not a readable video ({_reason(error)}).") from None
    if poster is not None:
        save_poster(still, poster)
    return info


def probe_image(source: Source) -> ImageInfo:
    """Format (by content, not name) and size of a JPEG, PNG or WebP image that really decodes."""
    name = _describe(source, "image")
    data = _read_bytes(source, name)
    kind = sniff_image(data)
    if kind is None:
        raise MediaError(f"{name} is not a JPEG, PNG or WebP image.")
    width, height = image_dimensions(kind, data, name)
    if have_av():
        _decode_image(data, (width, height), name)
    return ImageInfo(format=kind, width=width, height=height, size=len(data))


def _video_info(container: Any, brand: str | None, size: int, name: str) -> VideoInfo:
    format_name = container.format.name
    if format_name.split(",")[0] in _IMAGE_DEMUXERS:
        raise MediaError(f"{name} is an image, not a video.")
    if not container.streams.video:
        raise MediaError(f"{name} has no video stream.")
    video = one_thread(container.streams.video[0])
    first = next(container.decode(video), None)
    if first is None:
        raise MediaError(f"{name} has a video stream with no decodable frame.")
    audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
    return VideoInfo(
        container=_container_name(format_name, brand),
        duration=_duration(container, video),
        width=first.width,
        height=first.height,
        video_codec=video.codec_context.name,
        audio_codec=audio,
        fps=float(video.average_rate) if video.average_rate else None,
        size=size,
    )


def _duration(container: Any, video: Any) -> float:
    if container.duration is not None:
        return float(container.duration) / 1_000_000
    if video.duration is not None and video.time_base is not None:
        return float(video.duration * video.time_base)
    return 0.0


def _container_name(format_name: str, brand: str | None) -> str:
    # FFmpeg names the ISO-BMFF family "mov,mp4,m4a,3gp,3g2,mj2"; the ftyp brand tells them apart.
    if format_name.startswith("mov,"):
        return "mov" if brand == "qt  " else "mp4"
    return format_name.split(",")[0]


def _brand(stream: BinaryIO) -> str | None:
    stream.seek(0)
    head = stream.read(12)
    stream.seek(0)
    if len(head) == 12 and head[4:8] == b"ftyp":
        return head[8:12].decode("latin-1")
    return None


def _decode_image(data: bytes, size: tuple[int, int], name: str) -> None:
    av = require_av("Decoding an image")
    try:
        with av.open(io.BytesIO(data)) as container:
            frame = next(container.decode(video=0), None)
    except (av.error.FFmpegError, IndexError) as error:
        raise MediaError(f"{name} does not decode as an image ({_reason(error)}).") from None
    if frame is None or (frame.width, frame.height) != size:
        raise MediaError(f"{name} does not decode as an image.")


def _open_binary(source: Source) -> BinaryIO:
    if isinstance(source, bytes):
        return io.BytesIO(source)
    try:
        return Path(source).open("rb")
    except OSError as error:
        raise MediaError(f"Cannot read {source}: {error.strerror or error}.") from None


def _read_bytes(source: Source, name: str) -> bytes:
    if isinstance(source, bytes):
        return source
    try:
        return Path(source).read_bytes()
    except OSError as error:
        raise MediaError(f"Cannot read {name}: {error.strerror or error}.") from None


def _length(stream: BinaryIO) -> int:
    position = stream.tell()
    size = stream.seek(0, io.SEEK_END)
    stream.seek(position)
    return size


def _describe(source: Source, kind: str) -> str:
    return f"The {kind} data" if isinstance(source, bytes) else str(source)


def _reason(error: BaseException) -> str:
    text = getattr(error, "strerror", None) or str(error)
    return str(text).rstrip(".").lower() or type(error).__name__
