"""Posters: a JPEG still from the middle of a video, for listings and sidecars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imagine.atomic import write_atomic
from imagine.errors import MediaError
from imagine.media import require_av
from imagine.media.synth import encode_still


def write_poster(video: Path, jpg: Path) -> Path:
    """Write (atomically) a JPEG of the frame nearest the middle of ``video``; return ``jpg``."""
    av = require_av("Making a poster")
    try:
        with av.open(str(video)) as container:
            frame = _middle_frame(container, video)
    except av.error.FFmpegError as error:
        raise MediaError(f"{video} is not a readable video ({error}).") from None
    write_atomic(Path(jpg), encode_still(frame, "mjpeg", "yuvj420p"))
    return Path(jpg)


def _middle_frame(container: Any, video: Path) -> Any:
    if not container.streams.video:
        raise MediaError(f"{video} has no video stream.")
    stream = container.streams.video[0]
    middle = _middle_seconds(container, stream)
    if middle > 0 and stream.time_base is not None:
        # Seeking lands on the keyframe before the target; decode forward from there.
        container.seek(int(middle / stream.time_base), stream=stream)
    chosen = None
    for frame in container.decode(stream):
        chosen = frame
        if frame.time is not None and frame.time >= middle:
            break
    if chosen is None:
        raise MediaError(f"{video} has no decodable frame.")
    return chosen


def _middle_seconds(container: Any, stream: Any) -> float:
    if container.duration is not None:
        return float(container.duration) / 2_000_000
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base) / 2
    return 0.0
