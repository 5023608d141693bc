"""Read the job lists `imagine batch` takes: one prompt a line (.txt), JSON Lines or CSV.

A pure parser: no network, no ledger, no printing. Every line that cannot become a job is returned as a
BatchProblem carrying its line number, so a script sees all its mistakes in one run instead of one per
run. Values pass through the same checks as config files and flags (``config.parse_value``), so a bad
duration reads the same wherever it was written.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from imagine import config, storage
from imagine.api import contract
from imagine.errors import ConfigError, UsageError
from imagine.keyframes import keyframe_time, split_keyframe, voice_id
from imagine.spec import KEEPS, Mode
from imagine.storage import StoreOptions


class LineMode(StrEnum):
    """The command a batch line stands for."""

    GEN = "gen"
    EDIT = "edit"
    EXTEND = "extend"


FORMATS = ("txt", "jsonl", "csv")
MAX_VARIATIONS = 16  # as -n/--variations
MAX_DIGITS = 100  # a whole number written longer than this is a mistake, not a count

# Every name a field may be written as (after lower-casing and "-" → "_"), mapped to its canonical name.
ALIASES: dict[str, str] = {
    "prompt": "prompt",
    "mode": "mode",
    "image": "image",
    "ref": "refs",
    "refs": "refs",
    "reference_images": "refs",
    "video": "video",
    "duration": "duration",
    "d": "duration",
    "aspect": "aspect",
    "aspect_ratio": "aspect",
    "a": "aspect",
    "resolution": "resolution",
    "r": "resolution",
    "model": "model",
    "m": "model",
    "audio": "audio",
    "no_audio": "no_audio",
    "n": "n",
    "variations": "n",
    "output": "output",
    "o": "output",
    "name": "output",
    "consent": "consent",
    "template": "template",
    "t": "template",
    "vars": "vars",
    "keyframes": "keyframes",
    "keyframe": "keyframes",
    "last_frame": "last_frame",
    "voices": "voices",
    "voice": "voices",
    "reference_audios": "voices",
    "store": "store",
}
_EXTENSIONS = {
    ".txt": "txt",
    ".prompts": "txt",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
}
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}


@dataclass(frozen=True)
class BatchEntry:
    """One job as the file asks for it; None means "not given" (the command's default applies)."""

    line: int
    mode: LineMode
    prompt: str | None
    image: str | None = None
    refs: tuple[str, ...] = ()
    video: str | None = None
    duration: int | None = None
    aspect: str | None = None
    resolution: str | None = None
    model: str | None = None
    audio: bool | None = None
    n: int = 1
    output: str | None = None
    consent: bool = False
    template: str | None = None  # a prompt template's name, and its fields' values
    vars: tuple[tuple[str, str], ...] = ()
    keyframes: tuple[tuple[str, float], ...] = ()  # (image, seconds into the clip)
    last_frame: str | None = None
    voices: tuple[str, ...] = ()
    store: StoreOptions | None = None
    # Left out of the hash (a dict has none) so that entries can go in sets.
    fields: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class BatchProblem:
    line: int
    message: str


@dataclass(frozen=True)
class BatchFile:
    name: str
    format: str
    entries: tuple[BatchEntry, ...]
    problems: tuple[BatchProblem, ...]


class _Problem(Exception):
    """Why one line cannot become an entry; turned into a BatchProblem by its caller."""


Result = BatchEntry | BatchProblem


@dataclass(frozen=True)
class BatchStream:
    """A batch file read line by line as it is consumed: a job can start before the last line
    of a long file is parsed."""

    name: str
    format: str
    results: Iterator[Result]


def read_batch(source: str, *, text: str | None = None, fmt: str | None = None) -> BatchFile:
    """Parse a whole batch file (``-`` = stdin, whose content the caller passes as ``text``)."""
    stream = stream_batch(source, text=text, fmt=fmt)
    results = list(stream.results)
    entries = tuple(r for r in results if isinstance(r, BatchEntry))
    problems = tuple(r for r in results if isinstance(r, BatchProblem))
    return BatchFile(name=stream.name, format=stream.format, entries=entries, problems=problems)


def stream_batch(source: str, *, text: str | None = None, fmt: str | None = None) -> BatchStream:
    """As read_batch, but each line is parsed only when its result is asked for."""
    if source == "-" and text is None:
        raise ValueError("read stdin in the CLI and pass it as text")
    name = "<stdin>" if source == "-" else source
    content = _read(name) if text is None else text.removeprefix("\ufeff")
    # A file saved on Windows must give the same prompts (and so the same fingerprints).
    content = content.replace("\r\n", "\n")
    chosen = _choose_format(source, content, fmt)
    return BatchStream(name=name, format=chosen, results=_PARSERS[chosen](content))


def _read(name: str) -> str:
    path = Path(name)
    if path.is_dir():
        raise UsageError(f"{name} is a directory: pass a batch file (.txt, .jsonl or .csv)")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"batch file {name} does not exist: check the path") from None
    except OSError as error:
        raise UsageError(f"cannot read batch file {name}: {error.strerror}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UsageError(
            f"{name} is not UTF-8 text (bad byte at offset {error.start}): save it as UTF-8"
        ) from None


