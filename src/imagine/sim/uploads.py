"""Routes of the Files API: POST /v1/files (multipart), GET and DELETE /v1/files/{id}."""

from __future__ import annotations

from imagine.api.contract import MAX_FILE_UPLOAD_BYTES
from imagine.sim.files import parse_upload
from imagine.sim.input_media import MSG_UNKNOWN_FILE
from imagine.sim.state import SimState
from imagine.sim.wire import Request, Response, empty_response, json_response

# messages unconfirmed: the Files API's error wording is not documented
MSG_TOO_LARGE = "File is too large: {n} bytes. Maximum allowed is 50 MB (50000000 bytes)."
MSG_NO_FILE = "Expected a multipart/form-data body with a `file` field."


def too_large(state: SimState, size: int) -> Response:
    return state.error(413, "invalid-argument", MSG_TOO_LARGE.format(n=size))


def upload(state: SimState, request: Request, params: tuple[str, ...]) -> Response:
    if request.content_type != "multipart/form-data":
        return empty_response(415)
    parsed = parse_upload(request.headers.get("Content-Type", ""), request.body)
    if parsed is None:
        return state.error(400, "invalid-argument", MSG_NO_FILE)
    if len(parsed.data) > MAX_FILE_UPLOAD_BYTES:
        return too_large(state, len(parsed.data))
    stored = state.files.add(parsed.data, parsed.filename, parsed.purpose)
    state.stats.add("uploads")
    return json_response(200, stored.as_json())


def get_file(state: SimState, request: Request, params: tuple[str, ...]) -> Response:
    stored = state.files.get(params[0])
    if stored is None:
        return state.error(404, "not-found", MSG_UNKNOWN_FILE.format(file_id=params[0]))
    return json_response(200, stored.as_json())


def delete_file(state: SimState, request: Request, params: tuple[str, ...]) -> Response:
    if not state.files.delete(params[0]):
        return state.error(404, "not-found", MSG_UNKNOWN_FILE.format(file_id=params[0]))
    return json_response(200, {"id": params[0], "object": "file", "deleted": True})
