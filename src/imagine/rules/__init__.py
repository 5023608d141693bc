"""Local policy: rules checked on every prompt as it would be sent, before anything is recorded
as live or sent. Shipped rules (docs/policy.md), the user's, the project's and the admin's.

No Typer or Rich here; nothing prints. A hit never carries the prompt, only the rule."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from imagine.rules.ruleset import (
    SHIPPED,
    SHIPPED_STRICT,
    Hit,
    PolicyLevel,
    Rule,
    RuleAction,
    RuleSet,
    Verdict,
    rules_from_table,
)

__all__ = [
    "SHIPPED",
    "SHIPPED_STRICT",
    "Hit",
    "PolicyLevel",
    "Rule",
    "RuleAction",
    "RuleSet",
    "Verdict",
    "in_force",
    "rules_from_file",
]


def rules_from_file(path: Path, label: str) -> list[Rule]:
    """The ``[policy]`` rules of one TOML file (none when it does not exist)."""
    from imagine.paths import read_table

    return rules_from_table(read_table(path).get("policy"), f"{label} {path}")


def in_force(
    level: PolicyLevel, files: Sequence[tuple[Path, str]], extra: Sequence[Rule] = ()
) -> RuleSet:
    """Shipped rules (with the strict ones when asked), then each file's, then ``extra``
    (the admin file's). Every rule is checked: none can switch off another."""
    from imagine.rules.defaults import STANDARD, STRICT

    found: list[Rule] = [*STANDARD]
    if level is PolicyLevel.STRICT:
        found.extend(STRICT)
    for path, label in files:
        found.extend(rules_from_file(path, label))
    found.extend(extra)
    return RuleSet(tuple(found))
