"""A hostile xAI look-alike on loopback, for the fault tests.

It speaks just enough of the contract to take a render (POST answers a request id) and then
misbehaves as a test tells it to: each route is a ``Route``, a function given the request handler,
so a test can drip bytes, stall, announce 20 GB, answer HTML or a redirect, or send odd ids.
Every request is logged (method, path, whether it carried the key) for the test to assert on.
Stalling routes wait on an event set when the server stops, so no thread outlives its test.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KEY = "xai-hostile-0123456789abcdefghijkl"

Route = Callable[["Handler"], None]


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    authorized: bool


class Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        self._route("POST")

    def _route(self, method: str) -> None:
        hostile = self.server.hostile
        authorized = self.headers.get("authorization") == f"Bearer {KEY}"
        hostile.seen.append(Seen(method, self.path, authorized))
        hostile.route_for(method, self.path)(self)

    # -- what a route may do ----------------------------------------------------------------

    def head(self, status: int, content_type: str, length: int | None, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()

    def body(self, status: int, data: bytes, content_type: str = "application/json") -> None:
        self.head(status, content_type, len(data))
        self.wfile.write(data)

    def pause(self, seconds: float) -> bool:
        """Wait (True), or False at once when the server is stopping."""
        return not self.server.hostile.stopping.wait(seconds)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    hostile: Hostile

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up on a hostile answer is what the tests want, not an error."""


class Hostile:
    """Routes: ``submit`` (POST), ``poll`` (GET /v1/videos/…) and ``file`` (GET /files/…)."""

    api_key = KEY

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.seen: list[Seen] = []
        self.submit: Route = answer_json(200, lambda: {"request_id": str(uuid.uuid4())})
        self.poll: Route = done_with(lambda: f"{self.url}/files/video.mp4")
        self.file: Route = file_bytes(b"\0" * 1024)
        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.hostile = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Hostile:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def route_for(self, method: str, path: str) -> Route:
        if method == "POST":
            return self.submit
        if path.startswith("/v1/videos/"):
            return self.poll
        if path.startswith("/files/"):
            return self.file
        return answer_json(404, lambda: {"code": "not-found", "error": f"no route {path}"})

    def count(self, method: str, prefix: str = "") -> int:
        return sum(1 for s in self.seen if s.method == method and s.path.startswith(prefix))


# -- routes ---------------------------------------------------------------------------------


def answer_json(status: int, make: Callable[[], Any]) -> Route:
    def route(handler: Handler) -> None:
        handler.body(status, json.dumps(make()).encode())

    return route


def done_with(url: Callable[[], str]) -> Route:
    """A finished render whose video is at ``url()``."""
    return answer_json(
        200,
        lambda: {
            "status": "done",
            "progress": 100,
            "model": "grok-imagine-video",
            "video": {"url": url(), "duration": 1, "respect_moderation": True},
            "usage": {"cost_in_usd_ticks": 500_000_000},
        },
    )


def file_bytes(data: bytes) -> Route:
    def route(handler: Handler) -> None:
        handler.body(200, data, "video/mp4")

    return route


def drip(data: bytes, every: float, status: int = 200, content_type: str = "video/mp4") -> Route:
    """The answer's bytes one at a time, ``every`` seconds apart, with a true Content-Length."""

    def route(handler: Handler) -> None:
        handler.head(status, content_type, len(data))
        for byte in data:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            if not handler.pause(every):
                return

    return route


def stall_body(length: int = 1000) -> Route:
    """Headers promising ``length`` bytes, then nothing until the server stops."""

    def route(handler: Handler) -> None:
        handler.head(200, "video/mp4", length)
        handler.wfile.flush()
        handler.pause(3600)

    return route


def announce(length: int, send: int = 0) -> Route:
    """Announce ``length`` bytes; send ``send`` of them (zeros) as fast as the socket takes."""

    def route(handler: Handler) -> None:
        handler.head(200, "video/mp4", length)
        block = b"\0" * 65536
        sent = 0
        while sent < send:
            piece = block[: send - sent]
            handler.wfile.write(piece)
            sent += len(piece)

    return route


def endless() -> Route:
    """A body of unknown length (no Content-Length: it ends when the connection closes) that
    never ends."""

    def route(handler: Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "video/mp4")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        block = b"\0" * 65536
        try:
            while not handler.server.hostile.stopping.is_set():
                handler.wfile.write(block)
        except OSError:
            pass  # the client hung up, as it should

    return route


def html(status: int = 200) -> Route:
    page = b"<html><head><title>Sign in</title></head><body>\x1b]0;owned\x07Please log in</body></html>"

    def route(handler: Handler) -> None:
        handler.body(status, page, "text/html; charset=utf-8")

    return route


def redirect(location: str) -> Route:
    def route(handler: Handler) -> None:
        handler.head(302, "text/html", 0, Location=location)

    return route
