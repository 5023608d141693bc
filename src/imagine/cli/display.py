"""Progress displays: a live view on a terminal (live.py), one plain line per event otherwise,
NDJSON events with ``--progress json``, nothing with -q.

Every display folds the engine's events into one ``RunState``, so each tells the same story: a job
says its last word once, whatever arrives after it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from imagine import clock
from imagine.cli import output
from imagine.cli.tracking import FINAL_KINDS, Entry, RunState, Summary, Track, ordered_counts
from imagine.engine.events import Update
from imagine.money.pricing import format_usd

SUBJECT_WIDTH = 60  # of a prompt quoted in a plain line


class Display(Protocol):
    state: RunState
    shows_results: bool  # each finished job's path is already on the terminal stdout also is

    def __enter__(self) -> Display: ...
    def __exit__(self, *exc: object) -> None: ...
    def __call__(self, update: Update) -> None: ...
    def add(self, entries: Iterable[Entry]) -> None: ...
    def growing(self, more: bool) -> None: ...
    def note(self, text: str) -> None: ...
    def close(self, summary: Summary) -> None: ...


class NullDisplay:
    shows_results = False

    def __init__(self, state: RunState) -> None:
        self.state = state

    def __enter__(self) -> NullDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __call__(self, update: Update) -> None:
        self.state.apply(update, clock.now())

    def add(self, entries: Iterable[Entry]) -> None:
        """Jobs recorded after the run began (a long batch streams): the total grows."""
        self.state.add(entries)

    def growing(self, more: bool) -> None:
        """Whether more jobs may still be added (the file is still being read)."""
        self.state.more_coming = more

    def note(self, text: str) -> None:
        return None

    def close(self, summary: Summary) -> None:
        return None


class PlainDisplay(NullDisplay):
    """For pipes and CI logs: one line when something happens (progress at quarter marks only),
    a job's last word once, a client's retries of the same error once."""

    def __init__(self, state: RunState) -> None:
        super().__init__(state)
        self._marks: dict[str, int] = {}
        self._retrying: set[str] = set()

    def __call__(self, update: Update) -> None:
        if not update.job_id:
            self._of_run(update)
            return
        track = self.state.apply(update, clock.now())
        if track is not None:
            text = self._describe(update, track)
            if text:
                self.note(text)

    def _of_run(self, update: Update) -> None:
        text = update.message or ""
        if update.kind == "retry":
            # The same error retried again says nothing new; a different one does.
            key = str(update.data.get("error", text))
            if key in self._retrying:
                return
            self._retrying.add(key)
        if text:
            self.note(text)

    def _describe(self, update: Update, track: Track) -> str | None:
        kind, head = update.kind, f"#{track.entry.number}"
        if kind in FINAL_KINDS:
            return finished_line(track, update)
        if kind == "submitted":
            return f"{head} submitted: {_clip(track.entry.subject, SUBJECT_WIDTH)}"
        if kind == "progress" and update.progress is not None:
            mark = int(update.progress // 25) * 25
            if mark > self._marks.get(update.job_id, 0):
                self._marks[update.job_id] = mark
                return f"{head} rendering {int(update.progress)}%"
            return None
        if kind == "rendered":
            return f"{head} rendered, downloading"
        if kind in ("stalled", "retry", "held", "warning"):
            word = "retrying" if kind == "retry" else kind
            return f"{head} {word}: {update.message}" if update.message else f"{head} {word}"
        return None

    def note(self, text: str) -> None:
        output.message(text)  # one funnel for prose on stderr: what it does to a line, these get

    def close(self, summary: Summary) -> None:
        self.note(summary_line(summary))


class JsonDisplay(NullDisplay):
    """Progress as NDJSON on stderr (README, "Progress events"), for programs that watch a run;
    with another ``emit``, the same records into the log file."""

    def __init__(self, state: RunState, emit: Callable[..., None] = output.event) -> None:
        super().__init__(state)
        self.emit = emit

    def __call__(self, update: Update) -> None:
        if not update.job_id:
            self._of_run(update)
            return
        if update.kind == "downloading":  # many a second: the bar's business, not a log's
            self.state.apply(update, clock.now())
            return
        track = self.state.apply(update, clock.now())
        if track is None:
            return
        fields: dict[str, Any] = {
            "job": update.job_id,
            "number": track.entry.number,
            "status": update.status,
        }
        if update.progress is not None:
            fields["progress"] = update.progress
        if update.kind == "complete":
            fields.update({key: update.data.get(key) for key in COMPLETE_FIELDS})
        if update.kind in FINAL_KINDS:
            fields.update({key: update.data.get(key) for key in FACT_FIELDS})
        self.emit(update.kind, update.message, **fields)

    def _of_run(self, update: Update) -> None:
        self.emit(update.kind, update.message, **update.data)

    def note(self, text: str) -> None:
        self.emit("note", text)

    def close(self, summary: Summary) -> None:
        self.emit(
            "summary",
            None,
            jobs=summary.total,
            counts=dict(ordered_counts(summary.counts)),
            spent_usd=round(summary.spent_usd, 4),
            simulated=summary.simulated,
            wall_seconds=round(summary.wall_seconds, 3),
        )


# What a `complete` event carries besides the job: its file and what it cost.
COMPLETE_FIELDS = ("path", "bytes", "seconds", "cost_usd", "cost_estimated")
# What every last word of a job carries: its shape, its timings and the provider's error code.
FACT_FIELDS = (
    "model",
    "mode",
    "resolution",
    "polls",
    "queued_ms",
    "render_ms",
    "total_ms",
    "error_code",
)


class LoggedDisplay:
    """A display that also writes every event to the log file (``--log-file``), as
    ``--progress json`` would print it, whatever the display shows."""

    def __init__(self, shown: Display, log: JsonDisplay) -> None:
        self.shown = shown
        self.log = log
        self.state = shown.state
        self.shows_results = shown.shows_results

    def __enter__(self) -> Display:
        self.shown.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shown.__exit__(*exc)

    def __call__(self, update: Update) -> None:
        self.log(update)
        self.shown(update)

    def add(self, entries: Iterable[Entry]) -> None:
        entries = list(entries)  # (each display has its own state)
        self.log.add(entries)
        self.shown.add(entries)

    def growing(self, more: bool) -> None:
        self.log.growing(more)
        self.shown.growing(more)

    def note(self, text: str) -> None:
        self.log.note(text)
        self.shown.note(text)

    def close(self, summary: Summary) -> None:
        self.log.close(summary)
        self.shown.close(summary)


def finished_line(track: Track, update: Update, width: int | None = None) -> str:
    """A finished job in one line: ``✓ #3 path · 8.0 s · 1.2 MB · $0.40``, its path shortened
    from the left to fit ``width``; or ``✗ #3 failed: why`` (``as #2`` when #2 said why)."""
    head = f"#{track.entry.number}"
    if update.kind != "complete":
        text = f"as #{track.same_as}" if track.same_as is not None else update.message
        return f"✗ {head} {update.kind}" + (f": {text}" if text else "")
    data = update.data
    tail = [
        f"{data['seconds']:.1f} s" if data.get("seconds") else None,
        _size(data.get("bytes")),
        _cost(data.get("cost_usd"), bool(data.get("cost_estimated"))),
    ]
    path = str(data.get("shown") or data.get("path") or "")
    return fit(f"✓ {head} ", path, "".join(f" · {t}" for t in tail if t), width)


