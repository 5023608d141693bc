"""Local spending policy, checked before anything is recorded or sent."""

from __future__ import annotations

from imagine.config import Settings
from imagine.errors import PolicyError
from imagine.pricing import format_usd


def check_budget(total_usd: float, settings: Settings) -> None:
    limit = settings.max_cost_usd
    if limit is not None and total_usd > limit:
        raise PolicyError(
            f"estimated cost {format_usd(total_usd)} is above max_cost_usd ({format_usd(limit)})",
            hint="Render less, or raise it with `imagine config set max_cost_usd N`.",
        )


def needs_confirmation(total_usd: float, settings: Settings) -> bool:
    return total_usd > settings.confirm_above_usd
