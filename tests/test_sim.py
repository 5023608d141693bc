"""The simulator's API surface: auth, routing, validation messages, catalogue, files, control routes."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from imagine.api import contract as c
from imagine.media.synth import ImageFormat, write_image
from imagine.sim import SimConfig, Simulator
from tests import plain

GEN = c.ROUTE_GENERATIONS
DESERIALIZE = "Failed to deserialize the JSON body into the target type: "
SimFactory = Callable[..., Simulator]


@pytest.fixture
def api(sim: Simulator) -> Iterator[httpx.Client]:
    with plain.Client(base_url=sim.url, headers=_auth(sim.api_key)) as client:
        yield client


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _gen(**fields: Any) -> dict[str, Any]:
    return {"model": c.BASE_MODEL, "prompt": "a lighthouse at dusk", **fields}


def _image_url(tmp_path: Path, fmt: ImageFormat = "png") -> str:
    path = tmp_path / f"ref.{fmt}"
    write_image(path, width=64, height=64, fmt=fmt)
    return f"data:image/{fmt};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["code"], body["error"]


# --- authentication -------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Basic abc", "Bearer", "xai-no-scheme"])
def test_missing_or_malformed_authorization_is_401(sim: Simulator, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = plain.get(f"{sim.url}/v1/api-key", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


def test_a_wrong_key_is_400_with_the_redacted_key(sim_factory: SimFactory) -> None:
    sim = sim_factory(api_keys=("xai-right-key",))
    response = plain.get(f"{sim.url}/v1/api-key", headers=_auth("xai-wrong-key-yz"))
    message = c.MSG_INCORRECT_API_KEY.format(redacted="xa***yz")
    assert _error(response) == (400, "invalid-argument", message)
    assert plain.get(f"{sim.url}/v1/api-key", headers=_auth("xai-right-key")).status_code == 200
    assert sim.api_key == "xai-right-key"


def test_any_xai_key_is_accepted_by_default(sim: Simulator) -> None:
    assert sim.api_key.startswith("xai-sim-")
    assert plain.get(f"{sim.url}/v1/models", headers=_auth("xai-anything")).status_code == 200
    refused = plain.get(f"{sim.url}/v1/models", headers=_auth("sk-openai-key"))
    assert _error(refused)[:2] == (400, "invalid-argument")


def test_legacy_errors_put_grpc_text_in_code(sim_factory: SimFactory) -> None:
    sim = sim_factory(legacy_errors=True)
    with plain.Client(base_url=sim.url, headers=_auth(sim.api_key)) as api:
        response = api.post(GEN, json=_gen(duration=16))
    assert _error(response) == (400, "Client specified an invalid argument", c.MSG_DURATION)


# --- routing ----------------------------------------------------------------------------------


def test_unknown_route_and_wrong_method(api: httpx.Client) -> None:
    unknown = api.get("/v1/nothing-here")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == 404
    wrong = api.get(GEN)
    assert (wrong.status_code, wrong.content) == (405, b"")
    assert api.delete("/v1/api-key").status_code == 405


def test_keep_alive_serves_many_requests_on_one_connection(api: httpx.Client) -> None:
    statuses = [api.get("/v1/api-key").status_code for _ in range(20)]
    assert statuses == [200] * 20
    assert api.get("/v1/api-key").headers["content-length"].isdigit()


# --- validation ---------------------------------------------------------------------------------


def test_video_routes_take_json_only(api: httpx.Client) -> None:
    form = api.post(GEN, data={"model": c.BASE_MODEL})
    assert (form.status_code, form.content) == (415, b"")
    empty = api.post(GEN, headers={"Content-Type": "application/json"})
    assert (empty.status_code, empty.content) == (415, b"")


def test_chunked_bodies_are_read(api: httpx.Client) -> None:
    chunks = iter([b'{"model": "grok-imagine-video", ', b'"prompt": "chunked"}'])
    response = api.post(GEN, content=chunks, headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert response.request.headers["transfer-encoding"] == "chunked"


def test_a_json_syntax_error_is_plain_text(api: httpx.Client) -> None:
    response = api.post(GEN, content=b"{nope", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.text.startswith("Failed to parse the request body as JSON:")


@pytest.mark.parametrize(
    ("route", "body", "detail"),
    [
        (GEN, {"prompt": "x"}, "missing field `model`"),
        (
            GEN,
            _gen(aspect_ratio="auto"),
            "aspect_ratio: unknown variant `auto`, expected one of `1:1`, `16:9`, `9:16`, "
            "`4:3`, `3:4`, `3:2`, `2:3`",
        ),
        (GEN, _gen(resolution="4k"), "resolution: unknown variant `4k`, expected one of "),
        (GEN, _gen(duration=6.5), "duration: invalid type: floating point `6.5`, expected u32"),
        (GEN, _gen(duration=-1), "duration: invalid value: integer `-1`, expected u32"),
        (GEN, _gen(duration="6"), 'duration: invalid type: string "6", expected u32'),
        (GEN, _gen(image="https://x/y.png"), 'image: invalid type: string "https://x/y.png"'),
        (GEN, _gen(reference_images="a.png"), "reference_images: invalid type: string"),
        (GEN, _gen(reference_images=["a.png"]), "reference_images[0]: invalid type: string"),
        (GEN, _gen(image={"url": "https://x", "file_id": "file-1"}), "image: exactly one of"),
        (GEN, _gen(image={}), "image: exactly one of `url` or `file_id` must be set"),
        (GEN, _gen(generate_audio="no"), "generate_audio: invalid type: string"),
        (GEN, [1, 2], "invalid type: sequence, expected struct"),
        (c.ROUTE_EDITS, _gen(video="https://x/v.mp4"), 'video: invalid type: string "https'),
        (c.ROUTE_EDITS, _gen(video_url="https://x/v.mp4"), "missing field `video`"),
        (c.ROUTE_EXTENSIONS, _gen(video={"url": 5}), "video.url: invalid type: integer `5`"),
    ],
)
def test_bodies_that_do_not_deserialize_are_422_plain_text(
    api: httpx.Client, route: str, body: Any, detail: str
) -> None:
    response = api.post(route, json=body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith(DESERIALIZE + detail)


def test_type_errors_are_reported_before_missing_fields(api: httpx.Client) -> None:
    response = api.post(GEN, json={"duration": "x"})
    assert response.text == DESERIALIZE + 'duration: invalid type: string "x", expected u32'


def test_unknown_model_is_404_with_the_api_message(api: httpx.Client) -> None:
    response = api.post(GEN, json=_gen(model="grok-imagine-video-9"))
    message = c.MSG_UNKNOWN_MODEL.format(model="grok-imagine-video-9", team="team-imagine-sim")
    assert _error(response) == (404, "not-found", message)


def _refs(tmp_path: Path, count: int) -> list[dict[str, str]]:
    return [{"url": _image_url(tmp_path)}] * count


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"duration": 0}, c.MSG_DURATION),
        ({"duration": 16}, c.MSG_DURATION),
        ({"reference_images": 15}, c.MSG_TOO_MANY_REFERENCES.format(n=15)),
        ({"reference_audios": 4, "model": c.MODEL_15}, c.MSG_TOO_MANY_AUDIOS.format(n=4)),
        ({"reference_images": 2, "duration": 11}, c.MSG_REFERENCE_DURATION.format(n=11)),
        (
            {"reference_images": 1, "resolution": "1080p", "model": c.MODEL_15},
            c.MSG_REFERENCE_1080P,
        ),
        ({"resolution": "1080p"}, c.MSG_1080P_MODEL),
        ({"reference_audios": 1}, c.MSG_AUDIOS_MODEL),
        ({"prompt": None}, c.MSG_PROMPT_REQUIRED.format(mode="text-to-video")),
        (
            {"prompt": "  ", "reference_images": 1},
            c.MSG_PROMPT_REQUIRED.format(mode="reference-to-video"),
        ),
        ({"image": True, "reference_images": 1}, c.MSG_IMAGE_WITH_REFERENCES),
        # checked in the API's order: the reference count before the duration
        ({"reference_images": 15, "duration": 99}, c.MSG_TOO_MANY_REFERENCES.format(n=15)),
    ],
    ids=lambda value: str(value)[:40],
)
def test_400_checks_use_the_api_messages(
    api: httpx.Client, tmp_path: Path, fields: dict[str, Any], message: str
) -> None:
    body = _gen(**fields)
    if "reference_images" in fields:
        body["reference_images"] = _refs(tmp_path, fields["reference_images"])
    if "reference_audios" in fields:
        body["reference_audios"] = [{"voice_id": "ara"}] * fields["reference_audios"]
    if "image" in fields:
        body["image"] = {"url": _image_url(tmp_path)}
    assert _error(api.post(GEN, json=body)) == (400, "invalid-argument", message)
    assert api.get("/sim/stats").json()["submissions"] == 0


def test_1080p_may_be_refused_for_the_team(sim_factory: SimFactory) -> None:
    sim = sim_factory(allow_1080p=False)
    with plain.Client(base_url=sim.url, headers=_auth(sim.api_key)) as api:
        response = api.post(GEN, json=_gen(model=c.MODEL_15, resolution="1080p"))
    assert _error(response) == (400, "invalid-argument", c.MSG_1080P_TEAM)


@pytest.mark.parametrize(
    "fields",
    [
        {"model": c.MODEL_15, "resolution": "1080p", "duration": 15},
        {"model": "grok-imagine-video-1.5-preview"},
        {
            "model": c.MODEL_15,
            "reference_images": [{"url": "https://example.com/a.png"}],
            "reference_audios": [{"voice_id": "ara"}],
        },
        {"prompt": None, "image": "png"},
        {"unknown_field": 1, "storage_options": {"x": 1}, "user": "u-1"},
    ],
    ids=["1.5-1080p", "alias", "audios-on-1.5", "image-without-prompt", "unknown-fields"],
)
def test_valid_requests_are_accepted(
    api: httpx.Client, tmp_path: Path, fields: dict[str, Any]
) -> None:
    body = _gen(**fields)
    if fields.get("image") == "png":
        body["image"] = {"url": _image_url(tmp_path)}
    response = api.post(GEN, json=body)
    assert response.status_code == 200, response.text
    assert len(response.json()["request_id"]) == 36


def test_reference_to_video_allows_15_seconds_on_1_5(api: httpx.Client, tmp_path: Path) -> None:
    body = _gen(model=c.MODEL_15, duration=15, reference_images=_refs(tmp_path, 14))
    assert api.post(GEN, json=body).status_code == 200


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("data:image/png;base64,not*base64", "Invalid data URL in `image`"),
        ("data:video/mp4;base64,AAAA", "Expected image data in `image`, got video/mp4"),
        ("data:image/png;base64," + base64.b64encode(b"plain text").decode(), "Could not decode"),
    ],
)
def test_bad_inline_images_are_400(api: httpx.Client, url: str, needle: str) -> None:
    status, code, message = _error(api.post(GEN, json=_gen(image={"url": url})))
    assert (status, code) == (400, "invalid-argument")
    assert needle in message


def test_a_truncated_jpeg_is_refused(api: httpx.Client, tmp_path: Path) -> None:
    write_image(tmp_path / "a.jpg", width=64, height=64, fmt="jpeg")
    data = (tmp_path / "a.jpg").read_bytes()[:-40]
    url = "data:image/jpeg;base64," + base64.b64encode(data).decode()
    response = api.post(GEN, json=_gen(reference_images=[{"url": url}]))
    assert "Could not decode the image in `reference_images[0]`" in _error(response)[2]


@pytest.mark.parametrize(
    ("route", "message"),
    [(c.ROUTE_EDITS, c.MSG_EDIT_MODEL), (c.ROUTE_EXTENSIONS, c.MSG_EXTENSION_MODEL)],
)
def test_edits_and_extensions_only_on_the_base_model(
    api: httpx.Client, route: str, message: str
) -> None:
    body = _gen(model=c.MODEL_15, video={"url": "https://example.com/v.mp4"})
    assert _error(api.post(route, json=body)) == (400, "invalid-argument", message)


def test_malformed_and_unknown_request_ids(api: httpx.Client) -> None:
    malformed = api.get("/v1/videos/not-a-uuid")
    assert _error(malformed) == (400, "invalid-argument", c.MSG_MALFORMED_ID)
    unknown = api.get("/v1/videos/00000000-0000-4000-8000-000000000000")
    assert _error(unknown)[:2] == (404, "not-found")


# --- catalogue ----------------------------------------------------------------------------------


def test_model_catalogue(api: httpx.Client) -> None:
    models = api.get(c.ROUTE_MODELS).json()["models"]
    assert [model["id"] for model in models] == list(c.MODELS)
    assert set(models[1]["aliases"]) == set(c.MODEL_ALIASES)
    expected_keys = {"id", "fingerprint", "created", "object", "owned_by", "version"}
    assert expected_keys <= set(models[0])
    one = api.get(f"{c.ROUTE_MODELS}/grok-imagine-video-1.5-preview").json()
    assert one["id"] == c.MODEL_15
    assert api.get(f"{c.ROUTE_MODELS}/nope").status_code == 404
    listing = api.get("/v1/models").json()
    assert listing["object"] == "list"
    assert {entry["id"] for entry in listing["data"]} >= set(c.MODELS)


def test_api_key_info(sim: Simulator, api: httpx.Client) -> None:
    info = api.get(c.ROUTE_API_KEY).json()
    assert info["redacted_api_key"] == f"xa***{sim.api_key[-2:]}"
    assert info["team_id"] == "team-imagine-sim"
    assert (info["team_blocked"], info["api_key_blocked"], info["api_key_disabled"]) == (
        False,
        False,
        False,
    )


# --- files --------------------------------------------------------------------------------------


def test_files_upload_get_delete(api: httpx.Client) -> None:
    uploaded = api.post(
        c.ROUTE_FILES, files={"file": ("clip.bin", b"\x00\r\n\x01" * 100)}, data={"purpose": "x"}
    )
    assert uploaded.status_code == 200
    meta = uploaded.json()
    assert meta["id"].startswith("file-")
    assert (meta["object"], meta["bytes"], meta["filename"], meta["purpose"]) == (
        "file",
        400,
        "clip.bin",
        "x",
    )
    assert api.get(f"{c.ROUTE_FILES}/{meta['id']}").json() == meta
    assert api.delete(f"{c.ROUTE_FILES}/{meta['id']}").json()["deleted"] is True
    assert api.get(f"{c.ROUTE_FILES}/{meta['id']}").status_code == 404
    assert api.get("/sim/stats").json()["uploads"] == 1


def test_uploads_over_the_limit_are_413(api: httpx.Client) -> None:
    too_big = bytes(c.MAX_FILE_UPLOAD_BYTES + 2 * 1024 * 1024)
    response = api.post(c.ROUTE_FILES, files={"file": ("big.bin", too_big)})
    assert response.status_code == 413
    assert "too large" in response.json()["error"]
    assert api.get("/v1/api-key").status_code == 200  # the connection is still usable


def test_uploaded_images_are_used_by_file_id(api: httpx.Client, tmp_path: Path) -> None:
    write_image(tmp_path / "a.webp", width=64, height=64, fmt="webp")
    upload = {"file": ("a.webp", (tmp_path / "a.webp").read_bytes())}
    file_id = api.post(c.ROUTE_FILES, files=upload).json()["id"]
    assert api.post(GEN, json=_gen(image={"file_id": file_id})).status_code == 200
    unknown = api.post(GEN, json=_gen(image={"file_id": "file-missing"}))
    assert _error(unknown) == (400, "invalid-argument", "File file-missing was not found.")


def test_files_need_multipart(api: httpx.Client) -> None:
    assert api.post(c.ROUTE_FILES, json={"file": "x"}).status_code == 415


# --- control routes -----------------------------------------------------------------------------


def test_config_changes_at_run_time(sim: Simulator, api: httpx.Client) -> None:
    assert plain.get(f"{sim.url}/sim/config").json()["fail_rate"] == 0.0
    changed = plain.post(f"{sim.url}/sim/config", json={"fail_rate": 1, "moderation_words": ["x"]})
    assert changed.json()["fail_rate"] == 1
    assert sim.config.moderation_words == ("x",)
    refused = plain.post(f"{sim.url}/sim/config", json={"speed": 0})
    assert refused.status_code == 400
    assert "speed" in refused.json()["error"]
    assert plain.post(f"{sim.url}/sim/config", json={"nope": 1}).status_code == 400
    assert plain.post(f"{sim.url}/sim/config", json={"state_dir": "/tmp"}).status_code == 400


def test_reset_zeroes_counters(sim: Simulator, api: httpx.Client) -> None:
    api.post(GEN, json=_gen())
    api.post(GEN, json=_gen(duration=99))
    stats = sim.stats()
    assert (stats["submissions"], stats["rejected"]) == (1, 1)
    reset = plain.post(f"{sim.url}/sim/reset").json()
    assert (reset["submissions"], reset["rejected"], reset["jobs"]) == (0, 0, {})


def test_simulator_lifecycle() -> None:
    with Simulator(SimConfig(speed=100)) as sim:
        assert plain.get(f"{sim.url}/sim/stats").status_code == 200
    with pytest.raises(httpx.ConnectError):
        plain.get(f"{sim.url}/sim/stats")


def test_serve_forever_blocks_until_stopped() -> None:
    sim = Simulator(SimConfig())
    serving = threading.Thread(target=sim.serve_forever)
    serving.start()
    assert plain.get(f"{sim.url}/sim/stats").status_code == 200
    sim.stop()
    serving.join(timeout=5)
    assert not serving.is_alive()


def test_bad_knobs_are_refused() -> None:
    with pytest.raises(ValueError, match="fail_rate"):
        SimConfig(fail_rate=2)
    with pytest.raises(ValueError, match="speed"):
        SimConfig(speed=0)
