"""The simulator's knobs. A config is replaced whole (never mutated) so a request sees one consistent set."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_RATES = ("jitter", "fail_rate", "error_rate", "drop_rate", "truncate_rate", "empty_pending_rate")
# Knobs that cannot change while serving: where state lives is fixed when the simulator starts.
_FIXED = ("state_dir",)


@dataclass
class SimConfig:
    speed: float = 1.0
    render_time: float | None = None
    jitter: float = 0.0
    fail_rate: float = 0.0
    rps_limit: float | None = None
    retry_after: float | None = None
    error_rate: float = 0.0
    drop_rate: float = 0.0
    truncate_rate: float = 0.0
    empty_pending_rate: float = 0.0
    moderation_words: tuple[str, ...] = ("moderate-me",)
    url_ttl: float = 86400.0
    expire_after: float | None = None
    api_keys: tuple[str, ...] | None = None
    team: str = "team-imagine-sim"
    allow_1080p: bool = True
    legacy_errors: bool = False
    seed: int | None = None
    state_dir: Path | None = None
    fps: int = 24
    verbose: bool = False
    # Pad every served video to this many bytes (a 'free' box; players skip it), streamed from
    # disk: a large file for download benchmarks without a fake server.
    video_bytes: int | None = None

    def __post_init__(self) -> None:
        # JSON (POST /sim/config) brings lists and strings; keep the declared types.
        self.moderation_words = _strings("moderation_words", self.moderation_words)
        if self.api_keys is not None:
            self.api_keys = _strings("api_keys", self.api_keys)
        if self.state_dir is not None:
            self.state_dir = Path(self.state_dir)
        _check(self)


def _check(config: SimConfig) -> None:
    if not _positive(config.speed):
        raise ValueError(f"speed must be a positive number, not {config.speed!r}")
    for name in _RATES:
        value = getattr(config, name)
        if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be a fraction between 0 and 1, not {value!r}")
    for name in ("render_time", "retry_after", "expire_after"):
        value = getattr(config, name)
        if value is not None and not (_number(value) and value >= 0):
            raise ValueError(f"{name} must be a number of seconds (>= 0) or null, not {value!r}")
    if config.rps_limit is not None and not _positive(config.rps_limit):
        raise ValueError(f"rps_limit must be a positive number or null, not {config.rps_limit!r}")
    if not _number(config.url_ttl):
        raise ValueError(f"url_ttl must be a number of seconds, not {config.url_ttl!r}")
    if not isinstance(config.fps, int) or isinstance(config.fps, bool) or config.fps < 1:
        raise ValueError(f"fps must be a positive integer, not {config.fps!r}")
    vb = config.video_bytes
    if vb is not None and (not isinstance(vb, int) or isinstance(vb, bool) or vb < 1):
        raise ValueError(f"video_bytes must be a positive integer or null, not {vb!r}")
    if config.api_keys is not None and not config.api_keys:
        raise ValueError("api_keys must name at least one key (or be null to accept any xai- key)")
    if not isinstance(config.team, str):
        raise ValueError(f"team must be a string, not {config.team!r}")
    for name in ("allow_1080p", "legacy_errors", "verbose"):
        if not isinstance(getattr(config, name), bool):
            raise ValueError(f"{name} must be true or false")
    if config.seed is not None and not isinstance(config.seed, int):
        raise ValueError(f"seed must be an integer or null, not {config.seed!r}")


def _strings(name: str, values: object) -> tuple[str, ...]:
    if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"{name} must be a list of strings, not {values!r}")
    return tuple(values)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _positive(value: object) -> bool:
    return _number(value) and value > 0  # type: ignore[operator]


def updated(config: SimConfig, changes: dict[str, Any]) -> SimConfig:
    """A new config with ``changes`` applied; ValueError names an unknown, fixed or invalid knob."""
    names = {field.name for field in dataclasses.fields(SimConfig)}
    for name in changes:
        if name not in names:
            raise ValueError(f"unknown knob {name!r}")
        if name in _FIXED:
            raise ValueError(f"{name} cannot change while the simulator runs")
    try:
        return dataclasses.replace(config, **changes)
    except TypeError as error:
        raise ValueError(str(error)) from None


def as_json(config: SimConfig) -> dict[str, Any]:
    data = dataclasses.asdict(config)
    data["state_dir"] = str(config.state_dir) if config.state_dir else None
    for name in ("moderation_words", "api_keys"):
        data[name] = list(data[name]) if data[name] is not None else None
    return data
