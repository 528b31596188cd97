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
* Per-site fairness: a request whose download slot (its site) already has
  ``IMGPRINT_MAX_PER_SITE`` requests in the downloader -- transferring or
  queued in the slot -- is parked here, per site, and handed out when that site
  has room again. Without this, one slow site filled every one of the
  ``CONCURRENT_REQUESTS`` (its requests wait in its slot's queue, and those
  count), and a second site's images started only when the first site's
  answers came back. Parked requests are looked at first, then up to
  ``SCAN`` new ones per call.

Settings: ``SCHEDULER`` selects it (imgprint's default); ``JOBDIR``;
``IMGPRINT_MAX_PER_SITE`` (default 16; 0: no cap).
Stats: ``imgprint/retry/delayed`` (requests held aside),
``imgprint/scheduler/parked`` (requests parked because their site was busy).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from scrapy import Request
from scrapy.core.scheduler import Scheduler as ScrapyScheduler

from imgprint.config import Config
from imgprint.scrapy_internals import NoDiskQueues, slot_load

NOT_BEFORE_KEY = "_imgprint_not_before"
#: New requests looked at per next_request call before giving up for now.
SCAN = 64


class Scheduler(NoDiskQueues, ScrapyScheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held: dict[Request, asyncio.TimerHandle] = {}
        self._parked: dict[str, deque[Request]] = {}
        self.max_per_site = (Config.from_crawler(self.crawler).max_per_site
                             if self.crawler is not None else 0)

    def _has_room(self, request: Request) -> tuple[str, bool]:
        if not self.max_per_site or self.crawler is None or self.crawler.engine is None:
            return "", True
        key, load = slot_load(self.crawler, request)
        return key, load < self.max_per_site

    def next_request(self) -> Request | None:
        for key, parked in list(self._parked.items()):
            if self._has_room(parked[0])[1]:
                request = parked.popleft()
                if not parked:
                    del self._parked[key]
                return request
        for _ in range(SCAN):
            new = super().next_request()
            if new is None:
                return None
            key, room = self._has_room(new)
            if room:
                return new
            self._parked.setdefault(key, deque()).append(new)
            if self.stats:
                self.stats.inc_value("imgprint/scheduler/parked")
        return None

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
        parked = sum(len(q) for q in self._parked.values())
        return super().__len__() + len(self._held) + parked

    def has_pending_requests(self) -> bool:
        return len(self) > 0

    def close(self, reason: str) -> Any:
        for call in self._held.values():
            call.cancel()
        self._held.clear()
        return super().close(reason)
