"""What a run's display knows of its jobs: where each stands, how far it looks, what it costs.

Pure bookkeeping over the engine's events and a clock passed in, so that every display (live bars,
plain lines, JSON) tells the same story and the rules can be tested from a table.
"""

from __future__ import annotations

import heapq
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

from imagine.engine.events import Update

FINAL_KINDS = frozenset({"complete", "failed", "blocked", "expired", "unknown", "canceled"})
# Between polls a bar moves on towards the expected finish, but stops here: past it only the
# provider's own word (or the end of the render) moves it.
SMOOTH_CAP = 95.0
STATES = {
    "submitting": "submitting",
    "submitted": "rendering",
    "progress": "rendering",
    "rendered": "downloading",
    "downloading": "downloading",
    "stalled": "stalled",
    "retry": "retrying",
    "held": "held",
}


@dataclass(frozen=True, slots=True)  # (one per job of a run: no __dict__ each)
class Entry:
    """A job as the run starts it: enough to show, time and price it before any event."""

    job_id: str
    number: int
    subject: str
    estimate_usd: float | None = None
    expected: float | None = None  # render seconds learned from earlier renders of its shape
    state: str = "queued"
    progress: float = 0.0
    started: float | None = None  # when the provider took it (a resumed job: in the past)
    reported_at: float | None = None  # when ``progress`` was last heard
    shape: str = ""  # jobs of one shape (model, resolution, length) take about as long
    settled: bool = False  # final before the run (``state`` says how: reused, complete, …)


@dataclass(slots=True)  # (one per job of a run)
class Track:
    entry: Entry
    state: str = "queued"
    started: float | None = None
    reported: float = 0.0
    reported_at: float | None = None
    floor: float = 0.0  # the most this job has shown: a bar never goes back
    anchor: float = 0.0  # what it showed when the provider last spoke: the smooth line starts here
    final: str | None = None
    cost_usd: float | None = None
    same_as: int | None = None  # the job that ended first for this very reason: said there
    reason: str | None = None  # why it ended without a video


@dataclass(frozen=True)
class Overall:
    done: int
    total: int
    percent: float
    spent_usd: float
    to_spend_usd: float
    eta: float | None


@dataclass(frozen=True)
class Summary:
    """The closing line: how many ended how, what this run spent, how long it took."""

    counts: dict[str, int]
    spent_usd: float
    wall_seconds: float
    simulated: bool = False  # --sim: the prices are what it would have cost; nothing was paid
    total: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "total", sum(self.counts.values()))


def smoothed(shown: float, since: float, finish: float | None, now: float) -> float:
    """Where a rendering job's bar stands at ``now``, given that it stood at ``shown`` at
    ``since`` (the last poll) and should be done at ``finish``: on along a straight line towards
    the finish, stopping at ``SMOOTH_CAP``; where nothing says when it ends, it waits."""
    if finish is None or finish <= since or shown >= SMOOTH_CAP:
        return shown
    share = min(1.0, max(0.0, (now - since) / (finish - since)))
    return shown + (SMOOTH_CAP - shown) * share


def expected_finish(
    reported: float, reported_at: float, started: float, expected: float | None
) -> float | None:
    """When the render should be done: ``expected`` seconds after it started when the ledger
    has learned that, else where the provider's reported pace leads."""
    if expected is not None:
        return started + expected
    if reported > 0 and reported_at > started:
        return started + (reported_at - started) * 100.0 / reported
    return None


