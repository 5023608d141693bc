"""What the API answers, normalised. The raw JSON is always kept beside the parsed fields."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from imagine.api.http_errors import UnexpectedAnswer
from imagine.storage import file_output

PENDING = "pending"
DONE = "done"
FAILED = "failed"
EXPIRED = "expired"


# The most of one answer the ledger keeps: real answers are a few hundred bytes, and a hostile one
# must not grow the ledger by megabytes per poll.
STORED_BYTES = 16 * 1024
STORED_FIELD_BYTES = 2 * 1024
TRIMMED = "_imagine_trimmed"


def for_ledger(answer: Any) -> str:
    """The answer as JSON for the ledger: whole when small; else its small fields (status,
    video, usage, error: all that is read back) and a marker naming what was left out."""
    text = json.dumps(answer)
    if len(text) <= STORED_BYTES:
        return text
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    room = STORED_BYTES - 1024  # for the marker
    for key, value in answer.items() if isinstance(answer, dict) else ():
        size = len(json.dumps(value)) + len(str(key))
        if len(str(key)) <= 100 and size <= STORED_FIELD_BYTES and size <= room:
            kept[str(key)] = value
            room -= size
        else:
            dropped.append(str(key)[:100])
    marker = {"original_bytes": len(text), "dropped": dropped[:20]}
    if not isinstance(answer, dict):
        marker["head"] = text[:1024]
    return json.dumps({**kept, TRIMMED: marker})


@dataclass(frozen=True)
class Poll:
    """One answer of ``GET /v1/videos/{id}``."""

    http_status: int
    status: str
    raw: dict[str, Any] = field(default_factory=dict)
    progress: int | None = None
    model: str | None = None
    video_url: str | None = None
    video_duration: float | None = None
    respect_moderation: bool | None = None
    cost_ticks: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    retry_after: float | None = None
    file_output: dict[str, Any] | None = None  # where xAI's Files API kept it (storage_options)

    @property
    def blocked(self) -> bool:
        """Done, but withheld by the provider's moderation: no video to fetch."""
        return self.status == DONE and (self.respect_moderation is False or not self.video_url)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _table(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    return value if isinstance(value, dict) else {}


def parse_poll(http_status: int, body: Any, retry_after: float | None = None) -> Poll:
    if body in (None, "", {}) and http_status == 202:
        return Poll(http_status, PENDING, retry_after=retry_after)
    if not isinstance(body, dict):
        raise UnexpectedAnswer(f"the API answered a poll with {type(body).__name__}, not an object")
    status = str(body.get("status") or (PENDING if http_status == 202 else "")).lower()
    video = _table(body, "video")
    usage = _table(body, "usage")
    error = _table(body, "error")
    progress = _number(body.get("progress"))
    ticks = _number(usage.get("cost_in_usd_ticks"))
    moderation = video.get("respect_moderation")
    stored = file_output(video)
    # A stored render may come with only its public URL: still a finished video.
    url = video.get("url") or (stored or {}).get("public_url") or None
    return Poll(
        http_status=http_status,
        status=status,
        raw=body,
        progress=int(progress) if progress is not None else None,
        model=body.get("model") or None,
        video_url=url if isinstance(url, str) else None,
        video_duration=_number(video.get("duration")),
        respect_moderation=moderation if isinstance(moderation, bool) else None,
        cost_ticks=int(ticks) if ticks is not None else None,
        error_code=str(error["code"]) if error.get("code") is not None else None,
        error_message=str(error["message"]) if error.get("message") is not None else None,
        retry_after=retry_after,
        file_output=stored,
    )


@dataclass(frozen=True)
class ModelInfo:
    id: str
    aliases: tuple[str, ...]
    input_modalities: tuple[str, ...]
    output_modalities: tuple[str, ...]
    raw: dict[str, Any]


def parse_models(body: Any) -> list[ModelInfo]:
    """Accept ``{"models": [...]}`` and the OpenAI-style ``{"data": [...]}``."""
    if not isinstance(body, dict):
        raise UnexpectedAnswer("the model list is not a JSON object")
    items = body.get("models", body.get("data"))
    if not isinstance(items, list):
        raise UnexpectedAnswer("the model list has neither `models` nor `data`")
    return [
        ModelInfo(
            id=str(item.get("id")),
            aliases=tuple(item.get("aliases") or ()),
            input_modalities=tuple(item.get("input_modalities") or ()),
            output_modalities=tuple(item.get("output_modalities") or ()),
            raw=item,
        )
        for item in items
        if isinstance(item, dict) and item.get("id")
    ]
