"""What a render costs: the price table (overridable in config) and estimates.

The authoritative charge is the provider's ``usage.cost_in_usd_ticks``; estimates exist so that a user
sees the cost before paying it, and every job stores the price it was estimated with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from imagine.api.contract import TICKS_PER_USD

# USD per output second, by model and resolution (docs/xai-api.md section 7).
DEFAULT_PRICES: dict[str, dict[str, float]] = {
    "grok-imagine-video": {"480p": 0.05, "720p": 0.07},
    "grok-imagine-video-1.5": {"480p": 0.08, "720p": 0.14, "1080p": 0.25},
}
PRICE_PER_INPUT_IMAGE = 0.002
PRICE_PER_INPUT_VIDEO_SECOND = 0.01


@dataclass(frozen=True)
class Estimate:
    usd: float
    price_per_second: float | None
    output_seconds: float


def price_per_second(
    model: str, resolution: str, prices: Mapping[str, Mapping[str, float]] | None = None
) -> float | None:
    table = prices if prices is not None else DEFAULT_PRICES
    return table.get(model, {}).get(resolution)


def estimate(
    model: str,
    resolution: str,
    output_seconds: float,
    *,
    input_images: int = 0,
    input_video_seconds: float = 0.0,
    prices: Mapping[str, Mapping[str, float]] | None = None,
) -> Estimate:
    """Cost of one render; unknown prices count as zero but are reported as None."""
    per_second = price_per_second(model, resolution, prices)
    usd = (per_second or 0.0) * output_seconds
    usd += input_images * PRICE_PER_INPUT_IMAGE + input_video_seconds * PRICE_PER_INPUT_VIDEO_SECOND
    return Estimate(usd=usd, price_per_second=per_second, output_seconds=output_seconds)


def ticks_to_usd(ticks: int) -> float:
    return ticks / TICKS_PER_USD


def usd_to_ticks(usd: float) -> int:
    return round(usd * TICKS_PER_USD)


def format_usd(usd: float | None) -> str:
    if usd is None:
        return "?"
    # Cents everywhere ($0.05, $0.10, $2.00); more digits only where cents would say $0.00.
    return f"${usd:.2f}" if usd == 0 or abs(usd) >= 0.01 else f"${usd:.2g}"
