"""Read a storyboard file (TOML, or JSON Lines for machines) into panels, checked whole.

A pure parser: no network, no ledger. The first mistake found ends the read with a UsageError
naming the file, the panel (with its line where the file format lets us know it) and the field,
so that nothing is sent for a file that is wrong anywhere.

TOML:  title = "…", [defaults] (render options), then [[panel]] tables.
JSONL: the first line {"title": …, "defaults": {…}}, then one panel object a line.
"""

from __future__ import annotations

import difflib
import itertools
import json
import re
import tomllib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from imagine import config
from imagine.api import contract
from imagine.errors import ConfigError, UsageError
from imagine.project import slugify
from imagine.spec import Mode, duration_for

MAX_PANELS = 100
MAX_FILE_BYTES = 1024 * 1024  # a storyboard is words; a bigger file is a mistake


class Continuity(StrEnum):
    """How a panel follows the one before it."""

    NONE = "none"
    LAST_FRAME = "last-frame"  # image→video from the previous panel's last frame
    EXTEND = "extend"  # an extension of the previous panel's clip


class TransitionKind(StrEnum):
    CUT = "cut"
    CROSSFADE = "crossfade"
    FADE_TO_BLACK = "fade-to-black"


@dataclass(frozen=True)
class Transition:
    kind: TransitionKind = TransitionKind.CUT
    seconds: float = 0.0

    def __str__(self) -> str:
        return (
            str(self.kind) if self.kind is TransitionKind.CUT else f"{self.kind}:{self.seconds:g}"
        )


# The render options a panel (or [defaults]) may set, as config settings of the same name.
OPTIONS = ("duration", "aspect", "resolution", "model", "audio", "template", "vars")
PANEL_KEYS = ("prompt", "image", "continuity", "transition", "caption", *OPTIONS)
HEADER_KEYS = ("title", "defaults")
FADE_DEFAULT_SECONDS = 0.5


@dataclass(frozen=True)
class Panel:
    index: int  # from 1, as the messages and the plan number them
    prompt: str
    continuity: Continuity = Continuity.NONE
    transition: Transition = field(default_factory=Transition)
    caption: str | None = None
    image: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # render options, defaults applied

    @property
    def chained(self) -> bool:
        return self.continuity is not Continuity.NONE


@dataclass(frozen=True)
class Storyboard:
    title: str
    slug: str
    source: Path
    panels: tuple[Panel, ...]


class _Where:
    """Names a place in the file: panel N with its line (TOML scanned for [[panel]] headers)."""

    def __init__(self, name: str, panel_lines: list[int], key_lines: list[dict[str, int]]) -> None:
        self.name = name
        self.panel_lines = panel_lines
        self.key_lines = key_lines

    def panel(self, index: int, key: str | None = None) -> str:
        line = None
        if index - 1 < len(self.key_lines) and key is not None:
            line = self.key_lines[index - 1].get(key)
        if line is None and index - 1 < len(self.panel_lines):
            line = self.panel_lines[index - 1]
        place = f"{self.name}:{line}: " if line else f"{self.name}: "
        return f"{place}panel {index}" + (f" {key}" if key else "")

    def top(self, key: str) -> str:
        return f"{self.name}: {key}"


def read_storyboard(path: Path, *, default_duration: int = contract.DEFAULT_DURATION) -> Storyboard:
    """The storyboard in ``path``; ``default_duration`` is the length of a panel that sets none
    (the project's setting), used to check that each transition fits."""
    text = _read(path)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        header, panels, where = _from_jsonl(path.name, text)
    else:
        header, panels, where = _from_toml(path.name, text)
    return _build(path, header, panels, where, default_duration)