def fit(head: str, path: str, tail: str, width: int | None) -> str:
    """``head + path + tail`` in ``width`` characters: the path gives way first (from its left,
    where the folders are), then the tail's end."""
    line = head + path + tail
    if width is None or len(line) <= width:
        return line
    room = width - len(head) - len(tail)
    if room >= 8:
        return head + "…" + path[-(room - 1) :] + tail
    return line[: width - 1] + "…"


def summary_line(summary: Summary) -> str:
    counts = ordered_counts(summary.counts)
    if summary.total == 1:
        tally = f"1 job {counts[0][0]}"
    else:
        tally = f"{summary.total} jobs: " + ", ".join(f"{n} {word}" for word, n in counts)
    spent = format_usd(summary.spent_usd)
    if summary.simulated:
        return f"{tally} · simulated, nothing paid (would have cost {spent}) · {clock_time(summary.wall_seconds)}"
    return f"{tally} · spent {spent} · {clock_time(summary.wall_seconds)}"


def clock_time(seconds: float) -> str:
    """``0:07``, ``12:30``, ``1:02:03``."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _size(value: Any) -> str | None:
    if not value:
        return None
    size = float(value)
    for unit in ("B", "KB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def _cost(usd: Any, estimated: bool) -> str | None:
    if usd is None:
        return None
    return ("~" if estimated else "") + format_usd(float(usd))


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
