"""Rules and the set of them in force: what a prompt as sent is checked against."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from imagine.errors import ConfigError
from imagine.rules.normalise import views, words_pattern


class RuleAction(StrEnum):
    BLOCK = "block"  # the job is recorded blocked and nothing is sent
    WARN = "warn"  # one line of warning; the job goes ahead


class PolicyLevel(StrEnum):
    STANDARD = "standard"
    STRICT = "strict"  # adds the age-appropriate rules (docs/policy.md)


SHIPPED = "shipped"
SHIPPED_STRICT = "shipped (strict)"
_RULE_KEYS = {"name", "category", "words", "regex", "also", "also_regex", "action"}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class Rule:
    """A prompt matches when it has one of ``words``/``regex`` and, if the rule names any, also
    one of ``also``/``also_regex`` (e.g. a sexual term *and* a cue that a minor is meant)."""

    name: str
    category: str
    action: RuleAction
    source: str  # SHIPPED, SHIPPED_STRICT, or the file that defines it
    words: tuple[str, ...] = ()
    regex: tuple[str, ...] = ()
    also: tuple[str, ...] = ()
    also_regex: tuple[str, ...] = ()
    _any: re.Pattern[str] | None = field(default=None, repr=False, compare=False)
    _also: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def matches(self, forms: Sequence[str]) -> bool:
        if self._any is None or not any(self._any.search(form) for form in forms):
            return False
        return self._also is None or any(self._also.search(form) for form in forms)


def make_rule(
    name: str,
    category: str,
    *,
    source: str,
    action: RuleAction = RuleAction.BLOCK,
    words: Iterable[str] = (),
    regex: Iterable[str] = (),
    also: Iterable[str] = (),
    also_regex: Iterable[str] = (),
) -> Rule:
    """A rule with its patterns compiled; a bad one is a ConfigError naming the rule and file."""
    words, regex, also, also_regex = tuple(words), tuple(regex), tuple(also), tuple(also_regex)
    if not words and not regex:
        raise ConfigError(f"policy rule {name!r} in {source} has neither words nor regex: add one")
    return Rule(
        name,
        category,
        action,
        source,
        words,
        regex,
        also,
        also_regex,
        _compile(name, source, words, regex),
        _compile(name, source, also, also_regex) if also or also_regex else None,
    )


def _compile(name: str, source: str, words: Sequence[str], regex: Sequence[str]) -> re.Pattern[str]:
    parts = []
    if words:
        try:
            parts.append(words_pattern(list(words)))
        except ValueError as error:
            raise ConfigError(f"policy rule {name!r} in {source}: {error}") from None
    for pattern in regex:
        try:
            re.compile(pattern)
        except (re.error, RecursionError, OverflowError) as error:
            raise ConfigError(
                f"policy rule {name!r} in {source}: invalid regular expression "
                f"{pattern!r} ({error}); fix the regex or remove the rule"
            ) from None
        parts.append(f"(?:{pattern})")
    return re.compile("|".join(parts), re.IGNORECASE)


@dataclass(frozen=True)
class Hit:
    """A rule a prompt matched: its name, category, action and source, never the prompt."""

    rule: str
    category: str
    action: RuleAction
    source: str

    @property
    def message(self) -> str:
        return (
            f"This request isn't allowed by rule {self.rule} ({self.category}); change the prompt"
        )

    def as_dict(self) -> dict[str, str]:
        return {
            "rule": self.rule,
            "category": self.category,
            "action": str(self.action),
            "source": self.source,
        }


@dataclass(frozen=True)
class Verdict:
    hits: tuple[Hit, ...] = ()

    @property
    def blocked_by(self) -> Hit | None:
        return next((hit for hit in self.hits if hit.action is RuleAction.BLOCK), None)

    @property
    def warnings(self) -> tuple[Hit, ...]:
        return tuple(hit for hit in self.hits if hit.action is RuleAction.WARN)


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]

    def check(self, prompt: str | None) -> Verdict:
        """Every rule the prompt (as it would be sent) matches; none for no prompt."""
        if not prompt:
            return Verdict()
        forms = (prompt, *views(prompt))
        hits = tuple(
            Hit(rule.name, rule.category, rule.action, rule.source)
            for rule in self.rules
            if rule.matches(forms)
        )
        return Verdict(hits)


def rules_from_table(policy: Any, source: str) -> list[Rule]:
    """The rules of a config file's ``[policy]`` table: ``[policy.rules.NAME]`` tables or
    ``[[policy.rules]]`` entries with a ``name``."""
    if policy is None or not isinstance(policy, Mapping):
        return []
    table = policy.get("rules")
    if table is None:
        return []
    if isinstance(table, Mapping):
        entries = [(str(name), entry) for name, entry in table.items()]
    elif isinstance(table, list):
        entries = [(_entry_name(entry, source), entry) for entry in table]
    else:
        raise ConfigError(
            f"policy.rules in {source} should be [policy.rules.NAME] tables or [[policy.rules]]"
        )
    return [_rule(name, entry, source) for name, entry in entries]


def _entry_name(entry: Any, source: str) -> str:
    name = entry.get("name") if isinstance(entry, Mapping) else None
    if not isinstance(name, str):
        raise ConfigError(f'a [[policy.rules]] entry in {source} has no name: add name = "..."')
    return name


def _rule(name: str, entry: Any, source: str) -> Rule:
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"policy rule name {name[:40]!r} in {source}: use letters, digits, - _ . (64 at most)"
        )
    if not isinstance(entry, Mapping):
        raise ConfigError(f"policy rule {name!r} in {source} should be a table")
    unknown = set(entry) - _RULE_KEYS
    if unknown:
        known = ", ".join(sorted(_RULE_KEYS - {"name"}))
        raise ConfigError(
            f"policy rule {name!r} in {source}: unknown key {sorted(unknown)[0]!r} ({known})"
        )
    action = entry.get("action", "block")
    if action not in tuple(RuleAction):
        raise ConfigError(f"policy rule {name!r} in {source}: action must be block or warn")
    category = entry.get("category", "custom")
    if not isinstance(category, str) or not category.strip():
        raise ConfigError(f"policy rule {name!r} in {source}: category must be a non-empty text")
    return make_rule(
        name,
        category.strip(),
        source=source,
        action=RuleAction(action),
        words=_strings(entry, "words", name, source),
        regex=_strings(entry, "regex", name, source),
        also=_strings(entry, "also", name, source),
        also_regex=_strings(entry, "also_regex", name, source),
    )


def _strings(entry: Mapping[str, Any], key: str, name: str, source: str) -> tuple[str, ...]:
    value = entry.get(key, ())
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(
        isinstance(item, str) and item.strip() for item in value
    ):
        raise ConfigError(
            f"policy rule {name!r} in {source}: {key} must be a text or a list of texts"
        )
    return tuple(value)
