"""Join panel clips into one film with PyAV and numpy: transitions on picture and sound.

Each clip is decoded once, frame by frame, at the film's frame rate (the first clip's), scaled to the
first clip's size. A crossfade overlaps the end of one clip with the start of the next, blending the
pictures and fading the sounds across each other (equal power, so the level holds through the join);
a fade to black fades the picture and sound of one clip out and of the next in. A clip without sound
gets silence. Only the frames of one overlap are held in memory, and the sound of the whole film
(48 kHz stereo floats: 23 MB for a minute). Written as H.264 + AAC to a temporary file renamed
into place when complete.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from imagine.atomic import atomic_target
from imagine.errors import MediaError
from imagine.media import require_av
from imagine.storyboard.parse import Transition, TransitionKind

SAMPLE_RATE = 48_000
AUDIO_CHUNK = 1024  # samples per AAC frame
DEFAULT_FPS = Fraction(24)


@dataclass(frozen=True)
class Clip:
    path: Path
    skip: float = 0.0  # seconds left out at the start (an extension repeats its parent's clip)
    transition: Transition = field(default_factory=Transition)  # into the next clip


@dataclass(frozen=True)
class Placed:
    """Where a clip sits in the film, in seconds (it overlaps its neighbours in a crossfade)."""

    start: float
    end: float
    fade_in: float  # the seconds at its start shared with the clip before (a crossfade)
    fade_out: float


@dataclass(frozen=True)
class Stitched:
    path: Path
    duration: float
    width: int
    height: int
    fps: float
    audio: bool
    placed: tuple[Placed, ...]


@dataclass(frozen=True)
class _Source:
    clip: Clip
    frames: int  # in the film, at its frame rate
    has_audio: bool


def stitch(clips: Sequence[Clip], target: Path) -> Stitched:
    """Write the film of ``clips`` to ``target`` (atomically); raises MediaError for a clip that
    cannot be read."""
    av = require_av("Stitching a storyboard")
    import numpy as np  # noqa: F401  (the media extra's: fail here, not halfway through)

    if not clips:
        raise ValueError("nothing to stitch")
    width, height, fps = _shape(clips[0].path)
    sources = [_source(clip, fps) for clip in clips]
    frames = _timeline(sources, fps)
    with_audio = any(source.has_audio for source in sources)
    total_frames = frames[-1][0] + sources[-1].frames
    sound = _sound(sources, frames, fps, total_frames) if with_audio else None
    try:
        with (
            atomic_target(target) as temp,
            av.open(str(temp), "w", format="mp4", options={"movflags": "faststart"}) as out,
        ):
            _Writer(out, width, height, fps, sound).write(sources, frames)
    except av.error.FFmpegError as error:
        raise MediaError(f"stitching {target.name} failed: {error}") from None
    placed = tuple(
        Placed(
            start=float(start / fps),
            end=float((start + source.frames) / fps),
            fade_in=float(overlap_in / fps),
            fade_out=float(overlap_out / fps),
        )
        for source, (start, overlap_in, overlap_out) in zip(sources, frames, strict=True)
    )
    return Stitched(
        path=target,
        duration=float(total_frames / fps),
        width=width,
        height=height,
        fps=float(fps),
        audio=with_audio,
        placed=placed,
    )


def _open(path: Path) -> Any:
    av = require_av("Stitching a storyboard")
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError) as error:
        raise MediaError(f"{path} is not a readable video ({error})") from None


def _shape(path: Path) -> tuple[int, int, Fraction]:
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError(f"{path} has no video stream")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or DEFAULT_FPS
        width, height = stream.codec_context.width, stream.codec_context.height
        return width - width % 2, height - height % 2, Fraction(rate).limit_denominator(1001)


def clip_seconds(path: Path) -> float:
    """The length of a clip's picture."""
    return _measure(path)[0]


def _measure(path: Path) -> tuple[float, bool]:
    """(seconds of picture, whether it has sound)."""
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError(f"{path} has no video stream")
        stream = container.streams.video[0]
        if stream.duration is not None and stream.time_base is not None:
            seconds = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            seconds = container.duration / 1_000_000
        else:
            raise MediaError(f"{path}: its length cannot be read")
        return seconds, bool(container.streams.audio)


