"""The HTTP plumbing: a threading HTTP/1.1 server with keep-alive, and the Simulator that owns it."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from imagine.api.contract import MAX_FILE_UPLOAD_BYTES
from imagine.sim.knobs import SimConfig
from imagine.sim.routing import dispatch
from imagine.sim.state import SimState
from imagine.sim.wire import Delivery, Request, Response, error_response

# The largest body read into memory: a maximal upload plus its multipart framing. Larger ones are
# read and thrown away (so the client gets to read the 413 instead of a reset connection).
MAX_BODY = MAX_FILE_UPLOAD_BYTES + 1024 * 1024
_CHUNK = 1024 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The standard library's default backlog of 5 drops connections under a burst of clients
    # (a batch at -c 64): the kernel then discards requests already written, and those clients
    # see an answer lost after sending. A real API front end queues far more.
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], state: SimState) -> None:
        self.state = state
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End idle keep-alive connections too, so no thread keeps answering after a stop."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "imagine-sim"
    sys_version = ""
    timeout = 120  # seconds an idle keep-alive connection is kept open
    disable_nagle_algorithm = True  # headers and body go out in two writes: do not wait between
    server: _Server

    def do_GET(self) -> None:
        self._answer()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.state.config.verbose:
            super().log_message(format, *args)

    def _answer(self) -> None:
        request = self._read_request()
        try:
            response = dispatch(self.server.state, request)
        except Exception:
            # A simulator bug: say so on stderr (always) and answer like a failing server would.
            traceback.print_exc(file=sys.stderr)
            response = error_response(500, "internal", "Internal server error.")
        self._send(response)

    def _read_request(self) -> Request:
        split = urlsplit(self.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        body, too_large = self._read_body()
        return Request(self.command, split.path, query, self.headers, body, too_large)

    def _read_body(self) -> tuple[bytes, int | None]:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        try:
            length = max(0, int(self.headers.get("Content-Length") or 0))
        except ValueError:
            self.close_connection = True  # cannot find where the next request starts
            return b"", None
        if length > MAX_BODY:
            self._discard(length)
            return b"", length
        return self.rfile.read(length), None

    def _read_chunked(self) -> tuple[bytes, int | None]:
        try:
            return self._read_chunks()
        except ValueError:
            self.close_connection = True  # a malformed chunk size: the stream cannot be followed
            return b"", None

    def _read_chunks(self) -> tuple[bytes, int | None]:
        parts: list[bytes] = []
        total = 0
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            total += size
            if total > MAX_BODY:
                self._discard(size)
            else:
                parts.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return (b"", total) if total > MAX_BODY else (b"".join(parts), None)

    def _discard(self, length: int) -> None:
        while length > 0:
            chunk = self.rfile.read(min(_CHUNK, length))
            if not chunk:
                break
            length -= len(chunk)

    def _send(self, response: Response) -> None:
        if response.delivery is Delivery.DROP:
            self.close_connection = True
            return
        body = response.body
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(response.length))
        if response.delivery is Delivery.TRUNCATE or self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        if response.delivery is Delivery.TRUNCATE:
            self.close_connection = True
            if response.file is not None:
                path, offset, length = response.file
                self._send_file(path, offset, length // 2)
                return
            body = body[: len(body) // 2]
        if response.file is not None:
            self._send_file(*response.file)
        self.wfile.write(body)

    def _send_file(self, path: Path, offset: int, length: int) -> None:
        self.wfile.flush()
        with path.open("rb") as source:
            self.connection.sendfile(source, offset, length)


class Simulator:
    """An xAI-compatible video API on a loopback port (see docs/xai-api.md)."""

    def __init__(
        self, config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self._state = SimState(config or SimConfig())
        server_class = _Server6 if ":" in host else _Server
        self._server = server_class((host, port), self._state)
        self.port: int = self._server.server_address[1]
        shown = _reachable_host(host)
        self.url = f"http://{shown}:{self.port}"
        self.api_key = self._state.api_key
        self._state.netlocs = {f"{name}:{self.port}" for name in (shown, "127.0.0.1", "localhost")}
        self._thread: threading.Thread | None = None
        self._serving = False
        self._closed = False
        self._close_lock = threading.Lock()

    @property
    def config(self) -> SimConfig:
        return self._state.config

    def configure(self, **changes: Any) -> SimConfig:
        """Change knobs while serving (as POST /sim/config does); ValueError on a bad knob."""
        return self._state.configure(changes)

    def start(self) -> Simulator:
        """Serve in a daemon thread; return self."""
        if self._thread is None and not self._serving:
            self._serving = True
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.02},  # also how long stop() may wait
                name=f"imagine-sim-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until KeyboardInterrupt, or stop() from another thread."""
        self._serving = True
        try:
            self._server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            self._close()

    def stop(self) -> None:
        if self._serving and not self._closed:
            self._server.shutdown()  # returns once the serving loop has ended
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._close()

    def _close(self) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._server.close_connections()
        self._server.server_close()

    def stats(self) -> dict[str, Any]:
        """The counters, as GET /sim/stats answers them."""
        return self._state.snapshot()

    def reset(self) -> None:
        self._state.reset()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _reachable_host(host: str) -> str:
    """How a client on this machine reaches a server bound to ``host``."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
