"""Worker threads shared by every event loop of the process.

Each `drive()` runs in a loop of its own (asyncio.run), and a loop's default executor starts fresh
threads (for DNS lookups, the decoder's probe and poster) that end with it. Threads made anew for
every run leave memory behind in the C allocator's per-thread arenas: measured in one process,
resident memory grew about 6 MiB per run of 250 jobs with fresh threads and stayed flat with one
shared pool. So the engine hands every loop this one pool instead.
"""

from __future__ import annotations

import asyncio
import functools
import os
from concurrent.futures import ThreadPoolExecutor


class _ProcessPool(ThreadPoolExecutor):
    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Ignored: asyncio.run() shuts its loop's default executor down when the loop ends, and
        this pool serves the next loop too. Its idle threads are joined at interpreter exit."""


@functools.cache
def pool() -> ThreadPoolExecutor:
    return _ProcessPool(max_workers=min(8, (os.cpu_count() or 1) + 4), thread_name_prefix="imagine")


@functools.cache
def media_pool() -> ThreadPoolExecutor:
    """Where each render is labelled, hashed, probed and postered: the cores but one (the event
    loop's), at least one and at most four. The decoding is all CPU, so more threads than cores
    would not finish it sooner, only hold a decoder's working memory each at once."""
    workers = max(1, min(4, (os.cpu_count() or 1) - 1))
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="imagine-media")


def adopt(loop: asyncio.AbstractEventLoop) -> None:
    """Make the shared pool this loop's default executor (asyncio.to_thread, getaddrinfo)."""
    loop.set_default_executor(pool())