def _source(clip: Clip, fps: Fraction) -> _Source:
    seconds, has_audio = _measure(clip.path)
    frames = round((seconds - clip.skip) * fps)
    if frames < 1:
        raise MediaError(f"{clip.path} is {seconds:.2f} s long: nothing left after {clip.skip:g} s")
    return _Source(clip, frames, has_audio)


def _timeline(sources: Sequence[_Source], fps: Fraction) -> list[tuple[int, int, int]]:
    """(first frame in the film, frames shared with the clip before, frames shared with the next)
    of each clip. A crossfade is shortened to what the clips it joins can hold."""
    placed: list[tuple[int, int, int]] = []
    start = 0
    overlap_in = 0
    for number, source in enumerate(sources):
        transition = source.clip.transition
        overlap_out = 0
        if transition.kind is TransitionKind.CROSSFADE and number + 1 < len(sources):
            wanted = round(transition.seconds * fps)
            overlap_out = max(
                0, min(wanted, source.frames - overlap_in, sources[number + 1].frames)
            )
        placed.append((start, overlap_in, overlap_out))
        start += source.frames - overlap_out
        overlap_in = overlap_out
    return placed


def _fade_frames(transition: Transition, fps: Fraction, frames: int) -> int:
    if transition.kind is not TransitionKind.FADE_TO_BLACK:
        return 0
    return min(frames, round(transition.seconds * fps))


# --- sound -------------------------------------------------------------------------------------


def _sound(
    sources: Sequence[_Source], frames: Sequence[tuple[int, int, int]], fps: Fraction, total: int
) -> Any:
    """The film's sound, (2, samples) float32: each clip's sound at its place, shaped by its
    transitions, the clips summed where they overlap."""
    import numpy as np

    film = np.zeros((2, _samples(total, fps)), dtype=np.float32)
    previous: Transition | None = None
    for source, (start, overlap_in, overlap_out) in zip(sources, frames, strict=True):
        at = _samples(start, fps)
        length = min(_samples(start + source.frames, fps), film.shape[1]) - at
        sound = _clip_sound(source, length)
        gain = np.ones(length, dtype=np.float32)
        ramp_in = _samples(overlap_in, fps)
        if ramp_in:  # equal power: cos² + sin² = 1 across the join
            gain[:ramp_in] *= np.sin(np.linspace(0, math.pi / 2, ramp_in, dtype=np.float32))
        ramp_out = _samples(overlap_out, fps)
        if ramp_out:
            gain[length - ramp_out :] *= np.cos(
                np.linspace(0, math.pi / 2, ramp_out, dtype=np.float32)
            )
        if previous is not None:
            fade = _samples(_fade_frames(previous, fps, source.frames), fps)
            if fade:
                gain[:fade] *= np.linspace(0, 1, fade, dtype=np.float32)
        fade = _samples(_fade_frames(source.clip.transition, fps, source.frames), fps)
        if fade and source is not sources[-1]:
            gain[length - fade :] *= np.linspace(1, 0, fade, dtype=np.float32)
        film[:, at : at + length] += sound * gain
        previous = source.clip.transition
    return np.clip(film, -1.0, 1.0)


def _samples(frames: int, fps: Fraction) -> int:
    return round(frames * SAMPLE_RATE / fps)


def _clip_sound(source: _Source, length: int) -> Any:
    """``length`` samples of a clip's sound from its start (after the skip), silence if it has
    none or runs short."""
    import numpy as np

    out = np.zeros((2, length), dtype=np.float32)
    if not source.has_audio:
        return out
    av = require_av("Stitching a storyboard")
    skip = round(source.clip.skip * SAMPLE_RATE)
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=SAMPLE_RATE)
    chunks: list[Any] = []
    with _open(source.clip.path) as container:
        for frame in container.decode(container.streams.audio[0]):
            chunks.extend(piece.to_ndarray() for piece in resampler.resample(frame))
        chunks.extend(piece.to_ndarray() for piece in resampler.resample(None))
    if chunks:
        decoded = np.concatenate(chunks, axis=1)[:, skip : skip + length]
        out[:, : decoded.shape[1]] = decoded
    return out


# --- picture -----------------------------------------------------------------------------------


