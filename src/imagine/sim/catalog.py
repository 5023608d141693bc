"""Read-only routes: the video model catalogue, the minimal model list, and API key information."""

from __future__ import annotations

import uuid
from typing import Any

from imagine.api import contract as c
from imagine.sim.rules import Refused, lookup_model
from imagine.sim.state import SimState
from imagine.sim.wire import Request, Response, json_response

# Creation dates and fingerprints are the simulator's own (the live values differ and do not matter).
_MODELS: dict[str, dict[str, Any]] = {
    c.BASE_MODEL: {
        "fingerprint": "fp_sim_grok_imagine_video",
        "created": 1754006400,
        "version": "1.0.0",
        "input_modalities": ["text", "image", "video"],
        "output_modalities": ["video"],
    },
    c.MODEL_15: {
        "fingerprint": "fp_sim_grok_imagine_video_15",
        "created": 1780099200,
        "version": "1.5.0",
        "input_modalities": ["text", "image"],
        "output_modalities": ["video"],
    },
}


def model_entry(model: str) -> dict[str, Any]:
    aliases = sorted(alias for alias, target in c.MODEL_ALIASES.items() if target == model)
    return {"id": model, **_MODELS[model], "object": "model", "owned_by": "xai", "aliases": aliases}


def list_video_models(state: SimState, request: Request, params: tuple[str, ...]) -> Response:
    return json_response(200, {"models": [model_entry(model) for model in c.MODELS]})


def get_video_model(state: SimState, request: Request, params: tuple[str, ...]) -> Response:
    try:
        model = lookup_model(params[0], state.config.team)
    except Refused as refusal:
        return state.error(refusal.status, refusal.code, refusal.message)
    return json_response(200, model_entry(model))


def list_models(state: SimState, request: Request, params: tuple[str, ...]) -> Response:
    data = [
        {"id": model, "object": "model", "created": _MODELS[model]["created"], "owned_by": "xai"}
        for model in c.MODELS
    ]
    return json_response(200, {"object": "list", "data": data})


def api_key_info(state: SimState, request: Request, params: tuple[str, ...]) -> Response:
    key = bearer_token(request) or ""
    user_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"imagine-sim-user:{key}"))
    stamp = "2026-01-01T00:00:00Z"
    return json_response(
        200,
        {
            "redacted_api_key": redact(key),
            "user_id": user_id,
            "name": "imagine simulator key",
            "create_time": stamp,
            "modify_time": stamp,
            "modified_by": user_id,
            "team_id": state.config.team,
            "acls": ["api-key:model:*", "api-key:endpoint:*"],
            "api_key_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"imagine-sim-key:{key}")),
            "team_blocked": False,
            "api_key_blocked": False,
            "api_key_disabled": False,
        },
    )


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None if absent or malformed."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token and " " not in token else None


def redact(key: str) -> str:
    """The API's redaction: first two and last two characters (``xa***yz``)."""
    return f"{key[:2]}***{key[-2:]}" if len(key) > 4 else "***"
