"""Every MP4 imagine saves says, inside the file, that it is AI-generated, by which model and as
which job: container tags written by a remux (no re-encode), read back by PyAV, ffprobe and
`imagine show`; a crash part-way through labelling leaves nothing that looks complete."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import av
import pytest

from imagine.media import label
from imagine.media.synth import write_clip
from tests import plain
from tests.helpers import Cli, read_jobs, sim_stats


def _tags(path: Path) -> dict[str, str]:
    with av.open(str(path)) as container:
        return dict(container.metadata)


def _packets(path: Path) -> list[tuple[str, int | None, str]]:
    """Each stream's packets, as (kind, pts, hash of the payload): equal lists mean the
    streams were copied, not encoded again."""
    with av.open(str(path)) as container:
        return [
            (p.stream.type, p.pts, hashlib.sha256(bytes(p)).hexdigest())
            for p in container.demux()
            if p.size
        ]


def _sidecar(project: Path, stdout: str) -> tuple[Path, dict[str, Any]]:
    video = project / stdout.strip()
    return video, json.loads(video.with_suffix(".json").read_text())


def test_a_render_carries_the_ai_label_and_its_sidecar_hashes_the_labelled_file(
    cli: Cli, sim: Any, project: Path, imagine_home: Path
) -> None:
    result = cli.gen(sim, "a red fox running through snow", "-d", "2")
    assert result.exit_code == 0, result.stderr
    video, side = _sidecar(project, result.stdout)
    (row,) = read_jobs(imagine_home)

    tags = _tags(video)  # read back by PyAV, independently of imagine's reader
    assert tags["ai_generated"] == "true"
    assert tags["imagine_job_id"] == row["id"] == side["id"]
    assert tags["imagine_model"] == "grok-imagine-video"
    assert "AI-generated" in tags["comment"] and row["id"] in tags["comment"]
    assert "AI-generated" in tags["description"]
    assert tags["software"].startswith("imagine ")
    assert "red fox" not in json.dumps(tags)  # the prompt stays out of the file

    data = video.read_bytes()
    assert side["file"]["sha256"] == hashlib.sha256(data).hexdigest() == row["file_sha256"]
    assert side["file"]["bytes"] == len(data) == row["file_bytes"]
    assert side["file"]["label"]["labeled"] is True
    assert side["file"]["label"]["tags"]["imagine_job_id"] == row["id"]
    assert side["ai_generated"] is True
    assert not list(project.rglob("*.part")) and not list(project.rglob("*.tmp"))
    assert side["file"]["duration"] == pytest.approx(2, abs=0.2)


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe (ffmpeg) not installed")
def test_ffprobe_shows_the_ai_generated_tag(cli: Cli, sim: Any, project: Path) -> None:
    result = cli.gen(sim, "a lighthouse at dusk", "-d", "1")
    assert result.exit_code == 0, result.stderr
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-of", "json", result.stdout.strip()],
        capture_output=True,
        check=True,
        timeout=30,
    )
    tags = json.loads(probe.stdout)["format"]["tags"]
    assert tags["ai_generated"] == "true"
    assert tags["imagine_model"] == "grok-imagine-video"
    assert len(tags["imagine_job_id"]) == 26
    assert "AI-generated" in tags["comment"]


def test_labelling_copies_the_streams_without_encoding_them_again(tmp_path: Path) -> None:
    source, target = tmp_path / "in.mp4", tmp_path / "out.mp4"
    write_clip(source, width=320, height=180, seconds=1.5)
    outcome = label.apply(source, target, label.Label("01jobid", "grok-imagine-video"))
    assert outcome.labeled
    assert _packets(target) == _packets(source)
    assert _tags(target)["imagine_job_id"] == "01jobid"
    assert "imagine_job_id" not in _tags(source)


def test_a_file_already_labelled_for_the_job_is_left_alone(tmp_path: Path) -> None:
    clip = tmp_path / "a.mp4"
    write_clip(clip, width=64, height=36, seconds=1)
    stamp = label.Label("01jobid", "grok-imagine-video")
    assert label.apply(clip, clip, stamp).labeled
    before = clip.stat().st_mtime_ns, clip.read_bytes()
    assert label.apply(clip, clip, stamp).labeled
    assert (clip.stat().st_mtime_ns, clip.read_bytes()) == before


def test_show_reads_the_label_back_from_the_file(cli: Cli, sim: Any, project: Path) -> None:
    result = cli.gen(sim, "a kite over a hill", "-d", "1")
    assert result.exit_code == 0, result.stderr
    video = project / result.stdout.strip()

    shown = cli.run("show", "@last")
    assert shown.exit_code == 0, shown.stderr
    (line,) = [line for line in shown.stdout.splitlines() if line.strip().startswith("label")]
    assert "AI-generated, grok-imagine-video, job" in line
    document = json.loads(cli.run("show", "@last", "--json").stdout)
    assert document["file"]["label"]["tags"]["ai_generated"] == "true"

    # Someone strips the tags: show reports what the file says now, not what was once written.
    stripped = video.with_name("stripped.mp4")
    with av.open(str(video)) as given, av.open(str(stripped), "w", format="mp4") as made:
        copies = {s.index: made.add_stream_from_template(s) for s in given.streams}
        for packet in given.demux():
            if packet.dts is not None:
                packet.stream = copies[packet.stream.index]
                made.mux(packet)
    stripped.replace(video)
    document = json.loads(cli.run("show", "@last", "--json").stdout)
    assert document["file"]["label"]["labeled"] is False
    assert "no AI-generated tag" in document["file"]["label"]["reason"]
    assert "label  none (the file carries no AI-generated tag)" in cli.run("show", "@last").stdout


def test_without_pyav_the_render_is_saved_and_its_sidecar_says_unlabelled(
    cli: Cli, sim: Any, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The simulator in this process still needs PyAV to encode its clips: only the label's
    # check says it is missing.
    monkeypatch.setattr(label, "have_av", lambda: False)
    result = cli.gen(sim, "a paper boat", "-d", "1")
    assert result.exit_code == 0, result.stderr
    video, side = _sidecar(project, result.stdout)
    assert side["file"]["label"]["labeled"] is False
    assert "media extra" in side["file"]["label"]["reason"]
    assert side["file"]["sha256"] == hashlib.sha256(video.read_bytes()).hexdigest()
    assert "ai_generated" not in _tags(video)


class _Crashing:
    """An output container that dies after a few packets, as a process killed mid-write."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self._left = 5

    def __enter__(self) -> _Crashing:
        return self

    def __exit__(self, *exc: object) -> None:
        self._real.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def mux(self, packet: Any) -> None:
        self._left -= 1
        if self._left == 0:
            raise OSError(28, "No space left on device")
        self._real.mux(packet)


