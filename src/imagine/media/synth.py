"""Synthetic media: small, real, playable files for the simulator's renders and for test fixtures.

A clip is a seed-coloured bar and band moving over a background, with a sine tone. Only a second's
worth of distinct frames is drawn and then reused, so a 15 s 720p clip encodes in a few seconds.
Planes are filled from bytes (no numpy): each row is padded to the plane's ``line_size``.
"""

from __future__ import annotations

import math
import random
import struct
import zlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from imagine.atomic import atomic_target, write_atomic
from imagine.errors import MediaError
from imagine.media import require_av

SAMPLE_RATE = 48_000
TONE_FRAME = 1024  # one AAC frame; the tone repeats exactly every TONE_FRAME samples
ImageFormat = Literal["png", "jpeg", "webp"]


@dataclass(frozen=True)
class _Palette:
    """YUV colours of the background, the moving bar and the moving band."""

    background: tuple[int, int, int]
    bar: tuple[int, int, int]
    band: tuple[int, int, int]
    tone_cycles: int

    @classmethod
    def from_seed(cls, seed: int) -> _Palette:
        rng = random.Random(seed)

        def colour() -> tuple[int, int, int]:
            return rng.randint(40, 220), rng.randint(40, 216), rng.randint(40, 216)

        return cls(colour(), colour(), colour(), tone_cycles=rng.randint(6, 13))


@dataclass(frozen=True)
class ClipSpec:
    """Everything that determines a synthetic clip's bytes (so it doubles as a cache key)."""

    width: int
    height: int
    seconds: float
    audio: bool = True
    fps: int = 24
    seed: int = 0

    def __post_init__(self) -> None:
        # yuv420p subsamples chroma by two in both directions, so libx264 needs even sides.
        _check_size(self.width, self.height)
        if self.seconds <= 0 or self.fps <= 0:
            raise ValueError(f"a clip needs a positive length and rate, not {self.seconds}s")

    @property
    def frame_count(self) -> int:
        return max(1, round(self.seconds * self.fps))

    @property
    def file_name(self) -> str:
        sound = "a" if self.audio else "s"
        return f"{self.width}x{self.height}-{self.seconds:g}s-{sound}-{self.fps}-{self.seed}.mp4"


def write_clip(
    path: Path,
    *,
    width: int,
    height: int,
    seconds: float,
    audio: bool = True,
    fps: int = 24,
    seed: int = 0,
) -> None:
    """Write an H.264 (+ AAC mono 48 kHz) MP4 of exactly this size and, within a frame, length."""
    write_spec(Path(path), ClipSpec(width, height, seconds, audio, fps, seed))


def write_spec(path: Path, spec: ClipSpec) -> None:
    av = require_av("Writing a video")
    # faststart puts the index first, so a player can start before the whole file has arrived.
    options = {"movflags": "faststart"}
    with (
        atomic_target(path) as temp,
        av.open(str(temp), "w", format="mp4", options=options) as container,
    ):
        _encode(container, spec)


def _check_size(width: int, height: int) -> None:
    if width < 2 or height < 2 or width % 2 or height % 2:
        raise ValueError(f"frame size must be even and at least 2x2, not {width}x{height}")


def _encode(container: Any, spec: ClipSpec) -> None:
    palette = _Palette.from_seed(spec.seed)
    video = container.add_stream("libx264", rate=spec.fps)
    video.width, video.height, video.pix_fmt = spec.width, spec.height, "yuv420p"
    video.codec_context.gop_size = 2 * spec.fps
    video.options = {"preset": "ultrafast"}
    frames = _distinct_frames(palette, spec.width, spec.height, spec.fps)
    sound = _Sound(container, palette.tone_cycles, spec) if spec.audio else None
    for index in range(spec.frame_count):
        frame = frames[index % len(frames)]
        frame.pts = index
        container.mux(video.encode(frame))
        if sound is not None:
            # Interleave: keep the audio up to the end of this video frame.
            sound.send_until(round((index + 1) * SAMPLE_RATE / spec.fps))
    if sound is not None:
        sound.finish()
    container.mux(video.encode(None))


class _Sound:
    """The audio track: a mono sine tone sent in AAC-frame-sized chunks, cut at the clip's end."""

    def __init__(self, container: Any, cycles: int, spec: ClipSpec) -> None:
        self.container = container
        self.stream = container.add_stream("aac", rate=SAMPLE_RATE)
        self.stream.layout = "mono"
        self.tone = _tone(cycles)
        self.total = round(spec.seconds * SAMPLE_RATE)
        self.sent = 0

    def send_until(self, sample: int) -> None:
        until = min(sample, self.total)
        while self.sent < until:
            count = min(TONE_FRAME, until - self.sent)
            frame = _audio_frame(self.tone, count)
            frame.pts = self.sent
            self.container.mux(self.stream.encode(frame))
            self.sent += count

    def finish(self) -> None:
        self.send_until(self.total)
        self.container.mux(self.stream.encode(None))


