"""A render's files have one owner: the planner, the download, the sidecar and `rm --files` agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagine.render_files import RenderFiles, taken_in
from imagine.session import Session
from imagine.spec import RenderSpec
from imagine.workflow import job_control
from imagine.workflow.plan import Request
from imagine.workflow.steps import preview, record


def _request(prompt: str) -> Request:
    spec = RenderSpec(mode="text", model="grok-imagine-video", prompt=prompt, duration=1)
    return Request(spec, "renders/{slug}")


def test_a_render_is_its_video_sidecar_poster_and_download() -> None:
    files = RenderFiles(Path("/p/renders/fox.v2.mp4"))
    assert files.all() == (
        Path("/p/renders/fox.v2.mp4"),
        Path("/p/renders/fox.v2.json"),
        Path("/p/renders/fox.v2.jpg"),
        Path("/p/renders/fox.v2.mp4.part"),
    )
    assert RenderFiles.of_file(files.sidecar) == files


def test_a_download_left_on_disk_takes_the_name(tmp_path: Path) -> None:
    class NoJobs:
        def output_taken(self, path: Path) -> bool:
            return False

    video = tmp_path / "fox.mp4"
    taken = taken_in(NoJobs())
    assert not taken(video)
    RenderFiles(video).part.write_bytes(b"half a video")
    assert taken(video)


def test_a_new_job_is_not_given_a_name_whose_download_is_on_disk(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XAI_API_KEY", "xai-test-key-0000000000")
    left = project / "renders" / "tide.mp4"
    left.parent.mkdir(parents=True, exist_ok=True)
    RenderFiles(left).part.write_bytes(b"someone else's download")
    with Session(base_url="http://127.0.0.1:9") as session:
        (planned,) = record(session, preview(session, [_request("tide")]))
    path = Path(planned.job.output_path)
    assert path != left and path.name.startswith("tide-")


def test_rm_files_deletes_every_file_of_the_render_and_nothing_else(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XAI_API_KEY", "xai-test-key-0000000000")
    with Session(base_url="http://127.0.0.1:9") as session:
        (planned,) = record(session, preview(session, [_request("reef")]))
        job = session.ledger.require(planned.job.id)
        files = RenderFiles(Path(job.output_path))
        for path in files.all():
            path.write_bytes(b"x")
        neighbour = files.video.with_name("reef-other.mp4")
        neighbour.write_bytes(b"x")
        canceled = job_control.cancel(session.ledger, job).job
        removed = job_control.remove(session.ledger, canceled, delete_files=True)
    assert sorted(removed.files) == sorted(files.all())
    assert not any(path.exists() for path in files.all())
    assert neighbour.exists()
