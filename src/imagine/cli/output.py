"""The two consoles: stdout for results (data), stderr for progress, messages and errors.

Built once per process and passed around; user text is always printed with markup off.
"""

from __future__ import annotations

import json
import os
import sys
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def _no_color() -> bool:
    return bool(os.environ.get("NO_COLOR"))


@cache
def out() -> Console:
    from rich.console import Console

    # No file given: Rich then writes to whatever sys.stdout is at the time of each print.
    return Console(no_color=_no_color(), highlight=False, soft_wrap=True)


@cache
def err() -> Console:
    from rich.console import Console

    return Console(stderr=True, no_color=_no_color(), highlight=False, soft_wrap=True)


def data(text: str) -> None:
    """One line of result on stdout, exactly as given."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def json_line(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def json_pretty(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


_events = False  # `--progress json`: every line on stderr is one JSON object


def events_on_stderr(on: bool) -> None:
    """With ``--progress json`` the messages below are events too (note, warning, error), so a
    program reading stderr as NDJSON never meets a line of prose."""
    global _events
    _events = on


def event(kind: str, text: str) -> None:
    sys.stderr.write(json.dumps({"event": kind, "message": text}, ensure_ascii=False) + "\n")
    sys.stderr.flush()


def message(text: str, style: str | None = None) -> None:
    if _events:
        event("note", text)
        return
    if style is None:  # plain text needs no Rich (which `imagine list` would load for one line)
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
        return
    err().print(text, style=style, markup=False, highlight=False)


def warn(text: str) -> None:
    if _events:
        event("warning", text)
        return
    err().print(f"warning: {text}", style="yellow", markup=False, highlight=False)


def error(text: str) -> None:
    if _events:
        event("error", text)
        return
    err().print(f"error: {text}", style="bold red", markup=False, highlight=False)


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()
