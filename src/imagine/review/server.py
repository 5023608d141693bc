"""The review page's server: loopback only, a secret in every URL, and no file but the renders.

Every request's path starts with the token (``/TOKEN/…``); any other is answered 403. A file
is served only as the video or poster of a job the review shows: the job id from the URL is
looked up in the ledger and the ledger's path is served, resolved and checked to be inside the
project. Nothing from the request is ever joined into a path.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from imagine.errors import ImagineError
from imagine.ledger.store import Ledger
from imagine.render_files import RenderFiles
from imagine.review import decide, page
from imagine.review.takes import Request, ReviewState, select, shown_job

CHUNK = 64 * 1024
MAX_BODY = 4096  # an action's POST carries nothing
CSRF_HEADER = "X-Imagine-Review"  # a cross-site page cannot send it without a CORS preflight
_JOB_ID = re.compile(r"[0-9a-z]{1,64}")
_ACTIONS = ("approve", "reject", "reset", "promote", "rerun")
_VERDICTS = frozenset(verdict.value for verdict in decide.Verdict)
_CONTENT_TYPES = {".mp4": "video/mp4", ".jpg": "image/jpeg"}


class NotAvailable(Exception):
    """An action this build cannot do (answered 501)."""


class Refused(Exception):
    """An action that does not apply to this take (answered 409)."""


@dataclass(frozen=True)
class Review:
    """What a review serves and how its actions are carried out."""

    ledger_path: Path | str  # a SQLite file or a PostgreSQL URL
    project_dir: Path  # resolved
    since: str | None
    run_job: Callable[[str], None]  # start the engine on a new job (a re-run)
    promote: Callable[[str], None]  # start `imagine promote` on a preview job
    promote_missing: str | None = None  # why promote cannot be done here (answered 501)
    actor: str = "review page"

    def requests(self, ledger: Ledger) -> list[Request]:
        return select(ledger, self.project_dir, since=self.since)


class RangeNotSatisfiable(Exception):
    pass


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The (first, last) bytes a ``Range`` header asks for, or None for the whole file. Only one
    range is served; a header that cannot be read is ignored, as RFC 9110 allows."""
    if not header:
        return None
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if not match or not (match[1] or match[2]):
        return None
    if match[1]:
        first = int(match[1])
        last = min(int(match[2]), size - 1) if match[2] else size - 1
        if match[2] and int(match[2]) < first:
            return None
    else:
        suffix = int(match[2])
        if suffix == 0:
            raise RangeNotSatisfiable
        first, last = max(0, size - suffix), size - 1
    if first >= size:
        raise RangeNotSatisfiable
    return first, last


class ReviewServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, review: Review, port: int = 0, token: str | None = None) -> None:
        self.review = review
        self.token = token or secrets.token_urlsafe(24)
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def url(self) -> str:
        return f"{self.origin}/{self.token}/"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser drops a video's connection whenever it seeks: not worth a traceback."""
        import sys

        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def start(self) -> ReviewServer:
        """Serve from a background thread (tests); ``shutdown()`` stops it."""
        threading.Thread(target=self.serve_forever, name="imagine-review", daemon=True).start()
        return self


