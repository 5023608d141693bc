"""Local spending policy, checked before anything is recorded or sent.

Caps over days and months are checked again as each job is sent (imagine.money.caps); these checks
come first, on the whole command's estimate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagine.config import Settings
from imagine.errors import PolicyError
from imagine.money.caps import Budget
from imagine.money.pricing import format_usd
from imagine.money.spending import Allowance, allowances, left

if TYPE_CHECKING:
    from imagine.ledger.db import Connection


def check_budget(total_usd: float, settings: Settings) -> None:
    limit = settings.max_cost_usd
    if limit is not None and total_usd > limit:
        raise PolicyError(
            f"estimated cost {format_usd(total_usd)} is above max_cost_usd ({format_usd(limit)})",
            hint="Render less, or raise it with `imagine config set max_cost_usd N` "
            "(--max-cost N for one command).",
        )


def needs_confirmation(total_usd: float, settings: Settings) -> bool:
    return total_usd > settings.confirm_above_usd


def check_script_consent(total_usd: float, settings: Settings) -> None:
    """Above confirm_above_usd with nobody at a terminal to ask: a script must say --yes."""
    raise PolicyError(
        f"estimated cost {format_usd(total_usd)} is above confirm_above_usd "
        f"({format_usd(settings.confirm_above_usd)}) and there is no terminal to ask",
        hint="Pass --yes to go ahead, or raise it with `imagine config set confirm_above_usd N`.",
    )


def tightest(conn: Connection, budget: Budget) -> Allowance | None:
    """The cap with the least left now, if any is set."""
    return left(allowances(conn, budget))
