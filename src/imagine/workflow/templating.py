"""Versioned prompt templates: ``[templates.NAME]`` in the user config or the project's imagine.toml.

A template is text with ``{prompt}`` and named fields, a whole-number version and default options.
It is filled with a safe formatter: fields are plain names, never attribute or index lookups, so a
template cannot reach into anything but the values it is given. Every mistake (a missing field, an
unknown template, a bad version, a stray brace) is a UsageError naming the template and its file,
raised before anything is recorded or sent.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagine import clock, config, paths
from imagine.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from imagine.ledger.store import Ledger

PROMPT_FIELD = "prompt"
OPTION_KEYS = ("duration", "aspect", "resolution", "model", "audio")  # settings a template sets
_KEYS = frozenset({"text", "version", "description", *OPTION_KEYS})
MAX_TEXT = 16 * 1024  # characters; a template is a paragraph with blanks, not a document


@dataclass(frozen=True)
class Template:
    name: str
    text: str
    version: int
    source: Path  # the file that defines it
    scope: str  # "project" or "user"
    defaults: Mapping[str, Any] = field(default_factory=dict)  # checked settings, by key
    description: str | None = None
    shadows: Path | None = None  # a user definition of the same name this project one hides

    @property
    def fields(self) -> tuple[str, ...]:
        """The named fields to fill, ``prompt`` included when the text has it, in order."""
        pieces = _pieces(self.text, self.name, self.source)
        return tuple(dict.fromkeys(name for _, name in pieces if name))

    @property
    def text_sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def where(self) -> str:
        return f"template {self.name!r} (v{self.version}, {self.source})"

    def fill(self, prompt: str | None, values: Mapping[str, str]) -> str:
        """The prompt as sent: the text with every field replaced by its value."""
        wanted = self.fields
        unknown = sorted(set(values) - set(wanted))
        if unknown:
            named = ", ".join(n for n in wanted if n != PROMPT_FIELD) or "none"
            raise UsageError(
                f"{self.where()} has no field {unknown[0]!r}: its fields are {named}; "
                "check the --var name"
            )
        given = dict(values)
        if prompt is not None:
            if PROMPT_FIELD not in wanted:
                raise UsageError(
                    f"{self.where()} has no {{prompt}} field, so the prompt would be lost: "
                    "drop the prompt and fill its fields with --var, or add {prompt} to its text"
                )
            given[PROMPT_FIELD] = prompt
        missing = [name for name in wanted if name not in given]
        if missing:
            how = "give a PROMPT" if missing[0] == PROMPT_FIELD else f"pass --var {missing[0]}=…"
            raise UsageError(f"{self.where()} needs a value for {{{missing[0]}}}: {how}")
        parts = []
        for literal, name in _pieces(self.text, self.name, self.source):
            parts.append(literal)
            if name:
                parts.append(given[name])
        return "".join(parts)


@dataclass(frozen=True)
class Applied:
    """What a template made of a request: the prompt as sent, and what to record beside it."""

    template: Template
    prompt_sent: str


def _pieces(text: str, name: str, source: Path) -> list[tuple[str, str]]:
    """(literal text, field name or "") pairs; a UsageError for anything but plain named fields."""
    where = f"template {name!r} in {source}"
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as error:
        raise UsageError(
            f"{where}: {error} in its text; write a literal brace as {{{{ or }}}}"
        ) from None
    pieces = []
    for literal, field_name, spec, conversion in parsed:
        if field_name is None:
            pieces.append((literal, ""))
            continue
        if not field_name.isidentifier() or spec or conversion:
            shown = "{" + field_name + (f"!{conversion}" if conversion else "")
            shown += (f":{spec}" if spec else "") + "}"
            raise UsageError(
                f"{where}: {shown} is not a plain field; fields are names like {{prompt}} "
                "or {style} (write a literal brace as {{ or }})"
            )
        pieces.append((literal, field_name))
    return pieces


# --- reading definitions ---------------------------------------------------------------------------


def load(project_file: Path | None) -> dict[str, Template]:
    """Every template in force: the user's, then the project's (a project one wins by name)."""
    found = _read(paths.config_file(), "user")
    if project_file is not None:
        for name, template in _read(project_file, "project").items():
            shadowed = found.get(name)
            found[name] = (
                template if shadowed is None else replace(template, shadows=shadowed.source)
            )
    return found


def _read(path: Path, scope: str) -> dict[str, Template]:
    table = paths.read_table(path).get("templates")
    if table is None:
        return {}
    if not isinstance(table, Mapping):
        raise ConfigError(f"templates in {path} should be tables like [templates.NAME]")
    return {str(name): _template(str(name), body, path, scope) for name, body in table.items()}


def _template(name: str, body: Any, path: Path, scope: str) -> Template:
    where = f"template {name!r} in {path}"
    if not name.isidentifier() and not name.replace("-", "_").isidentifier():
        raise ConfigError(f"{where}: name it with letters, digits, - and _ only")
    if not isinstance(body, Mapping):
        raise ConfigError(f"{where} should be a table with text and version")
    unknown = sorted(set(body) - _KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; known keys are {_known()}")
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f'{where} needs text, like text = "{{prompt}}, cinematic"')
    if len(text) > MAX_TEXT:
        raise ConfigError(f"{where}: its text is over {MAX_TEXT} characters")
    version = body.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        shown = "missing" if version is None else repr(version)
        raise ConfigError(
            f"{where}: version must be a whole number of 1 or more (got {shown}); "
            "raise it whenever the text changes"
        )
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        raise ConfigError(f"{where}: description must be text")
    defaults = {
        key: config.parse_value(key, body[key], source=f"{where}")
        for key in OPTION_KEYS
        if key in body
    }
    made = Template(name, text, version, path, scope, defaults, description)
    _pieces(text, name, path)  # every field a plain name, every brace balanced
    return made


def _known() -> str:
    return ", ".join(sorted(_KEYS))


def choose(templates: Mapping[str, Template], name: str, project_file: Path | None) -> Template:
    """The template called ``name``; a UsageError naming where templates are looked for."""
    found = templates.get(name)
    if found is not None:
        return found
    places = " or ".join(
        str(path) for path in (project_file, paths.config_file()) if path is not None
    )
    known = ", ".join(sorted(templates)) or "none defined"
    raise UsageError(
        f"unknown template {name!r} (known: {known}): define [templates.{name}] in {places}"
    )


def parse_vars(items: Sequence[str] | None, *, flag: str = "--var") -> dict[str, str]:
    """``key=value`` pairs, each key once."""
    values: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UsageError(f"{flag} {item!r}: write it as name=value, e.g. {flag} style=noir")
        if key == PROMPT_FIELD:
            raise UsageError(f"{flag} {item!r}: the prompt is the PROMPT argument, not a field")
        if key in values:
            raise UsageError(f"{flag} {key} is given twice: keep one")
        values[key] = value
    return values


def apply(template: Template, prompt: str | None, values: Mapping[str, str]) -> Applied:
    return Applied(template, template.fill(prompt, values))


# --- remembering what each version said ------------------------------------------------------------


def text_changed(ledger: Ledger, template: Template, *, remember: bool = True) -> bool:
    """Whether this name and version said something else when last used (from the same file);
    the text seen now is remembered (unless not ``remember``: a dry run writes nothing)."""
    key = (str(template.source), template.name, template.version)
    with ledger.transaction() as conn:
        row = conn.execute(
            "SELECT text_sha256 FROM template_texts WHERE source = ? AND name = ? AND version = ?",
            key,
        ).fetchone()
        if not remember:
            return row is not None and row[0] != template.text_sha256
        conn.execute(
            "INSERT INTO template_texts (source, name, version, text_sha256, seen_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, name, version)"
            " DO UPDATE SET text_sha256 = excluded.text_sha256, seen_at = excluded.seen_at",
            (*key, template.text_sha256, clock.iso()),
        )
    return row is not None and row[0] != template.text_sha256


def changed_warning(template: Template) -> str:
    return (
        f"template {template.name!r} in {template.source}: its text changed but its version is "
        f"still {template.version}; raise version so renders of the two texts can be told apart"
    )