class _Handler(BaseHTTPRequestHandler):
    server: ReviewServer
    protocol_version = "HTTP/1.1"
    server_version = "imagine-review"
    timeout = 60  # seconds a silent client may hold a thread

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the URL carries the token, and the terminal is the user's."""

    # -- routing ------------------------------------------------------------------------------

    def _route(self) -> list[str] | None:
        """The path's parts after the token, or None (answered 403) without the right token."""
        parts = urlsplit(self.path).path.split("/")
        if len(parts) < 2 or not hmac.compare_digest(parts[1].encode(), self.server.token.encode()):
            self._send_error(HTTPStatus.FORBIDDEN, "forbidden")
            return None
        if self.headers.get("Host") not in self._hosts():
            self._send_error(HTTPStatus.FORBIDDEN, "forbidden")  # DNS rebinding
            return None
        return parts[2:]

    def _hosts(self) -> set[str]:
        port = self.server.server_address[1]
        return {f"127.0.0.1:{port}", f"localhost:{port}"}

    def do_GET(self) -> None:
        self._get(head=False)

    def do_HEAD(self) -> None:
        self._get(head=True)

    def _get(self, *, head: bool) -> None:
        route = self._route()
        if route is None:
            return
        if route == [""]:
            self._page(head=head)
        elif len(route) == 2 and route[0] in ("video", "poster"):
            self._file(route[0], route[1], head=head)
        else:
            self._send_error(HTTPStatus.NOT_FOUND, "not found")

    def do_POST(self) -> None:
        route = self._route()
        if route is None:
            return
        length = self.headers.get("Content-Length") or "0"
        if not length.isdigit() or int(length) > MAX_BODY:
            self._send_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too large")
            return
        self.rfile.read(int(length))
        if not self._same_origin():
            self._send_error(HTTPStatus.FORBIDDEN, "cross-site request refused")
            return
        if len(route) != 3 or route[0] != "action" or route[2] not in _ACTIONS:
            self._send_error(HTTPStatus.NOT_FOUND, "not found")
            return
        self._act(route[1], route[2])

    def _same_origin(self) -> bool:
        if self.headers.get(CSRF_HEADER) != "1":
            return False
        origin = self.headers.get("Origin")
        if origin is not None and origin not in {f"http://{host}" for host in self._hosts()}:
            return False
        return self.headers.get("Sec-Fetch-Site", "same-origin") == "same-origin"

    # -- answers ------------------------------------------------------------------------------

    def _page(self, *, head: bool) -> None:
        nonce = secrets.token_urlsafe(16)
        with Ledger.open(self.server.review.ledger_path) as ledger:
            requests = self.server.review.requests(ledger)
        sheet = page.Sheet(
            title=f"imagine review · {self.server.review.project_dir.name}",
            video_url=lambda take: f"video/{take.job.id}" if take.video.is_file() else None,
            poster_url=lambda take: f"poster/{take.job.id}" if take.poster.is_file() else None,
            buttons=True,
            nonce=nonce,
        )
        body = page.render(requests, sheet).encode()
        self.send_response(HTTPStatus.OK)
        self._security_headers(nonce)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _file(self, kind: str, job_id: str, *, head: bool) -> None:
        path = self._known_file(kind, job_id)
        if path is None:
            self._send_error(HTTPStatus.NOT_FOUND, "not found")
            return
        with path.open("rb") as stream:
            size = _size(stream)
            try:
                wanted = byte_range(self.headers.get("Range"), size)
            except RangeNotSatisfiable:
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            first, last = wanted or (0, size - 1)
            self.send_response(HTTPStatus.PARTIAL_CONTENT if wanted else HTTPStatus.OK)
            if wanted:
                self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
            self._security_headers(None)
            self.send_header("Content-Type", _CONTENT_TYPES[path.suffix])
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(last - first + 1))
            self.end_headers()
            if not head:
                _copy(stream, self.wfile, first, last - first + 1)

    def _known_file(self, kind: str, job_id: str) -> Path | None:
        """The file the ledger names for this job, if the review shows the job and the file is
        a regular file inside the project (a symbolic link out of it is refused)."""
        if not _JOB_ID.fullmatch(job_id):
            return None
        review = self.server.review
        with Ledger.open(review.ledger_path) as ledger:
            job = shown_job(ledger, review.project_dir, job_id)
        if job is None:
            return None
        files = RenderFiles(Path(job.output_path))
        path = files.video if kind == "video" else files.poster
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not real.is_relative_to(review.project_dir) or not real.is_file():
            return None
        return real if real.suffix in _CONTENT_TYPES else None

    def _act(self, job_id: str, verb: str) -> None:
        review = self.server.review
        if not _JOB_ID.fullmatch(job_id):
            self._send_json(HTTPStatus.NOT_FOUND, {"message": "no such take"})
            return
        try:
            with Ledger.open(review.ledger_path) as ledger:
                job = shown_job(ledger, review.project_dir, job_id)
                if job is None:
                    self._send_json(HTTPStatus.NOT_FOUND, {"message": "no such take"})
                    return
                answer = self._do(ledger, job.id, job.seq, verb)
        except NotAvailable as error:
            self._send_json(HTTPStatus.NOT_IMPLEMENTED, {"message": str(error)})
            return
        except (Refused, ImagineError) as error:
            self._send_json(HTTPStatus.CONFLICT, {"message": str(error)})
            return
        self._send_json(HTTPStatus.OK, answer)

    def _do(self, ledger: Ledger, job_id: str, seq: int, verb: str) -> dict[str, Any]:
        review = self.server.review
        job = ledger.require(job_id)
        if verb in _VERDICTS:
            done = decide.review(ledger, job, decide.Verdict(verb), by=review.actor)
            state = ReviewState.of(done.job)
            return {"state": state.value, "message": f"#{seq} {state.value}"}
        if verb == "promote":
            if review.promote_missing:
                raise NotAvailable(review.promote_missing)
            if not job.preview:
                raise Refused(f"#{seq} is not a preview: only a --preview render can be promoted")
            review.promote(job.id)
            return {"message": f"#{seq} promoted: the final render is on its way"}
        new = decide.rerun(ledger, job, by=review.actor)
        review.run_job(new.id)
        return {"message": f"#{seq} re-run as #{new.seq}: reload when it is done", "job": new.id}

    def _security_headers(self, nonce: str | None) -> None:
        script = f"'nonce-{nonce}'" if nonce else "'none'"
        self.send_header(
            "Content-Security-Policy",
            f"default-src 'none'; script-src {script}; style-src {script}; img-src 'self' data:;"
            " media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none';"
            " frame-ancestors 'none'",
        )
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")

    def _send_json(self, status: HTTPStatus, obj: dict[str, Any]) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self._security_headers(None)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_error(self, status: HTTPStatus, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self._security_headers(None)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _size(stream: BinaryIO) -> int:
    return os.fstat(stream.fileno()).st_size


def _copy(source: BinaryIO, target: BufferedIOBase, start: int, length: int) -> None:
    source.seek(start)
    while length > 0:
        chunk = source.read(min(CHUNK, length))
        if not chunk:
            return
        target.write(chunk)
        length -= len(chunk)
