"""Control routes for tests and benchmarks (no auth): counters, reset, and knobs at run time."""

from __future__ import annotations

import json

from imagine.sim.knobs import as_json
from imagine.sim.state import SimState
from imagine.sim.wire import Request, Response, json_response


def get_stats(state: SimState, request: Request, params: tuple[str, ...]) -> Response:
    return json_response(200, state.snapshot())


def reset(state: SimState, request: Request, params: tuple[str, ...]) -> Response:
    state.reset()
    return json_response(200, state.snapshot())


def get_config(state: SimState, request: Request, params: tuple[str, ...]) -> Response:
    return json_response(200, as_json(state.config))


def set_config(state: SimState, request: Request, params: tuple[str, ...]) -> Response:
    try:
        changes = json.loads(request.body or b"{}")
        if not isinstance(changes, dict):
            raise ValueError("expected a JSON object of knob names and values")
        config = state.configure(changes)
    except (ValueError, UnicodeDecodeError) as error:
        return json_response(400, {"code": "invalid-argument", "error": str(error)})
    return json_response(200, as_json(config))
