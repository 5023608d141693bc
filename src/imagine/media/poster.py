"""Posters: a JPEG still from the middle of a video, for listings and sidecars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imagine.atomic import write_atomic
from imagine.errors import MediaError
from imagine.media import require_av
from imagine.media.synth import encode_still


def write_poster(video: Path, jpg: Path) -> Path:
    """Write (atomically) a JPEG of the keyframe at the middle of ``video``; return ``jpg``."""
    av = require_av("Making a poster")
    try:
        with av.open(str(video)) as container:
            if not container.streams.video:
                raise MediaError(f"{video} has no video stream.")
            frame = poster_frame(container, one_thread(container.streams.video[0]), str(video))
    except av.error.FFmpegError as error:
        raise MediaError(f"{video} is not a readable video ({error}).") from None
    return save_poster(frame, jpg)


def save_poster(frame: Any, jpg: Path) -> Path:
    write_atomic(Path(jpg), encode_still(frame, "mjpeg", "yuvj420p"))
    return Path(jpg)


def one_thread(stream: Any) -> Any:
    """``stream`` set to decode on the calling thread. FFmpeg's default starts a thread per core
    for every opening of every file; for the one or two frames a probe or poster decodes they
    only cost their start-up and memory (each job of a batch opened them anew)."""
    stream.codec_context.thread_count = 1
    stream.codec_context.thread_type = "NONE"
    return stream


def poster_frame(container: Any, stream: Any, name: str) -> Any:
    """The keyframe at (or just before) the middle of the video, the first frame decoded after
    seeking there. Decoding on from it to the exact middle cost two thirds of a poster's CPU
    (every frame since the keyframe), for a still that is only a preview."""
    middle = _middle_seconds(container, stream)
    if middle > 0 and stream.time_base is not None:
        container.seek(int(middle / stream.time_base), stream=stream)
    frame = next(container.decode(stream), None)
    if frame is None:
        raise MediaError(f"{name} has no decodable frame.")
    return frame


def _middle_seconds(container: Any, stream: Any) -> float:
    if container.duration is not None:
        return float(container.duration) / 2_000_000
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base) / 2
    return 0.0
