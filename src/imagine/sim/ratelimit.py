"""The per-model limit on job starts: a sliding window, like the API's "requests per second"."""

from __future__ import annotations

import threading
from collections import deque


class StartLimiter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._starts: dict[str, deque[float]] = {}

    def admit(self, model: str, limit: float, now: float) -> int | None:
        """Record a start and return None, or return the starts already in the window (refused).

        Below one per second the window stretches (0.5 → one start per 2 s) so the limit still holds.
        """
        window = max(1.0, 1.0 / limit)
        allowed = max(1, int(limit * window))
        with self._lock:
            starts = self._starts.setdefault(model, deque())
            while starts and starts[0] <= now - window:
                starts.popleft()
            if len(starts) >= allowed:
                return len(starts)
            starts.append(now)
            return None

    def reset(self) -> None:
        with self._lock:
            self._starts.clear()