def _audio_frame(tone: bytes, samples: int) -> Any:
    av = require_av("Writing audio")
    frame = av.AudioFrame(format="fltp", layout="mono", samples=samples)
    plane = frame.planes[0]
    data = tone[: samples * 4]
    plane.update(data + bytes(plane.buffer_size - len(data)))
    frame.sample_rate = SAMPLE_RATE
    return frame


def _tone(cycles: int) -> bytes:
    """One TONE_FRAME of a quiet sine holding a whole number of cycles, so it repeats seamlessly."""
    values = (0.2 * math.sin(2 * math.pi * cycles * i / TONE_FRAME) for i in range(TONE_FRAME))
    return struct.pack(f"<{TONE_FRAME}f", *values)


def _distinct_frames(palette: _Palette, width: int, height: int, count: int) -> list[Any]:
    av = require_av("Writing a video")
    frames = []
    for step in range(count):
        frame = av.VideoFrame(width, height, "yuv420p")
        for index, plane in enumerate(frame.planes):
            scale = 1 if index == 0 else 2
            layout = _Layout.at(step, count, width // scale, height // scale)
            plane.update(layout.plane(palette, index, plane.line_size))
        frames.append(frame)
    return frames


@dataclass(frozen=True)
class _Layout:
    """Where the bar (columns) and the band (rows) are in one plane at one step of the loop."""

    width: int
    height: int
    bar: tuple[int, int]
    band: tuple[int, int]

    @classmethod
    def at(cls, step: int, count: int, width: int, height: int) -> _Layout:
        bar_width, band_height = max(1, width // 8), max(1, height // 6)
        x = (width - bar_width) * step // max(1, count - 1)
        y = (height - band_height) * step // max(1, count - 1)
        return cls(width, height, (x, x + bar_width), (y, y + band_height))

    def plane(self, palette: _Palette, component: int, line_size: int) -> bytes:
        plain = self._row(palette.background[component], palette.bar[component], line_size)
        banded = self._row(palette.band[component], palette.bar[component], line_size)
        top, bottom = self.band
        return plain * top + banded * (bottom - top) + plain * (self.height - bottom)

    def _row(self, ground: int, bar: int, line_size: int) -> bytes:
        left, right = self.bar
        row = bytes([ground]) * left + bytes([bar]) * (right - left)
        row += bytes([ground]) * (self.width - right)
        return row + bytes(line_size - self.width)


def write_image(
    path: Path, *, width: int, height: int, fmt: ImageFormat = "png", seed: int = 0
) -> None:
    """Write a still of the clip pattern as PNG (stdlib only), JPEG or WebP (PyAV)."""
    if fmt == "png":
        write_atomic(Path(path), _png(width, height, seed))
        return
    _check_size(width, height)
    codecs = {"jpeg": ("mjpeg", "yuvj420p"), "webp": ("libwebp", "yuv420p")}
    if fmt not in codecs:
        raise MediaError(f"Unknown image format {fmt!r}: use png, jpeg or webp.")
    codec, pix_fmt = codecs[fmt]
    frame = _distinct_frames(_Palette.from_seed(seed), width, height, 1)[0]
    write_atomic(Path(path), encode_still(frame, codec, pix_fmt))


def encode_still(frame: Any, codec: str, pix_fmt: str) -> bytes:
    """One video frame encoded as a standalone image file (an image codec's packet is the file)."""
    av = require_av("Encoding an image")
    context = av.CodecContext.create(codec, "w")
    context.width, context.height, context.pix_fmt = frame.width, frame.height, pix_fmt
    context.time_base = Fraction(1, 25)  # encoders insist on one, even for a single still
    context.thread_count = 1  # (one still: a thread per core would only cost their start-up)
    packets = context.encode(frame.reformat(format=pix_fmt)) + context.encode(None)
    return b"".join(bytes(packet) for packet in packets)


def _png(width: int, height: int, seed: int) -> bytes:
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, not {width}x{height}")
    rgb = bytes(random.Random(seed).randint(0, 255) for _ in range(3))
    raw = (b"\x00" + rgb * width) * height
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        _png_chunk(kind, data)
        for kind, data in ((b"IHDR", header), (b"IDAT", zlib.compress(raw)), (b"IEND", b""))
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data)
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
