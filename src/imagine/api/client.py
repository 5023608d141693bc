"""The xAI REST client: one httpx client, typed errors, careful retries.

GETs are retried on 429, 5xx and network trouble (exponential backoff with jitter, ``Retry-After``
honoured). A POST is retried only when the answer proves it was not accepted: 429, 503 (the server
refused to take it on) or a connection that never opened. The API has no idempotency key, so a POST
whose answer was lost, or that met a 500, 502 or 504 (it may have been processed), raises and is
never sent again by this client.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
)

from imagine import __version__
from imagine.api import contract
from imagine.api.http_errors import (
    AnswerLost,
    APIError,
    MalformedRequestId,
    NotFound,
    NotTheAPI,
    RateLimited,
    Unavailable,
    UnexpectedAnswer,
    Unreachable,
    error_for,
    one_line,
    retry_after,
)
from imagine.api.types import ModelInfo, Poll, parse_models, parse_poll
from imagine.printable import printable

USER_AGENT = f"imagine/{__version__}"
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=60.0, pool=30.0)
# Keep enough idle connections for a busy batch to reuse them instead of opening (and, against the
# real API, TLS-handshaking) new ones for every request.
DEFAULT_LIMITS = httpx.Limits(max_connections=128, max_keepalive_connections=64)
# A whole request, answer included: the read timeout above bounds each read, and a server
# dripping a byte at a time would pass it forever.
REQUEST_DEADLINE = 120.0
# The largest API answer read; the real ones are a few hundred bytes.
MAX_ANSWER_BYTES = 1 << 20
# Headers about how the body came over the wire, which no longer apply once it has been read.
_FRAMING = {"content-encoding", "content-length", "transfer-encoding"}


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    initial: float = 0.5
    maximum: float = 20.0
    max_total: float = 120.0
    max_retry_after: float = 300.0


# What a client given no policy uses; the test suite swaps in a faster one (tests/conftest.py).
DEFAULT_RETRY = RetryPolicy()

RetryHook = Callable[[APIError, float, int], None]


@cache
def tls_context() -> ssl.SSLContext:
    """One TLS context per process: loading the CA store costs tens of milliseconds and about a
    megabyte, and every client (API and downloads, in every run) can share it."""
    return httpx.create_ssl_context()


@cache
def plain_context() -> ssl.SSLContext:
    """What a transport that only ever speaks plain http is given: httpx's transport takes a TLS
    context, and a loopback simulator or LAN host has no use for the CA store (170 ms of start-up
    on a loaded machine). Without certificates it can verify no server, so it fails closed."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def http_transport(url: str, limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """httpx's transport, as shipped, for requests to ``url``'s scheme: the CA store is loaded
    only for https. (Replacing its network layer saved 0.35 ms of CPU per request at one request
    a second, measured in benchmarks/transport.py: not worth a dependency's private API.)"""
    https = urlsplit(url).scheme.lower() == "https"
    return httpx.AsyncHTTPTransport(
        verify=tls_context() if https else plain_context(), limits=limits
    )


def proxy_verify() -> ssl.SSLContext | bool:
    """``verify`` for a client's environment proxies, which httpx builds transports for at once:
    the CA store is loaded only when there are some."""
    import urllib.request

    return tls_context() if urllib.request.getproxies() else True


def backoff(policy: RetryPolicy, attempt: int) -> float:
    """Exponential backoff with "equal jitter": half the step fixed, half random."""
    step = min(policy.maximum, policy.initial * 2.0 ** (attempt - 1))
    return step / 2 + random.uniform(0, step / 2)


class HostBoundBearer(httpx.Auth):
    """Adds the key only to requests for the API's own origin, never to any other host."""

    def __init__(self, api_key: str, base_url: str) -> None:
        self._header = f"Bearer {api_key}"
        self._origin = _origin(base_url)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if _origin(str(request.url)) == self._origin:
            request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return f"HostBoundBearer(origin={self._origin!r})"


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def _connection_error(base_url: str, error: Exception, *, sent: bool) -> APIError:
    reason = str(error) or type(error).__name__
    if sent:
        return AnswerLost(
            f"the request reached {base_url} but no answer came back ({reason})",
            hint="It may have been accepted.",
        )
    return Unreachable(
        f"cannot reach {base_url}: {reason}",
        hint="Check --base-url and your network, then try again.",
    )


class _NoCookies(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        pass


class _Cookieless(httpx.AsyncClient):
    """An httpx client that keeps no cookies. The API is authenticated by the bearer key alone,
    and httpx otherwise reads every answer for cookies, building a urllib request (with its URL
    parses) each time: about a twentieth of the client's CPU per request."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        raise TypeError("the API client keeps no cookies")


class XAIClient:
    def __init__(
        self,
        base_url: str = "https://api.x.ai",
        api_key: str | None = None,
        *,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        on_retry: RetryHook | None = None,
        deadline: float = REQUEST_DEADLINE,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.deadline = deadline
        self.max_answer_bytes = max_answer_bytes
        self.retry = retry or DEFAULT_RETRY
        self.on_retry = on_retry
        self._http = _Cookieless(
            base_url=self.base_url,
            auth=HostBoundBearer(api_key, self.base_url) if api_key else None,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            timeout=timeout,
            transport=transport or http_transport(self.base_url, DEFAULT_LIMITS),
            follow_redirects=False,
            limits=DEFAULT_LIMITS,  # for proxies set in the environment, which get their own
            verify=proxy_verify(),
        )

    async def __aenter__(self) -> XAIClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- routes -------------------------------------------------------------------------------

    async def submit(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a render; return the answer (with ``request_id``). Never resent once it may have landed."""
        response = await self._with_retries(
            lambda: self._send("POST", route, json=body),
            retry_on=(RateLimited, Unreachable, Unavailable),
        )
        answer = _json(response)
        if not isinstance(answer, dict) or not isinstance(answer.get("request_id"), str):
            raise UnexpectedAnswer(
                f"the API accepted the request but sent no request_id: {one_line(str(answer), 200)}"
            )
        if not contract.is_request_id(answer["request_id"]):
            raise MalformedRequestId(
                "the API accepted the request but its request id is not one: "
                f"{printable(answer['request_id'], 80)!s}"
            )
        return answer

    async def poll(self, request_id: str) -> Poll:
        if not contract.is_request_id(request_id):
            # Never put it in a path: `../../x` would send the key to another route.
            raise MalformedRequestId(f"not a request id: {printable(request_id, 80)}")
        path = contract.ROUTE_VIDEO.format(request_id=request_id)
        response = await self._with_retries(lambda: self._send("GET", path))
        body = _json(response) if response.content.strip() else None
        return parse_poll(response.status_code, body, retry_after(response))

    async def models(self) -> list[ModelInfo]:
        response = await self._with_retries(lambda: self._send("GET", contract.ROUTE_MODELS))
        return parse_models(_json(response))

    async def model(self, model_id: str) -> ModelInfo | None:
        path = f"{contract.ROUTE_MODELS}/{model_id}"
        try:
            response = await self._with_retries(lambda: self._send("GET", path))
        except NotFound:
            return None
        return parse_models({"models": [_json(response)]})[0]

    async def api_key_info(self) -> dict[str, Any]:
        response = await self._with_retries(lambda: self._send("GET", contract.ROUTE_API_KEY))
        answer = _json(response)
        if not isinstance(answer, dict):
            raise UnexpectedAnswer("the API key information is not a JSON object")
        return answer

    async def upload(self, name: str, data: bytes, mime: str, purpose: str = "") -> dict[str, Any]:
        """POST /v1/files. An upload costs nothing, so a lost answer may safely be sent again."""
        files = {"file": (name, data, mime)}
        form = {"purpose": purpose} if purpose else None
        response = await self._with_retries(
            lambda: self._send("POST", contract.ROUTE_FILES, files=files, data=form)
        )
        answer = _json(response)
        if not isinstance(answer, dict) or not answer.get("id"):
            raise UnexpectedAnswer("the Files API answered without a file id")
        return answer

    # -- plumbing -----------------------------------------------------------------------------

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request, its answer read whole (at most ``max_answer_bytes``) within ``deadline``
        seconds however the server drips it, and checked: an error status raises its error, and
        so does an answer that is not the API's (a redirect, a body that is not JSON)."""
        request = self._http.build_request(method, path, **kwargs)
        try:
            async with asyncio.timeout(self.deadline):
                response = await self._http.send(request, stream=True)
                try:
                    body = await self._read(response)
                finally:
                    await response.aclose()
        except TimeoutError:
            reason = f"no complete answer within {self.deadline:g} s"
            raise _connection_error(self.base_url, TimeoutError(reason), sent=True) from None
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            raise _connection_error(self.base_url, error, sent=False) from None
        except httpx.TransportError as error:
            raise _connection_error(self.base_url, error, sent=True) from None
        except httpx.DecodingError as error:
            raise NotTheAPI(f"the API's answer could not be decoded: {error}") from None
        answer = httpx.Response(
            response.status_code,
            headers=[(k, v) for k, v in response.headers.multi_items() if k not in _FRAMING],
            content=body,
            request=request,
        )
        if answer.status_code >= 400:
            raise error_for(answer)
        if answer.status_code >= 300 or (body.strip() and not _is_json(body)):
            raise not_the_api(answer)
        return answer

    async def _read(self, response: httpx.Response) -> bytes:
        limit = self.max_answer_bytes
        announced = response.headers.get("content-length", "")
        if announced.isdigit() and int(announced) > limit:
            raise _too_large(response, int(announced), limit)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise _too_large(response, size, limit)
            chunks.append(chunk)
        return b"".join(chunks)

    async def _with_retries(
        self,
        call: Callable[[], Awaitable[httpx.Response]],
        retry_on: tuple[type[APIError], ...] | None = None,
    ) -> httpx.Response:
        """``call``, tried again after a retryable error as the policy says. The first try runs
        without tenacity: most calls succeed at once, and setting up its retry loop cost more
        than the rest of the client's own work on a request. After a failure, tenacity takes
        over with that failure as its first attempt, and the time already spent counts."""
        policy = self.retry

        def should_retry(error: BaseException) -> bool:
            if retry_on is not None:
                return isinstance(error, retry_on)
            return isinstance(error, APIError) and error.retryable

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, RateLimited) and error.retry_after is not None:
                return float(min(error.retry_after, policy.max_retry_after))
            return backoff(policy, state.attempt_number)

        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            if self.on_retry and isinstance(error, APIError) and state.next_action:
                self.on_retry(error, state.next_action.sleep, state.attempt_number)

        started = time.monotonic()
        try:
            return await call()
        except APIError as error:
            if not should_retry(error):
                raise
            failed = [error]
        left = policy.max_total - (time.monotonic() - started)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(policy.attempts) | stop_after_delay(max(0.0, left)),
            wait=wait,
            retry=retry_if_exception(should_retry),
            before_sleep=before_sleep,
            reraise=True,
        )

        async def attempt() -> httpx.Response:
            if failed:
                raise failed.pop()  # the first try, already made
            response: httpx.Response = await call()
            return response

        return await retrying(attempt)


def _json(response: httpx.Response) -> Any:
    """The answer's JSON (``_send`` has checked that it is JSON)."""
    return json.loads(response.content)


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False
    return True


def not_the_api(response: httpx.Response) -> NotTheAPI:
    """What answered instead of the API: status, content type, where it redirects, and a
    printable excerpt of the body."""
    kind = response.headers.get("content-type") or "no content type"
    where = response.headers.get("location")
    said = f" to {printable(where, 120)}" if where else ""
    excerpt = one_line(response.text, 120) if response.content.strip() else "(empty body)"
    return NotTheAPI(
        f"the API answered {response.status_code} ({printable(kind, 60)}){said}, "
        f"not JSON: {excerpt}",
        status=response.status_code,
        hint="A proxy or login page may stand in the way; check --base-url and your network.",
    )


def _too_large(response: httpx.Response, size: int, limit: int) -> NotTheAPI:
    return NotTheAPI(
        f"the API answered {response.status_code} with more than {limit:,} bytes ({size:,}); "
        "no API answer is that large",
        status=response.status_code,
    )
