"""Typed errors for every answer the API documents, each with a one-line message a user can act on."""

from __future__ import annotations

import json
import re
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from imagine import clock
from imagine.errors import ExitCode, ImagineError
from imagine.printable import printable

CONSOLE = "https://console.x.ai"


class APIError(ImagineError):
    """An answer from the API (or its absence) that stops a request."""

    exit_code = ExitCode.UNREACHABLE
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        detail: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code
        self.detail = detail


class InvalidRequest(APIError):
    """400/413/415/422: the request itself was refused; sending it again will not help."""

    exit_code = ExitCode.USAGE


class AuthenticationFailed(APIError):
    """401, or a 400 saying the key is wrong."""

    exit_code = ExitCode.AUTH


class PermissionDenied(APIError):
    """403: no permission, team blocked, out of credits or over the spending limit."""

    exit_code = ExitCode.AUTH


class NotFound(APIError):
    """404: unknown model, route or request id."""

    exit_code = ExitCode.USAGE


class RateLimited(APIError):
    retryable = True

    retry_after: float | None = None


class ServerError(APIError):
    retryable = True


class Unavailable(ServerError):
    """503: the server declined to take the request on, so it was not processed."""


class Unreachable(APIError):
    """The request never reached the API (connection refused, DNS, connect timeout)."""

    retryable = True


class AnswerLost(APIError):
    """The request was sent but no answer came back: the API may or may not have accepted it."""

    retryable = True


class UnexpectedAnswer(APIError):
    """An answer in a shape the contract does not describe."""


class NotTheAPI(ServerError):
    """A redirect, or a body that is not JSON (a login page, a proxy's error page): something
    stands between us and the API. Retried like a 5xx, since it is often passing."""


class MalformedRequestId(UnexpectedAnswer):
    """A request id that is not the contract's UUID-like id: never stored, never put in a path."""


def one_line(text: str, limit: int = 300) -> str:
    """Server text for a message: whitespace runs made one space, then made printable."""
    return printable(re.sub(r"\s+", " ", text).strip(), limit)


def parse_error_body(response: httpx.Response) -> tuple[str | None, str]:
    """(code, message) from the three documented error shapes, or the reason phrase."""
    text = response.text.strip()
    if not text:
        return None, response.reason_phrase or f"HTTP {response.status_code}"
    try:
        body = json.loads(text)
    except ValueError:
        return None, one_line(text)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = str(error.get("message") or error)
            return str(error.get("code")) if error.get("code") is not None else None, one_line(
                message
            )
        if isinstance(error, str):
            code = body.get("code")
            return (str(code) if code is not None else None), one_line(error)
        if isinstance(body.get("message"), str):
            return None, one_line(body["message"])
    return None, one_line(text)


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - clock.now())
    except (TypeError, ValueError):
        return None


def error_for(response: httpx.Response) -> APIError:
    """The typed error an unsuccessful answer stands for."""
    status = response.status_code
    code, message = parse_error_body(response)
    kw: dict[str, Any] = {"status": status, "code": code, "detail": message}
    if status == 400 and message.lower().startswith("incorrect api key"):
        return AuthenticationFailed(
            f"the API key was rejected: {message}",
            hint="Set XAI_API_KEY or run `imagine auth set`.",
            **kw,
        )
    if status == 401:
        return AuthenticationFailed(
            f"the API refused the credentials (401): {message}",
            hint="Set XAI_API_KEY or run `imagine auth set`.",
            **kw,
        )
    if status == 403:
        return PermissionDenied(
            f"the API refused access (403): {message}",
            hint=f"Check your team's permissions, credits and spending limit at {CONSOLE}.",
            **kw,
        )
    if status == 404:
        return NotFound(f"not found (404): {message}", **kw)
    if status == 429:
        limited = RateLimited(f"rate limited by the API (429): {message}", **kw)
        limited.retry_after = retry_after(response)
        return limited
    if status == 503:
        return Unavailable(f"the API is unavailable (503): {message}", **kw)
    if status >= 500:
        return ServerError(f"the API had a server error ({status}): {message}", **kw)
    if status in (400, 413, 415, 422):
        return InvalidRequest(f"the API refused the request ({status}): {message}", **kw)
    return UnexpectedAnswer(f"unexpected answer from the API ({status}): {message}", **kw)
