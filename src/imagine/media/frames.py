"""Stills taken from videos: the last frame of a render, to start the next one from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imagine.errors import MediaError
from imagine.media import require_av
from imagine.media.synth import encode_still


def last_frame_jpeg(video: Path) -> bytes:
    """A high-quality JPEG of the final frame of ``video``."""
    av = require_av("Taking a frame from a video")
    try:
        with av.open(str(video)) as container:
            frame = _last_frame(container, video)
    except av.error.FFmpegError as error:
        raise MediaError(f"{video} is not a readable video ({error}).") from None
    return encode_still(frame, "mjpeg", "yuvj420p")


def _last_frame(container: Any, video: Path) -> Any:
    if not container.streams.video:
        raise MediaError(f"{video} has no video stream.")
    stream = container.streams.video[0]
    if container.duration is not None and stream.time_base is not None:
        # Seek to a keyframe shortly before the end, then decode to the end.
        target = max(0.0, container.duration / 1_000_000 - 1.0)
        container.seek(int(target / stream.time_base), stream=stream)
    last = None
    for frame in container.decode(stream):
        last = frame
    if last is None:
        raise MediaError(f"{video} has no decodable frame.")
    return last