class _Writer:
    """Encodes the film: frames in order, the sound interleaved up to each frame's end."""

    def __init__(
        self, container: Any, width: int, height: int, fps: Fraction, sound: Any | None
    ) -> None:
        self.container = container
        self.fps = fps
        self.size = (width, height)
        self.video = container.add_stream("libx264", rate=fps)
        self.video.width, self.video.height, self.video.pix_fmt = width, height, "yuv420p"
        self.video.options = {"preset": "superfast", "crf": "20"}
        self.sound = sound
        self.audio = None
        if sound is not None:
            self.audio = container.add_stream("aac", rate=SAMPLE_RATE)
            self.audio.layout = "stereo"
        self.written = 0
        self.sent = 0

    def write(self, sources: Sequence[_Source], frames: Sequence[tuple[int, int, int]]) -> None:
        incoming: list[Any] = []
        previous: Transition | None = None
        for number, (source, (_, _, overlap_out)) in enumerate(zip(sources, frames, strict=True)):
            last = number == len(sources) - 1
            fade_in = _fade_frames(previous, self.fps, source.frames) if previous else 0
            fade_out = 0 if last else _fade_frames(source.clip.transition, self.fps, source.frames)
            plain = range(max(len(incoming), fade_in), source.frames - max(fade_out, overlap_out))
            held: list[Any] = []
            for k, frame in enumerate(self._frames(source)):
                if k in plain:  # most frames: straight from the decoder to the encoder
                    width, height = self.size
                    self._encode(frame.reformat(width=width, height=height, format="yuv420p"))
                    continue
                image = self._array(frame)
                if k < len(incoming):  # the crossfade: the previous clip's tail under this one
                    share = (k + 1) / (len(incoming) + 1)
                    image = incoming[k] * (1 - share) + image * share
                if k < fade_in:
                    image *= (k + 0.5) / fade_in
                if k >= source.frames - fade_out:
                    image *= (source.frames - k - 0.5) / fade_out
                if k >= source.frames - overlap_out:
                    held.append(image)
                else:
                    self._put(image)
            incoming = held
            previous = source.clip.transition
        self._finish()

    def _frames(self, source: _Source) -> Iterator[Any]:
        """Exactly ``source.frames`` decoded frames at the film's rate, each the clip's frame
        showing at that moment (a frame is repeated, or skipped, when the rates differ)."""
        step = 1 / float(self.fps)
        emitted = 0
        current: Any = None
        with _open(source.clip.path) as container:
            for frame in container.decode(container.streams.video[0]):
                moment = float(frame.time) if frame.time is not None else emitted * step
                while (
                    current is not None
                    and emitted < source.frames
                    and source.clip.skip + (emitted + 0.5) * step <= moment
                ):
                    yield current
                    emitted += 1
                current = frame
                if emitted >= source.frames:
                    return
        while current is not None and emitted < source.frames:
            yield current
            emitted += 1

    def _array(self, frame: Any) -> Any:
        import numpy as np

        width, height = self.size
        return frame.to_ndarray(width=width, height=height, format="rgb24").astype(np.float32)

    def _put(self, image: Any) -> None:
        import numpy as np

        av = require_av("Stitching a storyboard")
        pixels = np.clip(image + 0.5, 0, 255).astype(np.uint8)
        self._encode(av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuv420p"))

    def _encode(self, frame: Any) -> None:
        frame.pts = self.written
        frame.time_base = 1 / self.fps
        self.container.mux(self.video.encode(frame))
        self.written += 1
        self._send_sound(_samples(self.written, self.fps))

    def _send_sound(self, until: int) -> None:
        if self.sound is None or self.audio is None:
            return
        av = require_av("Stitching a storyboard")
        until = min(until, self.sound.shape[1])
        while self.sent < until:
            count = min(AUDIO_CHUNK, until - self.sent)
            chunk = self.sound[:, self.sent : self.sent + count].copy(order="C")
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate = SAMPLE_RATE
            frame.pts = self.sent
            self.container.mux(self.audio.encode(frame))
            self.sent += count

    def _finish(self) -> None:
        self.container.mux(self.video.encode(None))
        if self.sound is not None and self.audio is not None:
            self._send_sound(self.sound.shape[1])
            self.container.mux(self.audio.encode(None))
