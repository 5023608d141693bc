"""The two consoles: stdout for results (data), stderr for progress, messages and errors.

Built once per process and passed around; user text is always printed with markup off.
"""

from __future__ import annotations

import json
import os
import sys
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagine import clock
from imagine.printable import printable

if TYPE_CHECKING:
    from rich.console import Console

    from imagine.observability.logfile import LogFile


def _no_color() -> bool:
    return bool(os.environ.get("NO_COLOR"))


def _console(**kw: Any) -> Console:
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # Rich would exit 1 here; what a closed stdout means is decided once, in cli.app.
            raise BrokenPipeError

    return _Console(no_color=_no_color(), highlight=False, soft_wrap=True, **kw)


@cache
def out() -> Console:
    # No file given: Rich then writes to whatever sys.stdout is at the time of each print.
    return _console()


@cache
def err() -> Console:
    return _console(stderr=True)


def stdout_closed() -> None:
    """Point stdout at /dev/null: the reader is gone, and the interpreter's last flush would
    otherwise complain about it on stderr."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):  # not a real file (tests run the CLI in-process)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


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


# Messages may quote a server or a file: shown without control characters, and bounded.
SHOWN = 2000
_events = False  # `--progress json`: every line on stderr is one JSON object
_started = 0.0  # when the command began, for each event's "elapsed"
EVENT_SCHEMA = (
    1  # of `--progress json` (README, "Progress events"): bumped only by a breaking change
)


def events_on_stderr(on: bool) -> None:
    """With ``--progress json`` the messages below are events too (note, warning, error), so a
    program reading stderr as NDJSON never meets a line of prose."""
    global _events, _started
    _events = on
    _started = clock.now()


def event(kind: str, text: str | None = None, **fields: Any) -> None:
    """One NDJSON event on stderr: its kind, schema version, time and seconds since the command
    began, then its message and fields (none of them None)."""
    sys.stderr.write(json.dumps(event_record(kind, text, **fields), ensure_ascii=False) + "\n")
    sys.stderr.flush()


def event_record(kind: str, text: str | None = None, **fields: Any) -> dict[str, Any]:
    now = clock.now()
    record: dict[str, Any] = {
        "event": kind,
        "v": EVENT_SCHEMA,
        "time": clock.iso(now),
        "elapsed": round(now - _started, 3),
    }
    if text:
        record["message"] = text
    record.update((key, value) for key, value in fields.items() if value is not None)
    return record


_log: LogFile | None = None  # --log-file / IMAGINE_LOG


def log_to(log: LogFile | None) -> None:
    global _log
    if _log is not None and _log is not log:
        _log.close()
    _log = log


def logging() -> bool:
    return _log is not None


def log_event(kind: str, text: str | None = None, **fields: Any) -> None:
    """The event, as ``event`` would print it, appended to the log file (if there is one)."""
    if _log is not None:
        _log.write(event_record(kind, text, **fields))


def message(text: str, style: str | None = None) -> None:
    if _events:
        event("note", text)
        return
    text = printable(text, SHOWN, lines=True)
    if style is None:  # plain text needs no Rich (which `imagine list` would load for one line)
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
        return
    err().print(text, style=style, markup=False, highlight=False)


def warn(text: str) -> None:
    log_event("warning", text)
    if _events:
        event("warning", text)
        return
    err().print(f"warning: {printable(text, SHOWN)}", style="yellow", markup=False, highlight=False)


def error(text: str) -> None:
    log_event("error", text)
    if _events:
        event("error", text)
        return
    err().print(f"error: {printable(text, SHOWN)}", style="bold red", markup=False, highlight=False)


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def confirm(question: str) -> bool:
    """A yes/no on stderr, no by default. Ctrl-C or end of input at the question is an
    interruption (exit 130, like Ctrl-C anywhere else), not a failure."""
    import typer

    try:
        return typer.confirm(question, default=False, err=True)
    except typer.Abort:
        raise KeyboardInterrupt from None


def ask_secret(question: str) -> str:
    """A value typed without echo; Ctrl-C or end of input is an interruption (exit 130)."""
    import typer

    try:
        answer: str = typer.prompt(question, hide_input=True, err=True)
    except typer.Abort:
        raise KeyboardInterrupt from None
    return answer


def shown_path(path: str) -> str:
    """Paths relative to the current folder when inside it, else absolute."""
    try:
        return os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd()) else path
    except ValueError:
        return path