def test_a_crash_mid_label_leaves_no_file_that_looks_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = tmp_path / "a.mp4.part", tmp_path / "a.mp4"
    write_clip(source, width=320, height=180, seconds=2)
    original = source.read_bytes()
    real_open = av.open

    def opening(name: str, mode: str = "r", **kwargs: Any) -> Any:
        made = real_open(name, mode, **kwargs)
        return _Crashing(made) if mode == "w" else made

    monkeypatch.setattr(av, "open", opening)
    with pytest.raises(OSError, match="No space"):
        label.apply(source, target, label.Label("01jobid", "grok-imagine-video"))
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4.part"]  # no temp file left
    assert source.read_bytes() == original  # the checked download, kept for the next try


def _downloading_again(home: Path, video: Path) -> None:
    """Put a finished job back to where a crash during its label would have left it: the
    ledger says downloading, the checked download is the .part, no sidecar was written."""
    conn = sqlite3.connect(home / "ledger.sqlite3")
    with conn:
        conn.execute("UPDATE jobs SET status = 'downloading', file_sha256 = NULL")
    conn.close()
    video.with_suffix(".json").unlink()
    video.with_suffix(".jpg").unlink()


@pytest.mark.parametrize("left", ["part only", "part and labelled file", "labelled file only"])
def test_wait_finishes_a_job_whatever_a_crash_in_the_label_step_left(
    cli: Cli, sim: Any, project: Path, imagine_home: Path, left: str
) -> None:
    result = cli.gen(sim, "a harbour at night", "-d", "1")
    assert result.exit_code == 0, result.stderr
    video = project / result.stdout.strip()
    (row,) = read_jobs(imagine_home)
    part = video.with_name(video.name + ".part")
    downloads = sim_stats(sim)["downloads"]
    if left == "part only":  # killed while remuxing: the temp file never got the final name
        part.write_bytes(plain.get(row["video_url"]).content)
        video.with_name(f".{video.name}.x1y2.tmp").write_bytes(video.read_bytes()[:5000])
        video.unlink()
        downloads += 1
    elif left == "part and labelled file":  # killed after the rename, before the .part went
        part.write_bytes(plain.get(row["video_url"]).content)
        downloads += 1
    _downloading_again(imagine_home, video)

    waited = cli.run("wait", "--all", env={"XAI_API_KEY": sim.api_key})
    assert waited.exit_code == 0, waited.stderr
    assert sim_stats(sim)["downloads"] == downloads  # nothing fetched again
    assert not part.exists()
    side = json.loads(video.with_suffix(".json").read_text())
    assert side["status"] == "complete"
    assert side["file"]["sha256"] == hashlib.sha256(video.read_bytes()).hexdigest()
    assert _tags(video)["imagine_job_id"] == row["id"]


