"""Requests and responses as plain data, so that routes are functions and the socket code is elsewhere."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.message import Message
from enum import Enum
from pathlib import Path
from typing import Any


class Delivery(Enum):
    """How the server delivers a response: normally, not at all, or cut off halfway."""

    SEND = "send"
    DROP = "drop"  # close the connection without answering (the answer "got lost")
    TRUNCATE = "truncate"  # send the headers and half the body, then close


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Message
    body: bytes
    too_large: int | None = None  # the declared size of a body refused unread (answered 413)

    @property
    def host(self) -> str:
        return self.headers.get("Host", "")

    @property
    def content_type(self) -> str:
        return self.headers.get_content_type() if self.headers.get("Content-Type") else ""


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delivery: Delivery = Delivery.SEND
    # A large body sent from disk before ``body``: (file, offset, length). Keeps a 1 GB video out
    # of the simulator's memory (the ``video_bytes`` knob).
    file: tuple[Path, int, int] | None = None

    @property
    def length(self) -> int:
        return len(self.body) + (self.file[2] if self.file else 0)


# gRPC status texts that older deployments put in `code` instead of the slug.
LEGACY_CODES = {
    "invalid-argument": "Client specified an invalid argument",
    "not-found": "Some requested entity was not found",
    "permission-denied": "The caller does not have permission to execute the specified operation",
    "resource-exhausted": "Some resource has been exhausted",
    "internal": "Internal error",
    "unavailable": "The service is currently unavailable",
    "unauthenticated": "The request does not have valid authentication credentials",
}


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    merged = {"Content-Type": "application/json", **(headers or {})}
    return Response(status, body, merged)


def error_response(status: int, code: str, message: str, *, legacy: bool = False) -> Response:
    """The API's flat error body: ``{"code": <slug or gRPC text>, "error": <message>}``."""
    shown = LEGACY_CODES.get(code, code) if legacy else code
    return json_response(status, {"code": shown, "error": message})


def text_response(
    status: int, text: str, content_type: str = "text/plain; charset=utf-8"
) -> Response:
    return Response(status, text.encode(), {"Content-Type": content_type})


def empty_response(status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(status, b"", dict(headers or {}))
