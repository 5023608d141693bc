"""Progress displays: Rich bars on a terminal, one plain line per event otherwise, nothing with -q."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from imagine.engine.events import FINAL_KINDS, NOTE_KINDS, Update

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

MANY = 8  # above this many jobs, finished bars make way for running ones


class Display(Protocol):
    def __enter__(self) -> Display: ...
    def __exit__(self, *exc: object) -> None: ...
    def __call__(self, update: Update) -> None: ...
    def note(self, text: str) -> None: ...


class NullDisplay:
    def __enter__(self) -> NullDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __call__(self, update: Update) -> None:
        return None

    def note(self, text: str) -> None:
        return None


class PlainDisplay(NullDisplay):
    """For pipes and CI logs: a line when something happens, progress at quarter marks only."""

    def __init__(self, labels: Mapping[str, str]) -> None:
        self.labels = labels
        self._marks: dict[str, int] = {}

    def __call__(self, update: Update) -> None:
        if update.kind == "note":
            self.note(update.message or "")
            return
        text = self._describe(update)
        if text:
            self.note(f"{update.label} {text}")

    def _describe(self, update: Update) -> str | None:
        kind = update.kind
        if kind == "submitted":
            return f"submitted: {self.labels.get(update.job_id, '')}".rstrip(": ")
        if kind == "progress" and update.progress is not None:
            mark = int(update.progress // 25) * 25
            if mark > self._marks.get(update.job_id, 0):
                self._marks[update.job_id] = mark
                return f"rendering {int(update.progress)}%"
            return None
        if kind == "rendered":
            return "rendered; downloading"
        if kind in FINAL_KINDS or kind in NOTE_KINDS:
            return f"{kind}: {update.message}" if update.message else kind
        return None

    def note(self, text: str) -> None:
        sys.stderr.write(f"imagine: {text}\n")
        sys.stderr.flush()


class JsonDisplay(NullDisplay):
    """Progress events as NDJSON on stderr, for programs that watch a run."""

    def __call__(self, update: Update) -> None:
        if update.kind == "downloading":
            return
        event: dict[str, Any] = {
            "event": update.kind,
            "job": update.job_id,
            "number": update.number,
            "status": update.status,
        }
        if update.progress is not None:
            event["progress"] = update.progress
        if update.message:
            event["message"] = update.message
        sys.stderr.write(json.dumps(event) + "\n")
        sys.stderr.flush()

    def note(self, text: str) -> None:
        from imagine.cli.output import event

        event("note", text)


class RichDisplay:
    """A bar per running job, plus one overall bar when there are several."""

    def __init__(self, labels: Mapping[str, str]) -> None:
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        from imagine.cli.output import err

        self.labels = labels
        self.progress: Progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(bar_width=28),
            TaskProgressColumn(),
            TextColumn("{task.fields[state]}", markup=False),
            TimeElapsedColumn(),
            console=err(),
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}
        self.overall: TaskID | None = None
        self.finished = 0

    def __enter__(self) -> RichDisplay:
        self.progress.start()
        if len(self.labels) > 1:
            self.overall = self.progress.add_task(
                f"{len(self.labels)} jobs", total=len(self.labels), state="", start=True
            )
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def _task(self, update: Update) -> TaskID:
        if update.job_id not in self.tasks:
            label = f"{update.label} {self.labels.get(update.job_id, '')}"
            short = label if len(label) <= 36 else label[:35] + "…"
            self.tasks[update.job_id] = self.progress.add_task(short, total=100, state="queued")
        return self.tasks[update.job_id]

    def __call__(self, update: Update) -> None:
        if update.kind == "note":
            self.note(update.message or "")
            return
        task = self._task(update)
        if update.kind == "downloading":
            have, total = update.data.get("bytes"), update.data.get("total")
            state = f"downloading {_mb(have)}" + (f"/{_mb(total)}" if total else "")
            self.progress.update(task, state=state)
            return
        fields: dict[str, Any] = {"state": _state(update)}
        if update.progress is not None:
            fields["completed"] = update.progress
        self.progress.update(task, **fields)
        if update.kind in FINAL_KINDS:
            self._finish(update, task)

    def _finish(self, update: Update, task: TaskID) -> None:
        self.progress.stop_task(task)
        self.finished += 1
        if self.overall is not None:
            self.progress.update(self.overall, completed=self.finished)
        if len(self.labels) > MANY and update.kind == "complete":
            self.progress.remove_task(task)

    def note(self, text: str) -> None:
        self.progress.console.print(text, markup=False, highlight=False)


def _state(update: Update) -> str:
    if update.kind in ("progress", "submitted"):
        return "rendering"
    if update.kind == "rendered":
        return "downloading"
    if update.kind in FINAL_KINDS:
        return update.kind if not update.message else f"{update.kind}: {update.message}"[:60]
    if update.kind in NOTE_KINDS:
        return f"{update.kind}: {update.message or ''}"[:60]
    return update.kind


def _mb(value: Any) -> str:
    return f"{(value or 0) / 1_000_000:.1f} MB"


def make_display(labels: Mapping[str, str], *, quiet: bool, progress: str | None = None) -> Display:
    from imagine.cli.output import stderr_is_terminal

    if progress == "json":
        return JsonDisplay()
    if quiet or progress == "none":
        return NullDisplay()
    if progress == "plain" or not stderr_is_terminal():
        return PlainDisplay(labels)
    return RichDisplay(labels)