def _choose_format(source: str, content: str, fmt: str | None) -> str:
    if fmt is not None:
        chosen = fmt.strip().lower()
        if chosen not in FORMATS:
            raise UsageError(f"unknown batch format {fmt!r}: choose txt, jsonl or csv")
        return chosen
    if source != "-":
        by_extension = _EXTENSIONS.get(Path(source).suffix.lower())
        if by_extension:
            return by_extension
    return _sniff(content)


def _sniff(content: str) -> str:
    """JSON Lines when the first real line is an object; a CSV cannot be told from prose."""
    for _, line in _content_lines(content):
        return "jsonl" if line.startswith("{") else "txt"
    return "txt"


def _content_lines(content: str) -> Iterator[tuple[int, str]]:
    """(line number, stripped text) of every line that is neither blank nor a # comment."""
    # split("\n") rather than splitlines(): the latter also breaks at U+2028 and friends, which may
    # sit inside a JSON string, and line numbers must match what an editor shows.
    for number, line in enumerate(content.split("\n"), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            yield number, stripped


def _parse_txt(content: str) -> Iterator[Result]:
    for number, line in _content_lines(content):
        yield _from_txt(number, line)


def _parse_jsonl(content: str) -> Iterator[Result]:
    for number, line in _content_lines(content):
        yield _guard(_from_jsonl, number, line)


def _parse_csv(content: str) -> Iterator[Result]:
    # strict: an unclosed quote would otherwise swallow the rest of the file into one cell.
    reader = csv.reader(io.StringIO(content), strict=True)
    header: list[str] | None = None
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield BatchProblem(start, _csv_error(error))
            start = reader.line_num + 1
            continue
        # A quoted cell may span lines: the row starts where the previous one ended.
        line, start = start, reader.line_num + 1
        if _skipped_row(row):
            continue
        if header is not None:
            yield _guard(_from_csv, line, header, row)
            continue
        header = [cell.strip() for cell in row]
        try:
            _check_header(header)
        except _Problem as problem:
            yield BatchProblem(line, str(problem))
            return  # every row would repeat its mistake


def _guard(build: Callable[..., BatchEntry], line: int, *args: Any) -> Result:
    """The entry a line describes, or the first problem found in it."""
    try:
        return build(line, *args)
    except _Problem as problem:
        return BatchProblem(line, str(problem))


def _from_txt(line: int, text: str) -> BatchEntry:
    # A line of text is a prompt and nothing else: nothing to look up (a long file has many).
    return BatchEntry(line=line, mode=LineMode.GEN, prompt=text, fields={"prompt": text})


def _from_jsonl(line: int, text: str) -> BatchEntry:
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as error:
        raise _Problem(
            f"not valid JSON ({error.msg} at column {error.colno}): "
            'write one object a line, like {"prompt": "a fox in snow"}'
        ) from None
    except RecursionError:
        raise _Problem(
            "values nested too deep to read: write one flat object a line, "
            'like {"prompt": "a fox in snow"}'
        ) from None
    except ValueError:  # Python refuses to read a number of over 4,300 digits
        raise _Problem(
            "a number with thousands of digits: no field takes one (duration is 1-15 seconds)"
        ) from None
    _check_encodable(value)
    if not isinstance(value, dict):
        raise _Problem(
            f'expected a JSON object like {{"prompt": "a fox in snow"}}, got {_kind(value)}'
        )
    return _build(line, value)


def _check_encodable(value: Any) -> None:
    # JSON may spell half of a surrogate pair (\ud800) alone: no UTF-8 text holds it, so
    # neither the ledger nor a sidecar nor the API could ever take the line.
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as error:
        raise _Problem(
            f"holds a lone surrogate escape (\\u{ord(error.object[error.start]):04x}) that is not "
            "a character: fix the escape or write the character itself"
        ) from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads would silently keep the last of two equal keys; the user meant only one of them.
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _Problem(f"{key!r} is given twice: keep one")
        seen[key] = value
    return seen


def _from_csv(line: int, header: list[str], row: list[str]) -> BatchEntry:
    if len(row) > len(header) and any(cell.strip() for cell in row[len(header) :]):
        raise _Problem(
            f"row has {len(row)} cells but the header names {len(header)} columns: "
            "put cells that contain commas in double quotes"
        )
    given: dict[str, Any] = {}
    for column, (name, cell) in enumerate(zip(header, row, strict=False), start=1):
        if not cell.strip():
            continue  # an empty cell means "not given"
        if not name:
            raise _Problem(f"column {column} has a value but no name in the header row")
        given[name] = cell
    return _build(line, given, split_refs=True)


def _check_header(header: list[str]) -> None:
    names = [name for name in header if name]
    if not names:
        raise _Problem("the header row names no columns: start with a row like prompt,duration")
    try:
        _canonical_names(names)
    except _Problem as problem:
        raise _Problem(f"header row: {problem} (the first row names the columns)") from None


def _csv_error(error: csv.Error) -> str:
    return (
        f"not valid CSV ({error}): put cells holding commas, quotes or line breaks "
        'in double quotes, and double any quote inside them ("")'
    )


def _skipped_row(row: list[str]) -> bool:
    return not any(cell.strip() for cell in row) or row[0].strip().startswith("#")


# --- one entry: names, values, then the rules of its mode -------------------------------------------

Given = dict[str, tuple[str, Any]]  # canonical name → (name as written, value)


def _build(line: int, raw: Mapping[str, Any], *, split_refs: bool = False) -> BatchEntry:
    given = _given(raw)
    entry = BatchEntry(
        line=line,
        mode=_mode(given),
        prompt=_prompt(given),
        image=_text(given, "image"),
        refs=_refs(given, split=split_refs),
        video=_text(given, "video"),
        duration=_setting(given, "duration", line),
        aspect=_setting(given, "aspect", line),
        resolution=_setting(given, "resolution", line),
        model=_setting(given, "model", line),
        audio=_audio(given),
        n=_variations(given),
        output=_setting(given, "output", line),
        consent=_flag(given, "consent") or False,
        template=_text(given, "template"),
        vars=_vars(given),
        keyframes=_keyframes(given, split=split_refs),
        last_frame=_text(given, "last_frame"),
        voices=_voices(given, split=split_refs),
        store=_store(given),
        fields=dict(raw),
    )
    _check_mode(entry, given)
    return entry


def _given(raw: Mapping[str, Any]) -> Given:
    """The fields that carry a value, by canonical name; null and blank mean "not given"."""
    canonical = _canonical_names(list(raw))
    given: Given = {}
    for (name, value), key in zip(raw.items(), canonical, strict=True):
        blank = value is None or (isinstance(value, str) and not value.strip())
        # A blank prompt is kept so that it is reported as empty rather than as missing.
        if not blank or (key == "prompt" and value is not None):
            given[key] = (name, value)
    return given


def _canonical_names(names: list[str]) -> list[str]:
    """Each name's canonical field; a problem for unknown names and for one field named twice."""
    taken: dict[str, str] = {}
    canonical: list[str] = []
    for name in names:
        key = ALIASES.get(name.strip().lower().replace("-", "_"))
        if key is None:
            raise _Problem(_unknown_field(name))
        slot = "audio" if key == "no_audio" else key
        if slot in taken:
            raise _Problem(_twice(taken[slot], name))
        taken[slot] = name
        canonical.append(key)
    return canonical


def _unknown_field(name: str) -> str:
    # The API ignores fields it does not know, so a typo like "durration" would silently render
    # with the default: refuse it here instead.
    typed = name.strip().lower().replace("-", "_")
    close = difflib.get_close_matches(typed, ALIASES, n=1, cutoff=0.6)
    close = close or [key for key in ALIASES if len(typed) > 1 and key.startswith(typed)][:1]
    if close:
        return f"unknown field {_shown(name)}: did you mean {close[0]!r}?"
    known = ", ".join(dict.fromkeys(ALIASES.values()))
    return f"unknown field {_shown(name)}: known fields are {known}"


def _twice(first: str, second: str) -> str:
    if first.strip().lower() == second.strip().lower():
        return f"{second!r} is given twice: keep one"
    return f"{first!r} and {second!r} set the same thing: keep one"


def _mode(given: Given) -> LineMode:
    if "mode" not in given:
        # Edits and extensions must say so: they need a video and cost differently.
        return LineMode.GEN
    name, value = given["mode"]
    mode = value.strip().lower() if isinstance(value, str) else value
    if mode not in tuple(LineMode):
        raise _Problem(f"unknown {name} {_shown(value)}: choose gen, edit or extend")
    return LineMode(mode)


def _prompt(given: Given) -> str | None:
    prompt = _text(given, "prompt")
    if prompt == "":
        raise _Problem("the prompt is empty: say what to render, e.g. a fox in snow")
    return prompt


def _text(given: Given, key: str) -> str | None:
    if key not in given:
        return None
    name, value = given[key]
    if not isinstance(value, str):
        raise _Problem(f"{name} must be text, got {_kind(value)}")
    return value.strip()


def _refs(given: Given, *, split: bool) -> tuple[str, ...]:
    if "refs" not in given:
        return ()
    name, value = given["refs"]
    if isinstance(value, str):
        # In a CSV cell several references share the cell; in JSON a list says so unambiguously
        # (and a data: URL holds a ";" that must not be split).
        items = value.replace("|", ";").split(";") if split else [value]
    elif isinstance(value, list):
        items = value
    else:
        raise _Problem(f"{name} must be a path, URL or job reference, or a list of them")
    refs = tuple(_ref(name, item) for item in items if not _blank(item))
    if len(refs) > contract.MAX_REFERENCE_IMAGES:
        message = contract.MSG_TOO_MANY_REFERENCES.format(n=len(refs))
        raise _Problem(f"{message} Keep at most 14 in {name}.")
    return refs


def _ref(name: str, item: Any) -> str:
    if not isinstance(item, str):
        raise _Problem(f"{name} must list paths, URLs or job references, got {_kind(item)}")
    return item.strip()


def _keyframes(given: Given, *, split: bool) -> tuple[tuple[str, float], ...]:
    """A list of {"image": ..., "at": SECONDS} (or "IMAGE@SECONDS" texts; ";" between them in CSV)."""
    if "keyframes" not in given:
        return ()
    name, value = given["keyframes"]
    items = value.split(";") if isinstance(value, str) and split else value
    if isinstance(items, str | dict):
        items = [items]
    if not isinstance(items, list):
        raise _Problem(f'{name} must be a list like [{{"image": "fox.png", "at": 2.5}}]')
    try:
        return tuple(_keyframe(name, item) for item in items if not _blank(item))
    except UsageError as error:
        raise _Problem(str(error)) from None


def _keyframe(name: str, item: Any) -> tuple[str, float]:
    if isinstance(item, str):
        return split_keyframe(item.strip(), flag=name)
    if not isinstance(item, dict) or set(item) != {"image", "at"}:
        raise _Problem(f'each of {name} must be {{"image": PATH|URL|JOB, "at": SECONDS}}')
    if not isinstance(item["image"], str) or not item["image"].strip():
        raise _Problem(f"{name}: image must be a path, URL or job reference")
    return item["image"].strip(), keyframe_time(item["at"], flag=f"{name} at")


def _voices(given: Given, *, split: bool) -> tuple[str, ...]:
    if "voices" not in given:
        return ()
    name, value = given["voices"]
    items = value.split(";") if isinstance(value, str) and split else value
    items = [items] if isinstance(items, str) else items
    if not isinstance(items, list):
        raise _Problem(f'{name} must be a voice id or a list of them, like ["ara"]')
    try:
        return tuple(voice_id(item, flag=name) for item in items if not _blank(item))
    except UsageError as error:
        raise _Problem(str(error)) from None


def _store(given: Given) -> StoreOptions | None:
    """true, or a table {public = true, expires = "7d"}."""
    if "store" not in given:
        return None
    name, value = given["store"]
    if isinstance(value, dict):
        unknown = set(value) - {"public", "expires"}
        if unknown:
            raise _Problem(f"{name} takes public and expires, not {', '.join(sorted(unknown))}")
        public = value.get("public", False)
        if not isinstance(public, bool):
            raise _Problem(f"{name}.public must be true or false")
        expires = value.get("expires")
        try:
            return storage.options(True, public, None if expires is None else str(expires))
        except UsageError as error:
            raise _Problem(str(error).replace("--store-expires", f"{name}.expires")) from None
    return StoreOptions() if _flag(given, "store") else None


def _blank(value: Any) -> bool:
    return isinstance(value, str) and not value.strip()


def _setting(given: Given, key: str, line: int) -> Any:
    """A value checked exactly as config files and flags are checked."""
    if key not in given:
        return None
    try:
        return config.parse_value(key, given[key][1], source=f"line {line}")
    except ConfigError as error:
        # The line number is the BatchProblem's own field; the CLI prints FILE:LINE: message.
        message = str(error).removesuffix(f" ({key} in line {line})")
        raise _Problem(message if key in message else f"{key}: {message}") from None


def _vars(given: Given) -> tuple[tuple[str, str], ...]:
    """A template's field values: an object in JSON, ``key=value;key=value`` in a CSV cell."""
    if "vars" not in given:
        return ()
    name, value = given["vars"]
    items: Mapping[Any, Any]
    if isinstance(value, str):
        pairs = [item.partition("=") for item in value.split(";") if item.strip()]
        if any(not sep for _, sep, _ in pairs):
            raise _Problem(f"{name} must be written key=value;key=value, got {_shown(value)}")
        items = {key.strip(): text.strip() for key, _, text in pairs}
    elif isinstance(value, dict):
        items = value
    else:
        raise _Problem(f'{name} must be an object like {{"style": "noir"}}, got {_kind(value)}')
    found = []
    for key, text in items.items():
        if not key.isidentifier() or key == "prompt":
            raise _Problem(f"{name}: {_shown(key)} is not a field name (prompt is its own field)")
        if not isinstance(text, str | int | float) or isinstance(text, bool):
            raise _Problem(f"{name}: {key} must be text, got {_kind(text)}")
        found.append((key, str(text)))
    return tuple(found)


def _audio(given: Given) -> bool | None:
    if "no_audio" in given:
        no_audio = _flag(given, "no_audio")
        return None if no_audio is None else not no_audio
    return _flag(given, "audio")


def _flag(given: Given, key: str) -> bool | None:
    if key not in given:
        return None
    name, value = given[key]
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, str | int) else ""
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise _Problem(f"{name} must be true or false (or yes/no, 1/0), got {_shown(value)}")