class RunState:
    """Every job of a run, folded from its events."""

    def __init__(
        self, entries: Iterable[Entry], *, concurrency: int = 4, rps: float = 1.0, now: float = 0.0
    ) -> None:
        self.tracks: dict[str, Track] = {}
        self.add(entries)
        self.more_coming = False  # a batch still being read: the total is not final yet
        self.simulated = False
        self.concurrency = max(1, concurrency)
        self.rps = rps if rps > 0 else 1.0
        self.began = now
        self.learned: dict[str, list[float]] = {}  # render seconds seen this run, by shape
        self.reasons: dict[str, int] = {}  # why jobs ended badly, and the first job it ended

    def add(self, entries: Iterable[Entry]) -> None:
        """Jobs joining the run (the first ones, or a streamed batch's later chunks); a job
        already here keeps its track."""
        for entry in entries:
            if entry.job_id in self.tracks:
                continue
            track = Track(entry, entry.state, entry.started, entry.progress, entry.reported_at)
            track.floor = track.anchor = entry.progress
            if entry.settled:
                track.final = entry.state
            self.tracks[entry.job_id] = track

    def apply(self, update: Update, now: float) -> Track | None:
        """Fold one event in; the job's track when the event is news, None when it is not (an
        event of a job that has already said its last word, or of no job of this run)."""
        track = self.tracks.get(update.job_id)
        if track is None or track.final is not None:
            return None
        kind = update.kind
        if kind in FINAL_KINDS:
            track.final = track.state = kind
            if kind == "complete":
                track.cost_usd = update.data.get("cost_usd", track.entry.estimate_usd)
            elif update.message:
                track.reason = update.message
                first = self.reasons.setdefault(update.message, track.entry.number)
                track.same_as = first if first != track.entry.number else None
            return track
        if kind in ("submitted", "progress"):
            if track.started is None or kind == "submitted":
                track.started = now
            track.anchor = max(update.progress or 0.0, self.percent(track, now))
            track.reported = update.progress or 0.0
            track.reported_at = now
        elif kind == "rendered":
            if track.started is not None and track.state == "rendering":
                self.learned.setdefault(track.entry.shape, []).append(now - track.started)
            track.floor = 100.0
        track.state = STATES.get(kind, track.state)
        return track

    # -- reading -------------------------------------------------------------------------------

    def percent(self, track: Track, now: float) -> float:
        """The job's bar, 0–100: smooth between polls, never backwards."""
        if track.final is not None or track.state == "downloading":
            value = 100.0
        elif track.started is None or track.reported_at is None:
            value = track.floor
        else:
            value = smoothed(track.anchor, track.reported_at, self._finish(track), now)
        track.floor = max(track.floor, value)
        return track.floor

    def expected(self, track: Track) -> float | None:
        """The job's render time: as learned from the ledger, else from this run's renders of
        the same shape."""
        if track.entry.expected is not None:
            return track.entry.expected
        seen = self.learned.get(track.entry.shape)
        return statistics.median(seen) if seen else None

    def _finish(self, track: Track) -> float | None:
        if track.started is None or track.reported_at is None:
            return None
        return expected_finish(
            track.reported, track.reported_at, track.started, self.expected(track)
        )

    def remaining(self, track: Track, now: float) -> float | None:
        """Seconds until the job's render should be done; None when nothing says."""
        if track.final is not None or track.state == "downloading":
            return 0.0
        if track.started is None or track.reported_at is None:
            return self.expected(track)
        finish = self._finish(track)
        return None if finish is None else max(0.0, finish - now)

    def active(self) -> list[Track]:
        live = (t for t in self.tracks.values() if t.final is None and t.state != "queued")
        return sorted(live, key=lambda t: t.entry.number)

    def queued(self) -> list[Track]:
        return [t for t in self.tracks.values() if t.final is None and t.state == "queued"]

    def overall(self, now: float) -> Overall:
        tracks = list(self.tracks.values())
        done = sum(1 for t in tracks if t.final is not None)
        percent = sum(self.percent(t, now) for t in tracks) / len(tracks) if tracks else 100.0
        spent = sum(t.cost_usd or 0.0 for t in tracks if t.final == "complete")
        to_spend = sum(t.entry.estimate_usd or 0.0 for t in tracks if t.final is None)
        return Overall(done, len(tracks), percent, spent, to_spend, self.eta(now))

    def eta(self, now: float) -> float | None:
        """When the last job should be done: the running ones finish as expected, and each queued
        one takes the next free slot (no sooner than the pacing allows) for its expected time."""
        fallback = self._typical(now)
        busy: list[float] = []
        for track in self.active():
            left = self.remaining(track, now)
            if left is None:
                left = fallback
            if left is None:
                return None
            busy.append(left)
        slots = sorted(busy)[: self.concurrency]
        slots += [0.0] * (self.concurrency - len(slots))
        heapq.heapify(slots)
        for index, track in enumerate(self.queued()):
            expected = self.expected(track)
            expected = expected if expected is not None else fallback
            if expected is None:
                return None
            start = max(heapq.heappop(slots), index / self.rps)
            heapq.heappush(slots, start + expected)
        return max([0.0, *busy, *slots])

    def _typical(self, now: float) -> float | None:
        """A render time for a job whose own is unknown: what the others expect or show."""
        known = [t.entry.expected for t in self.tracks.values() if t.entry.expected is not None]
        known += [seconds for seen in self.learned.values() for seconds in seen]
        for track in self.active():
            finish = self._finish(track)
            if self.expected(track) is None and finish is not None and track.started is not None:
                known.append(finish - track.started)
        return statistics.median(known) if known else None

    def summary(self, now: float) -> Summary:
        counts: dict[str, int] = {}
        for track in self.tracks.values():
            word = track.final or "unfinished"
            counts[word] = counts.get(word, 0) + 1
        spent = sum(
            t.cost_usd or 0.0
            for t in self.tracks.values()
            if t.final == "complete" and not t.entry.settled
        )
        return Summary(counts, spent, now - self.began, simulated=self.simulated)


def ordered_counts(counts: dict[str, int]) -> list[tuple[str, int]]:
    """Good news first, then the rest by name."""
    first = {"complete": 0, "reused": 1}
    return sorted(counts.items(), key=lambda item: (first.get(item[0], 2), item[0]))
