"""The media route: signed, expiring MP4 URLs with HTTP Range support, and the truncation fault.

It stands for the API's separate media host, so it takes no API key (and counts requests that
send one anyway: a client must never hand its key to another host).
"""

from __future__ import annotations

import hashlib
import hmac
import time

from imagine.errors import MediaError
from imagine.media.synth import ClipSpec
from imagine.sim.clips import job_trailer
from imagine.sim.state import SimState
from imagine.sim.timeline import DONE, Job
from imagine.sim.wire import Delivery, Request, Response, empty_response, error_response

MEDIA_PATH = "/media/{request_id}.mp4"
# messages unconfirmed: the media host's error bodies are not documented
MSG_URL_DENIED = "This media URL has expired or its signature is not valid."
MSG_MEDIA_GONE = "No media found at this URL."


class Unsatisfiable(Exception):
    """A Range that selects no byte of the file (answered 416)."""


def sign(secret: bytes, request_id: str, expires: int) -> str:
    return hmac.new(secret, f"{request_id}:{expires}".encode(), hashlib.sha256).hexdigest()[:32]


def media_url(state: SimState, host: str, job: Job) -> str:
    """A fresh signed URL (new expiry) for a done job's MP4, on the host the client called."""
    expires = int(time.time() + state.config.url_ttl)
    path = MEDIA_PATH.format(request_id=job.request_id)
    return f"http://{host}{path}?exp={expires}&sig={sign(state.secret, job.request_id, expires)}"


def url_is_valid(state: SimState, request_id: str, query: dict[str, str]) -> bool:
    expires = query.get("exp", "")
    if not expires.isdigit():
        return False
    expected = sign(state.secret, request_id, int(expires))
    return hmac.compare_digest(expected, query.get("sig", "")) and time.time() < int(expires)


def serve_media(state: SimState, request: Request, params: tuple[str, ...]) -> Response:
    request_id = params[0].lower()
    if request.headers.get("Authorization"):
        state.stats.add("media_auth_headers")
    if not url_is_valid(state, request_id, request.query):
        return error_response(403, "permission-denied", MSG_URL_DENIED)
    job = state.jobs.get(request_id)
    if job is None or not job.has_media or state.status(job) != DONE:
        return error_response(404, "not-found", MSG_MEDIA_GONE)
    try:
        if state.config.video_bytes is not None:
            response = _padded(state, job, request.headers.get("Range"), state.config.video_bytes)
        else:
            response = ranged(request.headers.get("Range"), clip_bytes(state, job))
    except MediaError as error:  # PyAV is not installed: the simulator cannot make videos
        return state.error(500, "internal", f"The simulator cannot serve videos: {error}")
    if request.method == "GET" and response.status in (200, 206):
        _deliver(state, response)
    return response


def clip_bytes(state: SimState, job: Job) -> bytes:
    return state.clips.path(_spec(state, job)).read_bytes() + job_trailer(job.request_id)


def _spec(state: SimState, job: Job) -> ClipSpec:
    return ClipSpec(
        job.width, job.height, job.output_seconds, job.audio, state.config.fps, job.seed
    )


def _padded(state: SimState, job: Job, header: str | None, size: int) -> Response:
    """The job's clip padded to about ``size`` bytes, sent from disk, then the job's trailer."""
    trailer = job_trailer(job.request_id)
    path = state.clips.padded(_spec(state, job), max(1, size - len(trailer)))
    on_disk = path.stat().st_size
    total = on_disk + len(trailer)
    headers = {"Content-Type": "video/mp4", "Accept-Ranges": "bytes"}
    try:
        span = parse_range(header, total) if header else None
    except Unsatisfiable:
        return empty_response(416, {**headers, "Content-Range": f"bytes */{total}"})
    start, end = span if span is not None else (0, total - 1)
    from_file = max(0, min(end + 1, on_disk) - start)
    tail = trailer[max(0, start - on_disk) : max(0, end + 1 - on_disk)]
    if span is None:
        return Response(200, tail, headers, file=(path, start, from_file))
    headers["Content-Range"] = f"bytes {start}-{end}/{total}"
    return Response(206, tail, headers, file=(path, start, from_file) if from_file else None)


def _deliver(state: SimState, response: Response) -> None:
    """Count the download; with the truncate knob, promise the whole body but send half."""
    sent = response.length
    if state.chance(state.config.truncate_rate):
        response.delivery = Delivery.TRUNCATE
        sent //= 2
        state.stats.add("truncated")
    state.stats.add("downloads")
    state.stats.add("download_bytes", sent)


def ranged(header: str | None, data: bytes) -> Response:
    """200 with everything, 206 with the requested span, or 416 when the span is past the end."""
    headers = {"Content-Type": "video/mp4", "Accept-Ranges": "bytes"}
    try:
        span = parse_range(header, len(data)) if header else None
    except Unsatisfiable:
        return empty_response(416, {**headers, "Content-Range": f"bytes */{len(data)}"})
    if span is None:
        return Response(200, data, headers)
    start, end = span
    headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
    return Response(206, data[start : end + 1], headers)


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The inclusive byte span of a single-range header; None means "ignore it, send everything"."""
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None  # other units and multipart ranges are optional for a server: ignore them
    first, dash, last = (part.strip() for part in spec.partition("-"))
    if not dash or not (first or last) or not (first + last).isdigit():
        return None
    if not first:  # a suffix: the last N bytes
        if int(last) == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - int(last)), size - 1
    start = int(first)
    if last and int(last) < start:
        return None  # syntactically invalid, so ignored (RFC 9110)
    if start >= size:
        raise Unsatisfiable
    return start, min(int(last) if last else size - 1, size - 1)
