"""Scrapy's scheduler, plus two things imgprint needs of it.

* Retries wait here, not in a downloader slot. ``BackoffRetryMiddleware``
  puts the pause a retry must wait in ``meta["_imgprint_not_before"]`` (a
  ``time.monotonic()`` value); such a request is held aside and handed to the
  engine again (``engine.crawl``) when its time comes. Nothing else waits for
  it: a burst of 503s from one host no longer holds ``CONCURRENT_REQUESTS``
  slots that every other host needs.
* With ``JOBDIR``, pending requests stay in memory: ``imgprint.resume``
  journals what was discovered, which (unlike Scrapy's disk queues) survives a
  kill.

Settings: ``SCHEDULER`` selects it (imgprint's default); ``JOBDIR``.
Stats: ``imgprint/retry/delayed`` (requests held aside).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from scrapy import Request
from scrapy.core.scheduler import Scheduler as ScrapyScheduler

from imgprint.scrapy_internals import NoDiskQueues

NOT_BEFORE_KEY = "_imgprint_not_before"


class Scheduler(NoDiskQueues, ScrapyScheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held: dict[Request, asyncio.TimerHandle] = {}

    def enqueue_request(self, request: Request) -> bool:
        not_before = request.meta.pop(NOT_BEFORE_KEY, None)
        wait = (not_before - time.monotonic()) if not_before is not None else 0
        if wait <= 0:
            return super().enqueue_request(request)
        if self.stats:
            self.stats.inc_value("imgprint/retry/delayed")
        loop = asyncio.get_running_loop()
        self._held[request] = loop.call_later(wait, self._release, request)
        return True

    def _release(self, request: Request) -> None:
        del self._held[request]
        # Through the engine, so it also wakes up to schedule the request.
        assert self.crawler is not None and self.crawler.engine is not None
        self.crawler.engine.crawl(request)

    def __len__(self) -> int:
        return super().__len__() + len(self._held)

    def has_pending_requests(self) -> bool:
        return len(self) > 0

    def close(self, reason: str) -> Any:
        for call in self._held.values():
            call.cancel()
        self._held.clear()
        return super().close(reason)
