"""The bundled xAI-compatible simulator: the REST contract of docs/xai-api.md on loopback.

Same routes, validation messages and status codes as the API; jobs that are pending with a rising
``progress`` and then done, failed, moderated or expired; real MP4s on an expiring, Range-capable
media route; fault knobs (429s, 5xx, lost answers, truncated downloads) and counters for tests.
"""

from __future__ import annotations

from imagine.sim.http_server import Simulator
from imagine.sim.knobs import SimConfig

__all__ = ["SimConfig", "Simulator"]
