"""Routing: which function answers a request, with auth and fault injection in front of API routes."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from imagine.api import contract as c
from imagine.sim import catalog, control, poll, submit, uploads
from imagine.sim.media import serve_media
from imagine.sim.state import SimState
from imagine.sim.wire import Request, Response, empty_response, json_response, text_response

Handler = Callable[[SimState, Request, tuple[str, ...]], Response]
API, MEDIA, CONTROL = "api", "media", "control"
# message unconfirmed: the API's 401 wording
MSG_NO_AUTH = (
    "Missing or malformed Authorization header: expected `Authorization: Bearer <API key>`."
)


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    methods: dict[str, Handler]
    kind: str


def _route(path: str, kind: str, **methods: Handler) -> Route:
    return Route(re.compile(path), methods, kind)


def _submitter(route: str) -> Handler:
    def handler(state: SimState, request: Request, params: tuple[str, ...]) -> Response:
        return submit.submit(state, request, route)

    return handler


# First match wins, so fixed paths come before the patterns that would also match them.
ROUTES = (
    _route(c.ROUTE_GENERATIONS, API, POST=_submitter(c.ROUTE_GENERATIONS)),
    _route(c.ROUTE_EDITS, API, POST=_submitter(c.ROUTE_EDITS)),
    _route(c.ROUTE_EXTENSIONS, API, POST=_submitter(c.ROUTE_EXTENSIONS)),
    _route(r"/v1/videos/([^/]+)", API, GET=poll.poll),
    _route(c.ROUTE_MODELS, API, GET=catalog.list_video_models),
    _route(c.ROUTE_MODELS + r"/([^/]+)", API, GET=catalog.get_video_model),
    _route(r"/v1/models", API, GET=catalog.list_models),
    _route(c.ROUTE_API_KEY, API, GET=catalog.api_key_info),
    _route(c.ROUTE_FILES, API, POST=uploads.upload),
    _route(c.ROUTE_FILES + r"/([^/]+)", API, GET=uploads.get_file, DELETE=uploads.delete_file),
    _route(r"/media/([^/]+)\.mp4", MEDIA, GET=serve_media, HEAD=serve_media),
    _route(r"/sim/stats", CONTROL, GET=control.get_stats),
    _route(r"/sim/reset", CONTROL, POST=control.reset),
    _route(r"/sim/config", CONTROL, GET=control.get_config, POST=control.set_config),
)


def dispatch(state: SimState, request: Request) -> Response:
    for route in ROUTES:
        match = route.pattern.fullmatch(request.path)
        if match is None:
            continue
        handler = route.methods.get(request.method)
        if handler is None:
            response = empty_response(405, {"Allow": ", ".join(route.methods)})
        elif route.kind == API:
            response = _api(state, request, partial(handler, state, request, match.groups()))
        else:
            response = handler(state, request, match.groups())
        if route.kind == API:
            _count(state, request, response)
        return response
    # message unconfirmed: only the shape of the unknown-route body is known
    message = f"Route {request.method} {request.path} not found."
    return json_response(404, {"error": {"code": 404, "message": message}})


def _api(state: SimState, request: Request, handler: Callable[[], Response]) -> Response:
    if state.chance(state.config.error_rate):
        return injected_error(state)
    token = catalog.bearer_token(request)
    if token is None:
        return state.error(401, "unauthenticated", MSG_NO_AUTH)
    accepted = state.config.api_keys
    if not (token in accepted if accepted is not None else token.startswith("xai-")):
        message = c.MSG_INCORRECT_API_KEY.format(redacted=catalog.redact(token))
        return state.error(400, "invalid-argument", message)
    if request.too_large is not None:
        return uploads.too_large(state, request.too_large)
    return handler()


def injected_error(state: SimState) -> Response:
    """A 500, 502 or 503, answered without doing anything (bodies unconfirmed: a gateway's is HTML)."""
    status = (500, 502, 503)[int(state.uniform(0, 3)) % 3]
    if status == 502:
        html = "<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>"
        return text_response(502, html, "text/html")
    if status == 503:
        return state.error(503, "unavailable", "The service is temporarily unavailable.")
    return state.error(500, "internal", "Internal server error.")


def _count(state: SimState, request: Request, response: Response) -> None:
    if response.status >= 500:
        state.stats.add("server_errors")
    elif response.status == 429:
        state.stats.add("rate_limited")
    elif request.method == "POST" and response.status >= 400:
        state.stats.add("rejected")
