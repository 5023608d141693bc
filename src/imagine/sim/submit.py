"""Submitting a job: POST /v1/videos/generations, /edits and /extensions, validated as the API does."""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from imagine.api import contract as c
from imagine.money import pricing
from imagine.sim import rules
from imagine.sim.decode import Storage, Undeserializable, VideoRequest, decode_request
from imagine.sim.input_media import FETCH_FAILURE, InputMedia, InputSources, resolve
from imagine.sim.media import url_is_valid
from imagine.sim.state import SimState
from imagine.sim.timeline import (
    DONE,
    FAILED,
    GENERIC_FAILURE,
    MODERATED,
    Job,
    mean_render_seconds,
)
from imagine.sim.wire import (
    Delivery,
    Request,
    Response,
    empty_response,
    json_response,
    text_response,
)

KINDS = {
    c.ROUTE_GENERATIONS: "generations",
    c.ROUTE_EDITS: "edits",
    c.ROUTE_EXTENSIONS: "extensions",
}
OWN_MEDIA = re.compile(r"/media/([0-9a-f-]{36})\.mp4")
DESERIALIZE = "Failed to deserialize the JSON body into the target type: "
BAD_URL_FAILS_AFTER = 0.25  # share of the render time after which an unfetchable input fails


@dataclass(frozen=True)
class Plan:
    """What a valid request will render, and what it is billed for."""

    mode: str
    model: str
    resolution: str
    size: tuple[int, int]
    output_seconds: float
    audio: bool
    prompt: str
    input_images: int = 0
    input_video_seconds: float = 0.0
    fetchable: bool = True
    storage: Storage | None = None
    features: tuple[str, ...] = ()  # the newer inputs it uses, counted in the stats


def submit(state: SimState, request: Request, route: str) -> Response:
    if request.content_type != "application/json" or not request.body.strip():
        return empty_response(415)
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as error:
        # As axum does: a syntax error is a 400, a type mismatch a 422. message unconfirmed
        return text_response(400, f"Failed to parse the request body as JSON: {error}")
    try:
        video_request = decode_request(KINDS[route], body)
    except Undeserializable as error:
        return text_response(422, DESERIALIZE + str(error))
    try:
        plan = make_plan(state, request, KINDS[route], video_request)
    except rules.Refused as refusal:
        return state.error(refusal.status, refusal.code, refusal.message)
    return start(state, route, plan, body)


def make_plan(state: SimState, request: Request, kind: str, body: VideoRequest) -> Plan:
    model = rules.lookup_model(body.model, state.config.team)
    sources = InputSources(state.files.content, lambda url: own_video(state, request, url))
    if kind == "generations":
        return _generation_plan(state, body, model, sources)
    return _rework_plan(body, model, rules.EDIT if kind == "edits" else rules.EXTENSION, sources)


def _generation_plan(
    state: SimState, body: VideoRequest, model: str, sources: InputSources
) -> Plan:
    rules.check_generation(body, model, allow_1080p=state.config.allow_1080p)
    refs = [(f"reference_images[{i}]", ref) for i, ref in enumerate(body.reference_images)]
    keyframes = [(f"keyframes[{i}].image", item.image) for i, item in enumerate(body.keyframes)]
    last = [("last_frame", body.last_frame)] if body.last_frame is not None else []
    named = ([("image", body.image)] if body.image is not None else []) + refs + keyframes + last
    images = [resolve(ref, "image", field, sources) for field, ref in named]
    resolution = body.resolution or "480p"
    return Plan(
        mode=rules.generation_mode(body),
        model=model,
        resolution=resolution,
        size=c.output_size(resolution, body.aspect_ratio or "16:9"),
        output_seconds=float(rules.generation_seconds(body)),
        audio=body.generate_audio is not False,
        prompt=body.prompt or "",
        input_images=len(images),
        fetchable=all(image.fetchable for image in images),
        storage=body.storage_options,
        features=features(body),
    )


def features(body: VideoRequest) -> tuple[str, ...]:
    """Which of the newer request fields a request carries (`with_<name>` in the stats)."""
    used = {
        "keyframes": bool(body.keyframes),
        "last_frame": body.last_frame is not None,
        "voices": bool(body.reference_audios),
        "storage": body.storage_options is not None,
        "user": body.user is not None,
    }
    return tuple(name for name, present in used.items() if present)


def _rework_plan(body: VideoRequest, model: str, mode: str, sources: InputSources) -> Plan:
    check = rules.check_edit if mode == rules.EDIT else rules.check_extension
    check(body, model)
    assert body.video is not None  # decode_request makes `video` required on these routes
    video = resolve(body.video, "video", "video", sources)
    problem = rules.input_video_problem(mode, video.seconds) if video.fetchable else None
    if problem:
        raise rules.Refused(problem)
    size = capped_720p(video.width, video.height) if video.fetchable else (848, 480)
    added = rules.extension_seconds(body) if mode == rules.EXTENSION else 0
    return Plan(
        mode=mode,
        model=model,
        resolution="720p" if min(size) > 480 else "480p",
        size=size,
        output_seconds=round(video.seconds + added, 3),
        audio=body.generate_audio is not False,
        prompt=body.prompt or "",
        input_video_seconds=video.seconds,
        fetchable=video.fetchable,
        features=features(body),
    )


