"""The live view on a terminal: how far, how long and how much, redrawn several times a second.

```
3/8 done ━━━━━━━━━╺━━━━━━━━━━  47% ETA 0:42 · $0.80 spent · ~$1.20 to go
  #4 a red fox in the snow ━━━━━━━╺━━━━  62% rendering    0:12 ETA 0:08
  #5 a city at night       ━━╺━━━━━━━━━  18% submitting   0:01 ETA 0:20
     +3 queued
```
Finished jobs are printed once above it, one line each; the view itself goes when the run ends.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from imagine import clock
from imagine.cli import output
from imagine.cli.display import NullDisplay, clock_time, finished_line, summary_line
from imagine.cli.tracking import FINAL_KINDS, Entry, RunState, Summary, Track
from imagine.engine.events import Update
from imagine.money.pricing import format_usd

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.table import Table

STATE_WIDTH = 11  # "downloading": the state column never changes width
RETRY_SHOWN = 4.0  # seconds a client's retry stays under the view


class LiveDisplay(NullDisplay):
    def __init__(self, state: RunState) -> None:
        from rich.live import Live

        super().__init__(state)
        self.console = output.err()
        self.shows_results = output.stdout_is_terminal()
        self._lock = threading.Lock()
        self._retry: tuple[str, float] | None = None
        self._lines = 0  # finished jobs printed above the view
        self.live = Live(
            console=self.console,
            get_renderable=self._render,
            refresh_per_second=8,
            transient=True,
            # Results printed on this same terminal go above the view; into a pipe, untouched.
            redirect_stdout=self.shows_results,
            redirect_stderr=False,
        )

    def __enter__(self) -> LiveDisplay:
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.stop()

    def __call__(self, update: Update) -> None:
        now = clock.now()
        if not update.job_id:
            if update.kind == "retry" and update.message:
                self._retry = (update.message, now + RETRY_SHOWN)
            elif update.message:
                self.note(update.message)
            return
        with self._lock:
            track = self.state.apply(update, now)
        if track is not None and update.kind in FINAL_KINDS:
            self._finished(track, update)

    def add(self, entries: Iterable[Entry]) -> None:
        entries = list(entries)  # (read outside the lock: the view is redrawn meanwhile)
        with self._lock:
            self.state.add(entries)

    def _finished(self, track: Track, update: Update) -> None:
        line = finished_line(track, update, self.console.width)
        output.message(line, style="green" if update.kind == "complete" else "red")
        self._lines += 1

    def note(self, text: str) -> None:
        output.message(text)  # (on the view's console: printed above the view)

    def close(self, summary: Summary) -> None:
        unsuccessful = [
            t
            for t in self.state.tracks.values()
            if t.final and t.final not in ("complete", "reused")
        ]
        if unsuccessful and self._lines + 1 > self.console.height:  # (and the summary line)
            # Their lines have scrolled away among the others: here they are together.
            self.console.print(_table_of(unsuccessful, self.console.width))
        self.note(summary_line(summary))

    # -- drawing -------------------------------------------------------------------------------

    def _render(self) -> RenderableType:
        from rich.console import Group

        now = clock.now()
        width = self.console.width
        with self._lock:
            parts: list[RenderableType] = []
            if len(self.state.tracks) > 1:
                parts.append(self._overall(now, width))
            parts.append(self._rows(now, width))
        if self._retry is not None and now < self._retry[1]:
            parts.append(_one_line(f"retrying: {self._retry[0]}", "yellow"))
        return Group(*parts)

    def _overall(self, now: float, width: int) -> Table:
        from rich.progress_bar import ProgressBar

        total = self.state.overall(now)
        # "+": a batch still being read, whose total is not known yet.
        done = f"{total.done}/{total.total}{'+' if self.state.more_coming else ''} done"
        eta = "ETA ?" if total.eta is None else f"ETA {clock_time(total.eta)}"
        spent, to_spend = format_usd(total.spent_usd), format_usd(total.to_spend_usd)
        says = f"{eta} · {spent} {'simulated' if self.state.simulated else 'spent'}" + (
            f" · ~{to_spend} to go" if total.to_spend_usd else ""
        )
        if len(says) > width - len(done) - _bar_width(width) - 8:  # narrow: the same, shorter
            says = f"{eta} · {spent} of ~{format_usd(total.spent_usd + total.to_spend_usd)}"
        grid = _grid()
        grid.add_column(no_wrap=True)
        grid.add_column(width=_bar_width(width), no_wrap=True)
        grid.add_column(width=4, justify="right", no_wrap=True)
        grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        grid.add_row(
            done,
            ProgressBar(total=100, completed=total.percent, width=_bar_width(width)),
            f"{total.percent:.0f}%",
            says,
        )
        return grid

    def _rows(self, now: float, width: int) -> RenderableType:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.text import Text

        grid = _grid()
        grid.add_column(justify="right", no_wrap=True, min_width=4)
        grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis", min_width=6)
        grid.add_column(width=_bar_width(width), no_wrap=True)
        grid.add_column(width=4, justify="right", no_wrap=True)
        grid.add_column(width=STATE_WIDTH, no_wrap=True, overflow="crop")
        grid.add_column(width=5, justify="right", no_wrap=True)
        grid.add_column(width=8, justify="right", no_wrap=True)
        active = self.state.active()
        room = max(1, self.console.height - 4)  # the overall line, the queue, a retry, a spare
        for track in active[:room]:
            percent = self.state.percent(track, now)
            grid.add_row(
                f"#{track.entry.number}",
                Text(" ".join(track.entry.subject.split())),  # a prompt is not markup
                ProgressBar(total=100, completed=percent, width=_bar_width(width)),
                f"{percent:.0f}%",
                track.state,
                clock_time(now - track.started) if track.started is not None else "",
                self._eta(track, now),
            )
        rest = [f"+{len(active) - room} more in flight"] if len(active) > room else []
        queued = len(self.state.queued())
        if queued:
            rest.append(f"+{queued} queued")
        if not rest:
            return grid
        return Group(grid, _one_line("     " + ", ".join(rest), "dim"))

    def _eta(self, track: Track, now: float) -> str:
        if track.state == "downloading":
            return ""
        left = self.state.remaining(track, now)
        if left is None:
            return "ETA ?"
        if left <= 0 and track.started is not None:
            return "ETA soon"
        return f"ETA {clock_time(left)}"


def _table_of(tracks: list[Track], width: int) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="bold", width=width - 1)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("ended", no_wrap=True)
    table.add_column("why", ratio=1, no_wrap=True, overflow="ellipsis")
    for track in sorted(tracks, key=lambda t: t.entry.number):
        table.add_row(f"#{track.entry.number}", track.final, Text(track.reason or ""), style="red")
    return table


def _grid() -> Table:
    from rich.table import Table

    return Table.grid(padding=(0, 1), expand=True)


def _bar_width(width: int) -> int:
    """The bars give way on a narrow terminal, the prompt keeps some room."""
    return max(8, min(30, (width - 40) // 2))


def _one_line(text: str, style: str) -> RenderableType:
    from rich.text import Text

    return Text(text, style=style, no_wrap=True, overflow="ellipsis")
