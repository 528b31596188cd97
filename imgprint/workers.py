"""A bounded pool of worker threads for CPU work the event loop must not wait on.

Format walks, EXIF extraction and JPEG decoding run here, so a slow file
delays its own record, not every download. ``run`` gives a job up after its
time limit; a job that is given up keeps its thread (Python cannot kill one),
so the pool is replaced by a fresh one then: the jobs after it never queue
behind a stuck worker. Abandoned threads finish on their own (the parsers
and decoders are bounded; the limit only keeps the crawl moving meanwhile).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class Workers:
    def __init__(self, threads: int, name: str = "imgprint-worker"):
        self.threads = threads
        self.name = name
        self.replaced = 0  # pools given up because a job overran
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix=name)

    async def run(self, timeout: float, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` on a worker; ``TimeoutError`` after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        pool = self._pool
        future = loop.run_in_executor(pool, fn, *args)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            if pool is self._pool:
                self.replaced += 1
                pool.shutdown(wait=False)
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix=self.name)
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
