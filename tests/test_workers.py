"""The engine's worker threads outlive each event loop, so one process can drive run after run."""

from __future__ import annotations

import asyncio
import threading

from imagine.engine import workers


def test_the_shared_pool_serves_one_loop_after_another() -> None:
    async def thread_name() -> str:
        workers.adopt(asyncio.get_running_loop())
        return await asyncio.to_thread(lambda: threading.current_thread().name)

    # asyncio.run() shuts its loop's default executor down at the end; the next run must still work.
    first = asyncio.run(thread_name())
    second = asyncio.run(thread_name())
    assert first.startswith("imagine") and second.startswith("imagine")
