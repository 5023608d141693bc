"""The REST client against recorded answers of the real API's contract (pytest-httpx, no network)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import httpx
import pytest
from pytest_httpx import HTTPXMock

from imagine.api import http_errors
from imagine.api.client import RetryPolicy, XAIClient
from imagine.errors import ExitCode

API = "https://api.x.ai"
KEY = "xai-test-0123456789abcdefghijklmnop"
FAST = RetryPolicy(attempts=4, initial=0.001, maximum=0.005, max_total=5)
RID = "3f1c2a9e-8b7d-4c6e-9a5f-0123456789ab"  # request ids look like UUIDs
BODY = {"model": "grok-imagine-video", "prompt": "a fox", "duration": 8}
T = TypeVar("T")


def run(make: Callable[[XAIClient], Coroutine[Any, Any, T]], **kw: Any) -> T:
    async def go() -> T:
        async with XAIClient(API, KEY, retry=FAST, **kw) as client:
            return await make(client)

    return asyncio.run(go())


def test_submit_sends_the_body_and_bearer_key(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="POST", url=f"{API}/v1/videos/generations", json={"request_id": RID}
    )
    answer = run(lambda c: c.submit("/v1/videos/generations", BODY))
    assert answer == {"request_id": RID}
    request = httpx_mock.get_request()
    assert request is not None
    assert json.loads(request.content) == BODY
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["Content-Type"] == "application/json"


def test_poll_pending_with_empty_202_body(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{API}/v1/videos/{RID}", status_code=202, content=b"")
    poll = run(lambda c: c.poll(RID))
    assert poll.status == "pending"
    assert poll.progress is None


def test_poll_pending_then_done_parses_the_contract_shape(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{API}/v1/videos/{RID}", status_code=202, json={"status": "pending", "progress": 24}
    )
    done = {
        "status": "done",
        "progress": 100,
        "model": "grok-imagine-video",
        "video": {
            "url": "https://vidgen.x.ai/x/xai-video-abc.mp4",
            "duration": 6,
            "respect_moderation": True,
        },
        "usage": {"cost_in_usd_ticks": 3000000000},
    }
    httpx_mock.add_response(url=f"{API}/v1/videos/{RID}", json=done)

    async def two(client: XAIClient) -> Any:
        return await client.poll(RID), await client.poll(RID)

    pending, finished = run(two)
    assert (pending.status, pending.progress) == ("pending", 24)
    assert finished.status == "done"
    assert finished.video_url == "https://vidgen.x.ai/x/xai-video-abc.mp4"
    assert finished.video_duration == 6
    assert finished.cost_ticks == 3_000_000_000
    assert not finished.blocked
    assert finished.raw == done


def test_poll_moderated_done_without_url_is_blocked(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{API}/v1/videos/{RID}",
        json={"status": "done", "video": {"respect_moderation": False, "duration": 0}},
    )
    assert run(lambda c: c.poll(RID)).blocked


@pytest.mark.parametrize(
    "body",
    [
        {
            "status": "failed",
            "progress": 0,
            "error": {"code": "internal_error", "message": "Video generation failed."},
        },
        {
            "status": "failed",
            "model": "",
            "video": {"duration": 0},
            "error": {"code": "internal_error", "message": "Video generation failed."},
        },
    ],
)
def test_poll_failed_both_vintages(httpx_mock: HTTPXMock, body: dict[str, Any]) -> None:
    httpx_mock.add_response(url=f"{API}/v1/videos/{RID}", json=body)
    poll = run(lambda c: c.poll(RID))
    assert (poll.status, poll.error_code) == ("failed", "internal_error")
    assert poll.error_message == "Video generation failed."


@pytest.mark.parametrize(
    ("status", "body", "kind", "code", "text"),
    [
        (
            400,
            {"code": "invalid-argument", "error": "Duration must be between 1 and 15 seconds"},
            http_errors.InvalidRequest,
            ExitCode.USAGE,
            "Duration must be between 1 and 15 seconds",
        ),
        (
            400,
            {"code": "Client specified an invalid argument", "error": "Malformed request ID"},
            http_errors.InvalidRequest,
            ExitCode.USAGE,
            "Malformed request ID",
        ),
        (
            400,
            {
                "code": "invalid-argument",
                "error": "Incorrect API key provided: xa***op. You can "
                "obtain an API key from https://console.x.ai.",
            },
            http_errors.AuthenticationFailed,
            ExitCode.AUTH,
            "Incorrect API key provided",
        ),
        (
            401,
            {"code": "unauthenticated", "error": "Missing bearer token"},
            http_errors.AuthenticationFailed,
            ExitCode.AUTH,
            "Missing bearer token",
        ),
        (
            403,
            {"code": "permission-denied", "error": "Your team has run out of credits"},
            http_errors.PermissionDenied,
            ExitCode.AUTH,
            "run out of credits",
        ),
        (
            404,
            {
                "code": "not-found",
                "error": "The model grok-9 does not exist or your team T does "
                "not have access to it.",
            },
            http_errors.NotFound,
            ExitCode.USAGE,
            "grok-9 does not exist",
        ),
        (
            404,
            {"error": {"code": 404, "message": "No route for /v1/nope"}},
            http_errors.NotFound,
            ExitCode.USAGE,
            "No route for /v1/nope",
        ),
    ],
)
def test_error_answers_map_to_typed_one_line_errors(
    httpx_mock: HTTPXMock,
    status: int,
    body: Any,
    kind: type[http_errors.APIError],
    code: ExitCode,
    text: str,
) -> None:
    httpx_mock.add_response(method="POST", status_code=status, json=body)
    with pytest.raises(kind) as caught:
        run(lambda c: c.submit("/v1/videos/generations", BODY))
    assert caught.value.exit_code == code
    assert text in str(caught.value)
    assert "\n" not in str(caught.value)
    assert len(httpx_mock.get_requests()) == 1  # refused answers are final: never resent


def test_plain_text_422_is_kept_as_the_message(httpx_mock: HTTPXMock) -> None:
    text = (
        "Failed to deserialize the JSON body into the target type: aspect_ratio: unknown variant "
        "`auto`, expected one of `1:1`, `16:9`"
    )
    httpx_mock.add_response(method="POST", status_code=422, text=text)
    with pytest.raises(http_errors.InvalidRequest, match="unknown variant `auto`"):
        run(lambda c: c.submit("/v1/videos/generations", BODY))


def test_wrong_method_405_with_empty_body(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", status_code=405, content=b"")
    with pytest.raises(http_errors.UnexpectedAnswer, match="405"):
        run(lambda c: c.submit("/v1/videos/generations", BODY))


def test_post_is_retried_after_429_then_accepted(httpx_mock: HTTPXMock) -> None:
    limited = {"code": "resource-exhausted", "error": "Too many requests for team T and model M."}
    httpx_mock.add_response(method="POST", status_code=429, json=limited)
    httpx_mock.add_response(method="POST", json={"request_id": RID})
    assert run(lambda c: c.submit("/v1/videos/generations", BODY)) == {"request_id": RID}
    assert len(httpx_mock.get_requests()) == 2


def test_retry_after_is_honoured(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="POST",
        status_code=429,
        headers={"Retry-After": "0.3"},
        json={"code": "resource-exhausted", "error": "slow down"},
    )
    httpx_mock.add_response(method="POST", json={"request_id": RID})
    waits: list[float] = []
    run(
        lambda c: c.submit("/v1/videos/generations", BODY),
        on_retry=lambda error, delay, attempt: waits.append(delay),
    )
    assert waits == [0.3]


def test_post_5xx_is_not_resent(httpx_mock: HTTPXMock) -> None:
    """A 500 after sending may mean it was accepted: resending could bill twice."""
    httpx_mock.add_response(method="POST", status_code=500, json={"code": "internal", "error": "x"})
    with pytest.raises(http_errors.ServerError):
        run(lambda c: c.submit("/v1/videos/generations", BODY))
    assert len(httpx_mock.get_requests()) == 1


def test_post_answer_lost_after_sending_is_not_resent(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ReadTimeout("timed out"), method="POST")
    with pytest.raises(http_errors.AnswerLost) as caught:
        run(lambda c: c.submit("/v1/videos/generations", BODY))
    assert caught.value.exit_code == ExitCode.UNREACHABLE
    assert len(httpx_mock.get_requests()) == 1


def test_post_is_retried_when_the_connection_never_opened(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ConnectError("connection refused"), method="POST")
    httpx_mock.add_response(method="POST", json={"request_id": RID})
    assert run(lambda c: c.submit("/v1/videos/generations", BODY)) == {"request_id": RID}


def test_unreachable_after_retries(httpx_mock: HTTPXMock) -> None:
    for _ in range(FAST.attempts):
        httpx_mock.add_exception(httpx.ConnectError("connection refused"))
    with pytest.raises(http_errors.Unreachable, match=r"cannot reach https://api\.x\.ai") as caught:
        run(lambda c: c.poll(RID))
    assert caught.value.exit_code == ExitCode.UNREACHABLE


def test_get_is_retried_on_5xx_and_lost_answers(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{API}/v1/videos/{RID}", status_code=503, text="upstream")
    httpx_mock.add_exception(httpx.ReadTimeout("slow"), url=f"{API}/v1/videos/{RID}")
    httpx_mock.add_response(
        url=f"{API}/v1/videos/{RID}", status_code=202, json={"status": "pending"}
    )
    assert run(lambda c: c.poll(RID)).status == "pending"


def test_the_retry_time_budget_counts_the_first_try(httpx_mock: HTTPXMock) -> None:
    async def slow_then_unavailable(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.3)
        return httpx.Response(503, text="upstream")

    httpx_mock.add_callback(slow_then_unavailable, url=f"{API}/v1/videos/{RID}")
    policy = RetryPolicy(attempts=4, initial=0.001, maximum=0.005, max_total=0.2)

    async def go() -> None:
        async with XAIClient(API, KEY, retry=policy) as client:
            await client.poll(RID)

    with pytest.raises(http_errors.APIError, match="503"):
        asyncio.run(go())
    assert len(httpx_mock.get_requests()) == 1  # 0.3 s spent of 0.2: no time left to retry


def test_models_and_api_key_routes(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{API}/v1/video-generation-models",
        json={
            "models": [
                {
                    "id": "grok-imagine-video",
                    "aliases": [],
                    "input_modalities": ["text", "image", "video"],
                }
            ]
        },
    )
    httpx_mock.add_response(
        url=f"{API}/v1/api-key", json={"redacted_api_key": "xai-...mnop", "team_id": "t1"}
    )

    async def both(client: XAIClient) -> Any:
        return await client.models(), await client.api_key_info()

    models, info = run(both)
    assert [m.id for m in models] == ["grok-imagine-video"]
    assert models[0].input_modalities == ("text", "image", "video")
    assert info["team_id"] == "t1"


def test_the_key_never_goes_to_another_host(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url="https://vidgen.x.ai/v1/videos/abc", json={})

    async def foreign(client: XAIClient) -> None:
        await client._http.get("https://vidgen.x.ai/v1/videos/abc")

    run(foreign)
    request = httpx_mock.get_request()
    assert request is not None
    assert "Authorization" not in request.headers
    assert KEY not in repr(XAIClient(API, KEY)._http.auth)


def test_post_503_means_not_taken_on_and_is_retried(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", status_code=503, text="overloaded")
    httpx_mock.add_response(method="POST", json={"request_id": RID})
    assert run(lambda c: c.submit("/v1/videos/generations", BODY)) == {"request_id": RID}


def test_cookies_set_by_the_api_are_not_kept_or_sent_back(httpx_mock: HTTPXMock) -> None:
    """The key alone authenticates; a cookie from the API's front end is not stored and never
    goes out with the next request."""
    httpx_mock.add_response(
        url=f"{API}/v1/videos/{RID}",
        status_code=202,
        json={"status": "pending"},
        headers={"Set-Cookie": "__cf_bm=tracker; Path=/; Domain=api.x.ai; Secure"},
    )
    httpx_mock.add_response(
        url=f"{API}/v1/videos/{RID}", status_code=202, json={"status": "pending"}
    )

    async def twice(client: XAIClient) -> None:
        await client.poll(RID)
        await client.poll(RID)

    run(twice)
    second = httpx_mock.get_requests()[1]
    assert "cookie" not in second.headers
    assert second.headers["Authorization"] == f"Bearer {KEY}"
