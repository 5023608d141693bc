"""Media: synthetic clips and images, probing by content, posters."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import imagine.media
import imagine.media.probe
from imagine.errors import MediaError
from imagine.media import have_av, require_av
from imagine.media.poster import write_poster
from imagine.media.probe import probe_image, probe_video
from imagine.media.synth import ImageFormat, write_clip, write_image

pytestmark = pytest.mark.skipif(not have_av(), reason="needs the media extra (PyAV)")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "clip.mp4"
    write_clip(path, width=640, height=480, seconds=2.5, seed=7)
    return path


def _wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(b"\0\0" * 8000)
    return buffer.getvalue()


def test_clip_round_trip_keeps_size_duration_and_audio(clip: Path) -> None:
    info = probe_video(clip)
    assert (info.container, info.video_codec, info.audio_codec) == ("mp4", "h264", "aac")
    assert (info.width, info.height) == (640, 480)
    assert info.duration == pytest.approx(2.5, abs=1 / 24)
    assert info.fps == 24
    assert info.has_audio
    assert info.size == clip.stat().st_size


def test_silent_clip_has_no_audio_stream(tmp_path: Path) -> None:
    path = tmp_path / "silent.mp4"
    write_clip(path, width=480, height=848, seconds=1, audio=False)
    info = probe_video(path.read_bytes())
    assert (info.width, info.height, info.audio_codec, info.has_audio) == (480, 848, None, False)
    assert info.duration == pytest.approx(1, abs=1 / 24)


def test_clip_writing_leaves_no_temporary_files(tmp_path: Path) -> None:
    write_clip(tmp_path / "a.mp4", width=64, height=64, seconds=0.5)
    assert [p.name for p in tmp_path.iterdir()] == ["a.mp4"]


def test_clip_refuses_odd_sizes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even"):
        write_clip(tmp_path / "odd.mp4", width=641, height=480, seconds=1)


def test_seeds_give_different_pictures(tmp_path: Path) -> None:
    for seed in (1, 2):
        write_clip(tmp_path / f"{seed}.mp4", width=64, height=64, seconds=0.5, seed=seed)
    assert (tmp_path / "1.mp4").read_bytes() != (tmp_path / "2.mp4").read_bytes()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"just some text\n" * 40, "not a readable video"),
        (b"", "not a readable video"),
        (_wav(), "no video stream"),
    ],
    ids=["text", "empty", "wav"],
)
def test_probe_video_refuses_what_is_not_a_video(data: bytes, message: str) -> None:
    with pytest.raises(MediaError, match=message):
        probe_video(data)


def test_probe_video_refuses_an_image(tmp_path: Path) -> None:
    write_image(tmp_path / "still.jpg", width=64, height=48, fmt="jpeg")
    with pytest.raises(MediaError, match="is an image, not a video"):
        probe_video(tmp_path / "still.jpg")


def test_probe_video_refuses_a_truncated_mp4(clip: Path) -> None:
    data = clip.read_bytes()
    with pytest.raises(MediaError, match="cut short"):
        probe_video(data[: len(data) // 2])


def test_probe_video_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"Cannot read .*missing\.mp4"):
        probe_video(tmp_path / "missing.mp4")


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_images_are_recognised_by_content_not_name(tmp_path: Path, fmt: ImageFormat) -> None:
    path = tmp_path / "misnamed.gif"
    write_image(path, width=96, height=64, fmt=fmt, seed=3)
    info = probe_image(path)
    assert (info.format, info.width, info.height) == (fmt, 96, 64)
    assert info.size == path.stat().st_size


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_truncated_images_are_refused(tmp_path: Path, fmt: ImageFormat) -> None:
    write_image(tmp_path / "whole", width=96, height=64, fmt=fmt)
    data = (tmp_path / "whole").read_bytes()
    with pytest.raises(MediaError, match="damaged or truncated"):
        probe_image(data[: len(data) * 2 // 3])


def test_probe_image_refuses_other_content(clip: Path) -> None:
    with pytest.raises(MediaError, match="not a JPEG, PNG or WebP image"):
        probe_image(clip)
    with pytest.raises(MediaError, match="not a JPEG, PNG or WebP image"):
        probe_image(b"GIF89a" + bytes(100))


def test_probe_image_without_pyav_still_checks_structure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imagine.media.probe, "have_av", lambda: False)
    write_image(tmp_path / "a.jpg", width=32, height=16, fmt="jpeg")
    data = (tmp_path / "a.jpg").read_bytes()
    assert probe_image(data).format == "jpeg"
    with pytest.raises(MediaError, match="truncated JPEG"):
        probe_image(data[:-10])


def test_png_fixtures_need_no_pyav(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for module in (imagine.media, imagine.media.probe):
        monkeypatch.setattr(module, "have_av", lambda: False)
    write_image(tmp_path / "a.png", width=5, height=3, fmt="png")
    assert probe_image(tmp_path / "a.png").width == 5


def test_missing_pyav_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imagine.media, "have_av", lambda: False)
    with pytest.raises(MediaError, match=r"needs the media extra: pip install 'imagine\[media\]'"):
        require_av("Probing")


def test_poster_is_a_jpeg_of_the_video_size(clip: Path, tmp_path: Path) -> None:
    poster = write_poster(clip, tmp_path / "poster.jpg")
    info = probe_image(poster)
    assert (info.format, info.width, info.height) == ("jpeg", 640, 480)
    assert [p.name for p in tmp_path.iterdir()] == ["poster.jpg"]


def test_a_render_is_opened_once_and_decoded_two_frames_for_its_probe_and_poster(
    clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the engine does for every render of a batch: it once opened the file twice and
    decoded every frame up to the middle (60 of the 2.5 s clip's frames) for a preview."""
    import av

    from imagine.engine.finish import _describe

    opened: list[object] = []
    decoded: list[int | None] = []
    real_open = av.open

    class Counted:
        def __init__(self, container: Any) -> None:
            self._container = container

        def __getattr__(self, name: str) -> Any:
            return getattr(self._container, name)

        def __enter__(self) -> Counted:
            return self

        def __exit__(self, *error: object) -> Any:
            return self._container.__exit__(*error)

        def decode(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
            for frame in self._container.decode(*args, **kwargs):
                decoded.append(frame.pts)
                yield frame

    def counted_open(*args: Any, **kwargs: Any) -> Counted:
        opened.append(args[0])
        return Counted(real_open(*args, **kwargs))

    monkeypatch.setattr(av, "open", counted_open)
    render = tmp_path / "render.mp4"
    render.write_bytes(clip.read_bytes())

    described = _describe(render)

    assert (len(opened), len(decoded)) == (1, 2)
    assert described["probed"] is True
    assert (described["width"], described["height"], described["duration"]) == (640, 480, 2.5)
    assert probe_image(tmp_path / described["poster"]).width == 640


def test_poster_of_a_non_video_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(MediaError, match="not a readable video"):
        write_poster(tmp_path / "notes.mp4", tmp_path / "poster.jpg")
    assert not (tmp_path / "poster.jpg").exists()
