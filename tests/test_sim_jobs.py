"""The simulator's jobs: pending → done/failed/expired, real MP4 downloads, fault knobs, persistence."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from imagine.api import contract as c
from imagine.media.probe import probe_video
from imagine.media.synth import write_clip, write_image
from imagine.money import pricing
from imagine.sim import SimConfig, Simulator
from tests import plain

GEN = c.ROUTE_GENERATIONS
SimFactory = Callable[..., Simulator]


def _api(sim: Simulator) -> httpx.Client:
    return plain.Client(base_url=sim.url, headers={"Authorization": f"Bearer {sim.api_key}"})


def _gen(**fields: Any) -> dict[str, Any]:
    return {"model": c.BASE_MODEL, "prompt": "a lighthouse at dusk", "duration": 1, **fields}


def _submit(api: httpx.Client, route: str = GEN, **fields: Any) -> str:
    response = api.post(route, json=_gen(**fields))
    assert response.status_code == 200, response.text
    request_id: str = response.json()["request_id"]
    return request_id


def _wait(api: httpx.Client, request_id: str, timeout: float = 10) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while (response := api.get(f"/v1/videos/{request_id}")).status_code == 202:
        assert time.monotonic() < deadline, "the job did not finish in time"
        time.sleep(0.02)
    return response


def _video_url(path: Path) -> str:
    return "data:video/mp4;base64," + base64.b64encode(path.read_bytes()).decode()


@pytest.fixture
def fast(sim_factory: SimFactory) -> Simulator:
    """Jobs finish at once."""
    return sim_factory(render_time=0)


def test_pending_progress_rises_then_done_has_the_contract_shape(sim_factory: SimFactory) -> None:
    sim = sim_factory(render_time=0.6)
    with _api(sim) as api:
        request_id = _submit(api, model=c.MODEL_15, resolution="720p", duration=3)
        progress = []
        while (response := api.get(f"/v1/videos/{request_id}")).status_code == 202:
            assert set(response.json()) == {"status", "progress"}
            progress.append(response.json()["progress"])
            time.sleep(0.1)
    assert len(progress) >= 3
    assert progress == sorted(progress)
    assert progress[0] < progress[-1] <= 99
    body = response.json()
    assert body == {
        "status": "done",
        "progress": 100,
        "model": c.MODEL_15,
        "video": {"url": body["video"]["url"], "duration": 3, "respect_moderation": True},
        "usage": {"cost_in_usd_ticks": 3 * 14 * 10**8},
    }


def test_render_time_follows_speed_and_size(sim_factory: SimFactory) -> None:
    sim = sim_factory(speed=1.0)
    with _api(sim) as api:
        short = _submit(api, duration=1)
        long = _submit(api, duration=15, resolution="720p")
    jobs = sim.stats()["jobs"]
    seconds = {key: job["finish_at"] - job["created_at"] for key, job in jobs.items()}
    assert seconds[short] == pytest.approx(10.5)
    assert seconds[long] == pytest.approx((8 + 2.5 * 15) * 1.4)
    assert jobs[short]["status"] == "pending"


def test_cost_includes_input_images(fast: Simulator, tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", width=32, height=32)
    image = {
        "url": "data:image/png;base64,"
        + base64.b64encode((tmp_path / "a.png").read_bytes()).decode()
    }
    with _api(fast) as api:
        request_id = _submit(api, duration=4, image=image)
        ticks = _wait(api, request_id).json()["usage"]["cost_in_usd_ticks"]
    assert ticks == pricing.usd_to_ticks(
        pricing.estimate(c.BASE_MODEL, "480p", 4, input_images=1).usd
    )


def test_the_media_is_a_real_mp4_of_the_requested_shape(fast: Simulator) -> None:
    with _api(fast) as api:
        loud = _wait(api, _submit(api, aspect_ratio="9:16", duration=2)).json()
        silent = _wait(api, _submit(api, aspect_ratio="1:1", generate_audio=False)).json()
    loud_info = probe_video(plain.get(loud["video"]["url"]).content)
    assert (loud_info.width, loud_info.height, loud_info.has_audio) == (480, 848, True)
    assert loud_info.duration == pytest.approx(2, abs=1 / 24)
    silent_info = probe_video(plain.get(silent["video"]["url"]).content)
    assert (silent_info.width, silent_info.height, silent_info.has_audio) == (480, 480, False)


def test_every_job_gets_its_own_bytes(fast: Simulator) -> None:
    with _api(fast) as api:
        urls = [_wait(api, _submit(api)).json()["video"]["url"] for _ in range(2)]
    first, second = (plain.get(url).content for url in urls)
    assert len(first) == len(second)  # one encoded clip, shared...
    assert first != second  # ...but each job's file names the job


def test_ranges_head_and_fresh_urls(fast: Simulator) -> None:
    with _api(fast) as api:
        request_id = _submit(api)
        url = _wait(api, request_id).json()["video"]["url"]
        assert _wait(api, request_id).json()["video"]["url"].startswith(url.split("?")[0])
    with plain.Client() as media:
        whole = media.get(url)
        assert whole.headers["accept-ranges"] == "bytes"
        size = len(whole.content)
        part = media.get(url, headers={"Range": "bytes=100-199"})
        assert (part.status_code, part.content) == (206, whole.content[100:200])
        assert part.headers["content-range"] == f"bytes 100-199/{size}"
        tail = media.get(url, headers={"Range": "bytes=-10"})
        assert tail.content == whole.content[-10:]
        rest = media.get(url, headers={"Range": f"bytes={size - 5}-"})
        assert rest.content == whole.content[-5:]
        beyond = media.get(url, headers={"Range": f"bytes={size}-"})
        assert (beyond.status_code, beyond.headers["content-range"]) == (416, f"bytes */{size}")
        head = media.head(url)
        assert (head.status_code, head.headers["content-length"], head.content) == (
            200,
            str(size),
            b"",
        )
    stats = fast.stats()
    assert (stats["downloads"], stats["download_bytes"]) == (4, size + 100 + 10 + 5)
    assert stats["media_auth_headers"] == 0


def test_video_bytes_pads_every_video_to_a_size_served_from_disk_with_ranges(
    sim_factory: SimFactory,
) -> None:
    size = 3 * 1024 * 1024 + 7
    sim = sim_factory(render_time=0, video_bytes=size)
    with _api(sim) as api:
        urls = [_wait(api, _submit(api)).json()["video"]["url"] for _ in range(2)]
    with plain.Client() as media:
        whole = media.get(urls[0])
        assert len(whole.content) == size == int(whole.headers["content-length"])
        # Still a playable MP4 of the job's shape, and still each job's own bytes.
        assert probe_video(whole.content).width == 848
        assert whole.content != media.get(urls[1]).content
        for first, last in ((0, 99), (size - 50, size - 1), (size - 5000, size - 20)):
            part = media.get(urls[0], headers={"Range": f"bytes={first}-{last}"})
            assert part.status_code == 206
            assert part.content == whole.content[first : last + 1]
        tail = media.get(urls[0], headers={"Range": "bytes=-10"})
        assert tail.content == whole.content[-10:]
        beyond = media.get(urls[0], headers={"Range": f"bytes={size}-"})
        assert beyond.status_code == 416


def test_video_bytes_must_be_a_positive_integer() -> None:
    with pytest.raises(ValueError, match="video_bytes"):
        SimConfig(video_bytes=0)


def test_media_urls_need_a_valid_signature_and_expire(sim_factory: SimFactory) -> None:
    sim = sim_factory(render_time=0, url_ttl=0)
    with _api(sim) as api:
        url = _wait(api, _submit(api)).json()["video"]["url"]
        assert plain.get(url).status_code == 403
        sim.configure(url_ttl=60)
        fresh = _wait(api, _submit(api)).json()["video"]["url"]
        assert plain.get(fresh.replace("sig=", "sig=0")).status_code == 403
        assert plain.get(fresh, headers={"Authorization": "Bearer x"}).status_code == 200
    assert sim.stats()["media_auth_headers"] == 1


def test_expire_after_turns_done_jobs_expired(sim_factory: SimFactory) -> None:
    sim = sim_factory(render_time=0)
    with _api(sim) as api:
        request_id = _submit(api)
        url = _wait(api, request_id).json()["video"]["url"]
        sim.configure(expire_after=0)
        response = api.get(f"/v1/videos/{request_id}")
    assert (response.status_code, response.json()) == (
        200,
        {"status": "expired", "model": c.BASE_MODEL},
    )
    assert plain.get(url).status_code == 404
    assert sim.stats()["jobs"][request_id]["status"] == "expired"


def test_fail_rate_fails_jobs(sim_factory: SimFactory) -> None:
    sim = sim_factory(render_time=0, fail_rate=1)
    with _api(sim) as api:
        body = _wait(api, _submit(api)).json()
    assert body == {
        "status": "failed",
        "progress": 0,
        "error": {"code": "internal_error", "message": "Video generation failed."},
    }


def test_moderation_words_block_the_video(fast: Simulator) -> None:
    with _api(fast) as api:
        body = _wait(api, _submit(api, prompt="please MODERATE-ME now")).json()
    assert body["status"] == "done"
    assert body["video"] == {"duration": 1, "respect_moderation": False}


def test_an_unfetchable_input_url_fails_at_poll_time(fast: Simulator) -> None:
    with _api(fast) as api:
        request_id = _submit(api, image={"url": "https://example.invalid/cat.png"})
        body = _wait(api, request_id).json()
    assert body["status"] == "failed"
    assert body["error"]["code"] == "invalid_argument"


def test_rate_limit_429s_are_not_submissions(sim_factory: SimFactory) -> None:
    sim = sim_factory(rps_limit=1, retry_after=2)
    with _api(sim) as api:
        assert api.post(GEN, json=_gen()).status_code == 200
        refused = api.post(GEN, json=_gen())
        other_model = api.post(GEN, json=_gen(model=c.MODEL_15))
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "2"
    assert refused.json() == {
        "code": "resource-exhausted",
        "error": refused.json()["error"],
    }
    assert refused.json()["error"].startswith(
        f"Too many requests for team team-imagine-sim and model {c.BASE_MODEL}. Your team's rate "
        "limit is — Requests per Second (actual/limit): 1/1."
    )
    assert other_model.status_code == 200
    stats = sim.stats()
    assert (stats["submissions"], stats["rate_limited"], stats["rejected"]) == (2, 1, 0)


def test_429s_carry_no_retry_after_by_default(sim_factory: SimFactory) -> None:
    sim = sim_factory(rps_limit=1)
    with _api(sim) as api:
        api.post(GEN, json=_gen())
        assert "retry-after" not in api.post(GEN, json=_gen()).headers


def test_a_dropped_answer_still_makes_a_job(sim_factory: SimFactory) -> None:
    sim = sim_factory(drop_rate=1)
    with _api(sim) as api, pytest.raises(httpx.RemoteProtocolError):
        api.post(GEN, json=_gen())
    stats = sim.stats()
    assert (stats["submissions"], stats["dropped"]) == (1, 1)
    assert len(stats["jobs"]) == 1


def test_truncated_downloads_stop_short_of_content_length(sim_factory: SimFactory) -> None:
    sim = sim_factory(render_time=0)
    with _api(sim) as api:
        url = _wait(api, _submit(api)).json()["video"]["url"]
    sim.configure(truncate_rate=1)
    received = bytearray()
    with plain.stream("GET", url) as response:
        promised = int(response.headers["content-length"])
        with pytest.raises(httpx.RemoteProtocolError):
            for chunk in response.iter_bytes():
                received += chunk
    assert 0 < len(received) < promised
    assert sim.stats()["truncated"] == 1


def test_server_errors_do_nothing(sim_factory: SimFactory) -> None:
    sim = sim_factory(error_rate=1)
    with _api(sim) as api:
        statuses = {api.post(GEN, json=_gen()).status_code for _ in range(12)}
    assert statuses <= {500, 502, 503}
    stats = sim.stats()
    assert (stats["submissions"], stats["server_errors"]) == (0, 12)


def test_empty_pending_bodies(sim_factory: SimFactory) -> None:
    sim = sim_factory(speed=0.01, empty_pending_rate=1)
    with _api(sim) as api:
        response = api.get(f"/v1/videos/{_submit(api)}")
    assert (response.status_code, response.content) == (202, b"")


def test_duplicate_bodies_and_polls_are_counted(fast: Simulator) -> None:
    with _api(fast) as api:
        first = _submit(api)
        api.post(GEN, json={"duration": 1, "prompt": "a lighthouse at dusk", "model": c.BASE_MODEL})
        _submit(api, prompt="something else")
        _wait(api, first)
        api.get(f"/v1/videos/{first}")
    stats = fast.stats()
    assert (stats["submissions"], stats["duplicate_bodies"]) == (3, 1)
    assert sorted(stats["bodies"].values()) == [1, 2]
    assert stats["submissions_by_route"] == {GEN: 3}
    assert (stats["polls"], stats["polls_total"]) == ({first: 2}, 2)


def test_jitter_is_reproducible_with_a_seed(sim_factory: SimFactory) -> None:
    spans = []
    for _ in range(2):
        sim = sim_factory(speed=10, jitter=0.5, seed=42)
        with _api(sim) as api:
            _submit(api)
        (job,) = sim.stats()["jobs"].values()
        spans.append(job["finish_at"] - job["created_at"])
    assert spans[0] == pytest.approx(spans[1])
    assert spans[0] != pytest.approx(1.05)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("inputs")
    shapes = {"hd": (1440, 1080, 2.0), "long": (320, 240, 9.0), "short": (320, 240, 1.0)}
    for name, (width, height, seconds) in shapes.items():
        write_clip(folder / f"{name}.mp4", width=width, height=height, seconds=seconds, audio=False)
    return {name: folder / f"{name}.mp4" for name in shapes}


def test_edits_keep_the_input_length_capped_at_720p(
    fast: Simulator, clips: dict[str, Path]
) -> None:
    with _api(fast) as api:
        request_id = _submit(api, c.ROUTE_EDITS, video={"url": _video_url(clips["hd"])})
        body = _wait(api, request_id).json()
    assert body["video"]["duration"] == 2
    info = probe_video(plain.get(body["video"]["url"]).content)
    assert (info.width, info.height) == (960, 720)
    assert info.duration == pytest.approx(2, abs=1 / 24)
    expected = pricing.estimate(c.BASE_MODEL, "720p", 2, input_video_seconds=2)
    assert body["usage"]["cost_in_usd_ticks"] == pricing.usd_to_ticks(expected.usd)


def test_extensions_add_to_the_input(fast: Simulator, clips: dict[str, Path]) -> None:
    with _api(fast) as api:
        video = {"url": _video_url(clips["hd"])}
        default = _submit(api, c.ROUTE_EXTENSIONS, video=video, duration=None)
        added = _submit(api, c.ROUTE_EXTENSIONS, video=video, duration=3)
        assert _wait(api, default).json()["video"]["duration"] == 2 + 6
        assert _wait(api, added).json()["video"]["duration"] == 2 + 3


@pytest.mark.parametrize(
    ("route", "clip", "message"),
    [
        (c.ROUTE_EDITS, "long", c.MSG_EDIT_INPUT_TOO_LONG.format(seconds=9)),
        (c.ROUTE_EXTENSIONS, "short", c.MSG_EXTENSION_INPUT.format(seconds=1)),
    ],
)
def test_input_video_length_limits(
    sim: Simulator, clips: dict[str, Path], route: str, clip: str, message: str
) -> None:
    with _api(sim) as api:
        response = api.post(route, json=_gen(video={"url": _video_url(clips[clip])}))
    assert (response.status_code, response.json()["error"]) == (400, message)


def test_a_bad_input_video_is_400(sim: Simulator, tmp_path: Path) -> None:
    write_image(tmp_path / "still.png", width=32, height=32)
    with _api(sim) as api:
        response = api.post(
            c.ROUTE_EDITS, json=_gen(video={"url": _video_url(tmp_path / "still.png")})
        )
    assert response.status_code == 400
    assert "Could not decode the video in `video`" in response.json()["error"]


def test_own_media_urls_and_uploads_can_be_edited(fast: Simulator, clips: dict[str, Path]) -> None:
    with _api(fast) as api:
        source = _wait(api, _submit(api, duration=3, aspect_ratio="4:3")).json()["video"]["url"]
        edited = _wait(api, _submit(api, c.ROUTE_EDITS, video={"url": source})).json()
        upload = {"file": ("hd.mp4", clips["hd"].read_bytes(), "video/mp4")}
        file_id = api.post(c.ROUTE_FILES, files=upload).json()["id"]
        video = {"file_id": file_id}
        extended = _wait(api, _submit(api, c.ROUTE_EXTENSIONS, video=video, duration=None)).json()
    assert (edited["status"], edited["video"]["duration"]) == ("done", 3)
    assert probe_video(plain.get(edited["video"]["url"]).content).width == 640
    assert extended["video"]["duration"] == 8


def test_a_new_simulator_on_the_same_state_dir_answers_old_ids(tmp_path: Path) -> None:
    config = SimConfig(render_time=0, state_dir=tmp_path / "state")
    with Simulator(config) as first, _api(first) as api:
        request_id = _submit(api)
        file_id = api.post(c.ROUTE_FILES, files={"file": ("a.bin", b"abc")}).json()["id"]
    with Simulator(config) as second, _api(second) as api:
        body = _wait(api, request_id).json()
        assert body["status"] == "done"
        assert body["video"]["url"].startswith(second.url)
        assert api.get(f"{c.ROUTE_FILES}/{file_id}").json()["bytes"] == 3
        assert probe_video(plain.get(body["video"]["url"]).content).duration == pytest.approx(
            1, abs=0.05
        )
    assert (tmp_path / "state" / "jobs" / f"{request_id}.json").exists()
