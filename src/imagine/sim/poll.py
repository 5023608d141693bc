"""Polling a job: GET /v1/videos/{request_id} answers pending, done, failed or expired."""

from __future__ import annotations

import re
import time
from typing import Any

from imagine.api import contract as c
from imagine.sim.media import media_url
from imagine.sim.state import SimState
from imagine.sim.timeline import DONE, FAILED, PENDING, Job
from imagine.sim.wire import Request, Response, empty_response, json_response

REQUEST_ID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
MSG_UNKNOWN_REQUEST = "No video generation request found with ID {request_id}."  # unconfirmed


def poll(state: SimState, request: Request, params: tuple[str, ...]) -> Response:
    if not REQUEST_ID.fullmatch(params[0]):
        return state.error(400, "invalid-argument", c.MSG_MALFORMED_ID)
    job = state.jobs.get(params[0].lower())
    if job is None:
        message = MSG_UNKNOWN_REQUEST.format(request_id=params[0])
        return state.error(404, "not-found", message)
    state.stats.poll(job.request_id)
    status = state.status(job)
    if status == PENDING:
        if state.chance(state.config.empty_pending_rate):
            return empty_response(202)
        return json_response(202, {"status": PENDING, "progress": job.progress(time.time())})
    if status == FAILED:
        return json_response(200, {"status": FAILED, "progress": 0, "error": job.error})
    if status != DONE:
        return json_response(200, {"status": status, "model": job.model})
    return json_response(200, done_body(state, request, job))


def done_body(state: SimState, request: Request, job: Job) -> dict[str, object]:
    duration = int(job.output_seconds) if job.output_seconds.is_integer() else job.output_seconds
    video: dict[str, object] = {"duration": duration, "respect_moderation": job.has_media}
    if job.has_media:
        url = media_url(state, request.host or _first(state.netlocs), job)
        video = {"url": url, **video}
        if job.stored is not None:
            video["file_output"] = file_output(job.stored, url)
    return {
        "status": DONE,
        "progress": 100,
        "model": job.model,
        "video": video,
        # Moderated renders are billed too (unconfirmed: the live API's practice is not documented).
        "usage": {"cost_in_usd_ticks": job.cost_ticks},
    }


def file_output(stored: dict[str, Any], url: str) -> dict[str, Any]:
    """The answer's ``video.file_output``; a public file's link is this simulator's media URL."""
    answer = {key: stored[key] for key in ("file_id", "filename", "expires_at")}
    if "public_url_expires_at" in stored:
        answer["public_url"] = url
        answer["public_url_expires_at"] = stored["public_url_expires_at"]
    return answer


def _first(names: set[str]) -> str:
    return min(names) if names else "127.0.0.1"