def _variations(given: Given) -> int:
    if "n" not in given:
        return 1
    name, value = given["n"]
    number = _whole(value)
    if number is None or not 1 <= number <= MAX_VARIATIONS:
        raise _Problem(
            f"{name} must be a whole number from 1 to {MAX_VARIATIONS}, got {_shown(value)}"
        )
    return number


def _whole(value: Any) -> int | None:
    """An int, or text of digits; never a bool or a float (2.5 takes is no number of takes)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = value.strip() if isinstance(value, str) else ""
    return int(text) if text.isdecimal() and len(text) <= MAX_DIGITS else None


# A line's own names for the fields an edit or extension keeps from its input (spec.KEEPS is the
# rule; a batch line also takes no images with a video).
_LINE_KEYS = {"duration": "duration", "aspect_ratio": "aspect", "resolution": "resolution"}
_NOT_FOR = {
    LineMode.GEN: (("video",), "set mode to edit or extend to change a video"),
    LineMode.EDIT: (
        (*(_LINE_KEYS[kept] for kept, _, _ in KEEPS[Mode.EDIT]), "image", "refs"),
        "an edit keeps the input video's length, aspect and resolution and takes no images",
    ),
    LineMode.EXTEND: (
        (*(_LINE_KEYS[kept] for kept, _, _ in KEEPS[Mode.EXTEND]), "image", "refs"),
        "an extension keeps the input video's aspect and resolution and takes no images",
    ),
}


def _check_mode(entry: BatchEntry, given: Given) -> None:
    keys, why = _NOT_FOR[entry.mode]
    extra = [given[key][0] for key in keys if key in given]
    if extra:
        raise _Problem(f"{', '.join(extra)} cannot be used with mode {entry.mode}: {why}")
    if entry.mode == LineMode.GEN and entry.prompt is None and not (entry.image or entry.template):
        raise _Problem("the prompt is missing: say what to render (or give an image to animate)")
    if entry.mode != LineMode.GEN and entry.video is None:
        raise _Problem(f"mode {entry.mode} needs a video: a path or a job reference like @last")
    if entry.mode != LineMode.GEN and entry.prompt is None:
        wanted = "what should change" if entry.mode == LineMode.EDIT else "what happens next"
        raise _Problem(f"mode {entry.mode} needs a prompt: say {wanted}")


def _shown(value: Any, limit: int = 40) -> str:
    """A value as a message quotes it, cut short: a line may hold megabytes."""
    text = (
        repr(value)
        if isinstance(value, str | int | float | bool) or value is None
        else _kind(value)
    )
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number" if isinstance(value, int | float) else "a value")


_PARSERS: dict[str, Callable[[str], Iterator[Result]]] = {
    "txt": _parse_txt,
    "jsonl": _parse_jsonl,
    "csv": _parse_csv,
}