def capped_720p(width: int, height: int) -> tuple[int, int]:
    """The input's size, scaled down so the short side is at most 720, with even sides (yuv420p)."""
    scale = min(1.0, 720 / max(1, min(width, height)))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def own_video(state: SimState, request: Request, url: str) -> InputMedia | None:
    """A media URL this simulator served (still valid), as an input video; else None."""
    split = urlsplit(url)
    path = OWN_MEDIA.fullmatch(split.path)
    if split.netloc not in state.netlocs | {request.host} or path is None:
        return None
    if not url_is_valid(state, path[1], dict(parse_qsl(split.query))):
        return None
    job = state.jobs.get(path[1])
    if job is None or not job.has_media or state.status(job) != DONE:
        return None
    return InputMedia("video", job.width, job.height, job.output_seconds)


def start(state: SimState, route: str, plan: Plan, body: object) -> Response:
    limited = _rate_limited(state, plan.model)
    if limited is not None:
        return limited
    job = create_job(state, route, plan)
    state.jobs.add(job)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    state.stats.submission(
        route, hashlib.sha256(canonical).hexdigest(), job.request_id, plan.features
    )
    response = json_response(200, {"request_id": job.request_id})
    if state.chance(state.config.drop_rate):
        state.stats.add("dropped")
        response.delivery = Delivery.DROP
    return response


def _rate_limited(state: SimState, model: str) -> Response | None:
    limit = state.config.rps_limit
    if limit is None:
        return None
    actual = state.limiter.admit(model, limit, time.monotonic())
    if actual is None:
        return None
    message = (
        f"Too many requests for team {state.config.team} and model {model}. Your team's rate "
        f"limit is — Requests per Second (actual/limit): {actual}/{limit:g}. "
        "Please slow down or contact xAI to raise your team's limit."  # this sentence unconfirmed
    )
    response = state.error(429, "resource-exhausted", message)
    if state.config.retry_after is not None:
        response.headers["Retry-After"] = f"{state.config.retry_after:g}"
    return response


def create_job(state: SimState, route: str, plan: Plan) -> Job:
    """Decide the job's outcome and finish time now, so its status is a function of the clock."""
    outcome, error = _outcome(state, plan)
    now = time.time()
    request_id = str(uuid.uuid4())
    finish_at = now + _render_seconds(state, plan)
    return Job(
        request_id=request_id,
        route=route,
        mode=plan.mode,
        model=plan.model,
        resolution=plan.resolution,
        width=plan.size[0],
        height=plan.size[1],
        output_seconds=plan.output_seconds,
        audio=plan.audio,
        seed=zlib.crc32(plan.prompt.encode()) % 64,
        created_at=now,
        finish_at=finish_at,
        outcome=outcome,
        cost_ticks=_cost_ticks(plan),
        error=error,
        stored=stored_file(plan.storage, request_id, finish_at),
    )


def stored_file(
    storage: Storage | None, request_id: str, finish_at: float
) -> dict[str, Any] | None:
    """Where the Files API keeps a render asked to be stored: decided now, like the outcome. With
    no `expires_after` the file is kept the longest the API allows (the simulator's choice)."""
    if storage is None:
        return None
    done = int(finish_at)
    kept = storage.expires_after or c.MAX_STORE_SECONDS
    record: dict[str, Any] = {
        "file_id": f"file-{uuid.uuid5(uuid.NAMESPACE_URL, request_id).hex[:24]}",
        "filename": storage.filename or f"xai-video-{request_id}.mp4",
        "expires_at": done + kept,
    }
    if storage.public:
        record["public_url_expires_at"] = done + (storage.public_expires_after or kept)
    return record


def _render_seconds(state: SimState, plan: Plan) -> float:
    config = state.config
    mean = mean_render_seconds(
        mode=plan.mode,
        resolution=plan.resolution,
        output_seconds=plan.output_seconds,
        speed=config.speed,
        render_time=config.render_time,
    )
    if config.jitter:
        mean *= 1 + state.uniform(-config.jitter, config.jitter)
    seconds = max(0.0, mean)
    return seconds if plan.fetchable else seconds * BAD_URL_FAILS_AFTER


def _cost_ticks(plan: Plan) -> int:
    """Output seconds at the table's price, plus the charges for input images and video."""
    cost = pricing.estimate(
        plan.model,
        plan.resolution,
        plan.output_seconds,
        input_images=plan.input_images,
        input_video_seconds=plan.input_video_seconds,
    )
    return pricing.usd_to_ticks(cost.usd)


def _outcome(state: SimState, plan: Plan) -> tuple[str, dict[str, str] | None]:
    if not plan.fetchable:
        return FAILED, dict(FETCH_FAILURE)
    if state.chance(state.config.fail_rate):
        return FAILED, dict(GENERIC_FAILURE)
    prompt = plan.prompt.lower()
    if any(word.lower() in prompt for word in state.config.moderation_words if word):
        return MODERATED, None
    return DONE, None