def _remux_as_before(source: Path, target: Path, tags: dict[str, str]) -> None:
    """The label's remux with FFmpeg's default opening of the source (which reads and decodes
    frames past the header): what every render was written with before the quick opening."""
    with (
        av.open(str(source)) as given,
        av.open(str(target), "w", format="mp4", options={"movflags": label._MOVFLAGS}) as made,
    ):
        made.metadata.update({**dict(given.metadata), **tags})
        copies = {}
        for stream in given.streams:
            copy = made.add_stream_from_template(stream)
            copy.metadata.update(dict(stream.metadata))
            copies[stream.index] = copy
        for packet in given.demux(*given.streams):
            if packet.dts is not None:
                packet.stream = copies[packet.stream.index]
                made.mux(packet)


def _x264_clip(path: Path, options: dict[str, str]) -> None:
    """An H.264 clip with B-frames as real encoders make them, colour described in the
    bitstream only (no `colr` box): what FFmpeg learns only by decoding a frame."""
    import numpy as np

    with av.open(str(path), "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=24)
        video.width, video.height, video.pix_fmt = 320, 180, "yuv420p"
        video.options = options
        for n in range(30):
            pixels = np.random.default_rng(n).integers(0, 4, (180, 320, 3), dtype=np.uint8) * 64
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuv420p")
            frame.pts = n
            container.mux(video.encode(frame))
        container.mux(video.encode())


@pytest.mark.parametrize("kind", ["simulator", "silent", "b-frames, bitstream colour"])
def test_the_labelled_file_is_byte_for_byte_what_the_full_opening_wrote(
    tmp_path: Path, kind: str
) -> None:
    # The remux opens its source without reading frames past the MP4's header (half its CPU
    # on a simulator clip): the file it writes must not change by a byte.
    source = tmp_path / "source.mp4"
    if kind == "simulator":
        write_clip(source, width=848, height=480, seconds=1, audio=True, seed=4)
    elif kind == "silent":
        write_clip(source, width=320, height=240, seconds=2, audio=False, seed=5)
    else:
        _x264_clip(source, {"x264-params": "bframes=3:colorprim=bt709:transfer=bt709"})
    stamp = label.Label("job-1", "grok-imagine-video")
    _remux_as_before(source, tmp_path / "before.mp4", stamp.tags())

    outcome = label.apply(source, tmp_path / "now.mp4", stamp)

    assert outcome.labeled
    assert (tmp_path / "now.mp4").read_bytes() == (tmp_path / "before.mp4").read_bytes()