def _read(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise UsageError(f"{path} is over 1 MiB: a storyboard is a short text file")
        return path.read_bytes().decode("utf-8-sig").replace("\r\n", "\n")
    except FileNotFoundError:
        raise UsageError(f"storyboard {path} does not exist: check the path") from None
    except IsADirectoryError:
        raise UsageError(
            f"{path} is a directory: pass a storyboard file (.toml or .jsonl)"
        ) from None
    except UnicodeDecodeError as error:
        raise UsageError(f"{path} is not UTF-8 text (bad byte at offset {error.start})") from None
    except OSError as error:
        raise UsageError(f"cannot read storyboard {path}: {error.strerror}") from None


def _from_toml(name: str, text: str) -> tuple[dict[str, Any], list[Any], _Where]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{name}: not valid TOML ({error})") from None
    panels = data.pop("panel", [])
    if not isinstance(panels, list):
        raise UsageError(f"{name}: write each panel as a [[panel]] table")
    return data, panels, _toml_places(name, text)


def _toml_places(name: str, text: str) -> _Where:
    """The line of each [[panel]] header and of each key inside it (tomllib gives none)."""
    panel_lines: list[int] = []
    key_lines: list[dict[str, int]] = []
    in_panel = False
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if re.fullmatch(r"\[\[\s*panel\s*\]\]\s*(#.*)?", stripped):
            panel_lines.append(number)
            key_lines.append({})
            in_panel = True
        elif stripped.startswith("["):
            in_panel = False
        elif in_panel and (match := re.match(r"[\"']?([A-Za-z0-9_-]+)[\"']?\s*=", stripped)):
            key_lines[-1].setdefault(match[1], number)
    return _Where(name, panel_lines, key_lines)


def _from_jsonl(name: str, text: str) -> tuple[dict[str, Any], list[Any], _Where]:
    rows: list[tuple[int, Any]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip() or line.strip().startswith("#"):
            continue
        try:
            rows.append((number, json.loads(line)))
        except (json.JSONDecodeError, RecursionError, ValueError) as error:
            raise UsageError(f"{name}:{number}: not valid JSON ({error})") from None
    if not rows or not isinstance(rows[0][1], dict):
        raise UsageError(f'{name}: the first line must be the header, like {{"title": "…"}}')
    header = rows[0][1]
    lines = [number for number, _ in rows[1:]]
    return header, [value for _, value in rows[1:]], _Where(name, lines, [])


def _build(
    path: Path, header: dict[str, Any], raw_panels: list[Any], where: _Where, default_duration: int
) -> Storyboard:
    _known(header, HEADER_KEYS, where.top)
    title = header.get("title")
    if not isinstance(title, str) or not title.strip():
        raise UsageError(
            f'{where.top("title")} is missing: name the storyboard, e.g. title = "Lighthouse"'
        )
    defaults = header.get("defaults", {})
    if not isinstance(defaults, dict):
        raise UsageError(f"{where.top('defaults')} must be a table of render options")
    _known(defaults, OPTIONS, lambda key: where.top(f"defaults.{key}"))
    checked_defaults = {
        key: _option(key, value, where.top(f"defaults.{key}")) for key, value in defaults.items()
    }
    if not raw_panels:
        raise UsageError(f"{path.name}: no panels: add at least one [[panel]] with a prompt")
    if len(raw_panels) > MAX_PANELS:
        raise UsageError(
            f"{path.name}: {len(raw_panels)} panels; a storyboard takes at most {MAX_PANELS}"
        )
    panels = tuple(
        _panel(index, raw, checked_defaults, where) for index, raw in enumerate(raw_panels, start=1)
    )
    _check_transitions(panels, where, default_duration)
    return Storyboard(title=title.strip(), slug=slugify(title), source=path, panels=panels)


def _known(table: dict[str, Any], keys: tuple[str, ...], place: Any) -> None:
    for key in table:
        if key not in keys:
            close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys are {', '.join(keys)}"
            raise UsageError(f"{place(key)}: unknown key: {hint}")


def _option(key: str, value: Any, place: str) -> Any:
    if key == "template":  # a prompt template's name ([templates.NAME], as `gen -t NAME`)
        if not isinstance(value, str) or not value.strip():
            raise UsageError(f'{place}: a template\'s name, like template = "ad"')
        return value.strip()
    if key == "vars":  # its named fields, as `gen --var KEY=VALUE`
        if not isinstance(value, dict) or not all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in value.values()
        ):
            raise UsageError(
                f'{place}: a table of the template\'s fields, like {{ product = "tea" }}'
            )
        return {str(k): str(v) for k, v in value.items()}
    try:
        return config.parse_value(key, value, source="")
    except ConfigError as error:
        raise UsageError(f"{place}: {error}") from None


def _panel(index: int, raw: Any, defaults: dict[str, Any], where: _Where) -> Panel:
    if not isinstance(raw, dict):
        raise UsageError(f"{where.panel(index)}: must be a table (an object) with a prompt")
    _known(raw, PANEL_KEYS, lambda key: where.panel(index, key))
    prompt = raw.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise UsageError(
            f"{where.panel(index, 'prompt')}: missing or empty: say what this panel shows"
        )
    continuity = _continuity(raw.get("continuity", "none"), where.panel(index, "continuity"))
    if continuity is not Continuity.NONE and index == 1:
        raise UsageError(
            f"{where.panel(index, 'continuity')}: the first panel has no panel before it to "
            'continue: use continuity = "none"'
        )
    image = _text(raw, "image", where.panel(index, "image"))
    if image is not None and continuity is not Continuity.NONE:
        raise UsageError(
            f"{where.panel(index, 'image')}: a {continuity} panel starts from the previous panel; "
            'drop image or set continuity = "none"'
        )
    options = dict(defaults)
    options.update(
        (key, _option(key, raw[key], where.panel(index, key))) for key in OPTIONS if key in raw
    )
    return Panel(
        index=index,
        prompt=prompt.strip(),
        continuity=continuity,
        transition=_transition(raw.get("transition", "cut"), where.panel(index, "transition")),
        caption=_text(raw, "caption", where.panel(index, "caption")),
        image=image,
        options=options,
    )


def _text(raw: dict[str, Any], key: str, place: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise UsageError(f"{place}: must be text")
    return value.strip() or None


def _continuity(value: Any, place: str) -> Continuity:
    try:
        return Continuity(str(value).strip().lower())
    except ValueError:
        names = ", ".join(item.value for item in Continuity)
        raise UsageError(f"{place}: {value!r} is not a continuity: choose {names}") from None


def _transition(value: Any, place: str) -> Transition:
    text = str(value).strip().lower() if isinstance(value, str) else ""
    name, _, seconds = text.partition(":")
    usage = "write cut, crossfade:SECONDS or fade-to-black:SECONDS (e.g. crossfade:0.5)"
    try:
        kind = TransitionKind(name)
    except ValueError:
        raise UsageError(f"{place}: {value!r} is not a transition: {usage}") from None
    if kind is TransitionKind.CUT:
        if seconds:
            raise UsageError(f"{place}: a cut takes no seconds: {usage}")
        return Transition()
    try:
        length = float(seconds) if seconds else FADE_DEFAULT_SECONDS
    except ValueError:
        raise UsageError(f"{place}: {seconds!r} is not a number of seconds: {usage}") from None
    if not 0 < length <= contract.MAX_DURATION:
        raise UsageError(f"{place}: {length:g} s is not a transition length: give 0 to 15 seconds")
    return Transition(kind, length)


def _check_transitions(panels: tuple[Panel, ...], where: _Where, default_duration: int) -> None:
    """Each transition must fit inside the panels it joins (a panel's nominal length: its
    duration; an extension's: the seconds it adds)."""
    last = panels[-1]
    if last.transition.kind is not TransitionKind.CUT:
        raise UsageError(
            f"{where.panel(last.index, 'transition')}: the last panel has no next panel to "
            "transition into: drop it"
        )
    for panel, after in itertools.pairwise(panels):
        transition = panel.transition
        if transition.kind is TransitionKind.CUT:
            continue
        for side in (panel, after):
            length = nominal_seconds(side, default_duration)
            fades = transition.seconds + (
                _incoming(panels, side) if side is panel else after.transition.seconds
            )
            if transition.seconds > length or fades > length:
                raise UsageError(
                    f"{where.panel(panel.index, 'transition')}: {transition} is longer than "
                    f"panel {side.index} ({length:g} s) can hold: shorten the transition or "
                    "lengthen the panel"
                )


def _incoming(panels: tuple[Panel, ...], panel: Panel) -> float:
    if panel.index == 1:
        return 0.0
    return panels[panel.index - 2].transition.seconds


def panel_duration(panel: Panel, default_duration: int) -> int:
    """The seconds a panel renders (an extension: the seconds it adds to its parent's clip)."""
    given = panel.options.get("duration")
    mode = Mode.EXTEND if panel.continuity is Continuity.EXTEND else Mode.TEXT
    seconds = duration_for(mode, None if given is None else int(given), default_duration)
    assert seconds is not None  # (only an edit has no duration of its own)
    return seconds


def nominal_seconds(panel: Panel, default_duration: int) -> float:
    """The seconds a panel adds to the film, as far as is known before it is rendered."""
    return float(panel_duration(panel, default_duration))
