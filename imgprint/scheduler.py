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
* Pages wait while images are pending: a page (a seed or a link) is handed
  out only while the crawl's ``PageGate`` says so (``CrawlState``, which
  registers itself with ``set_page_gate``: no more than
  ``IMGPRINT_MAX_PENDING_IMAGES`` images pending, fewer than ``PAGE_WINDOW``
  pages being fetched or parsed); meanwhile pages are held here and images
  go first, although pages outrank them. Pages reached with ``-a depth`` used
  to be parsed all before their images were fetched, every image request
  waiting in memory (1,000 pages of 1,000 images: 1,405 MB). Should nothing
  else be left to run (no page running, the downloader idle), a held page
  goes out all the same, so the crawl cannot stall on images that never come.

Settings: ``SCHEDULER`` selects it (imgprint's default); ``JOBDIR``;
``IMGPRINT_MAX_PER_SITE`` (default 16; 0: no cap); ``IMGPRINT_MAX_PENDING_IMAGES``.
Stats: ``imgprint/retry/delayed`` (requests held aside),
``imgprint/scheduler/parked`` (requests parked because their site was busy),
``imgprint/scheduler/pages_held`` (pages held back while images were pending),
``imgprint/scheduler/pages_forced`` (held pages handed out because nothing
else could run).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, Protocol
from weakref import WeakKeyDictionary

from scrapy import Request
from scrapy.core.scheduler import Scheduler as ScrapyScheduler

from imgprint.config import Config
from imgprint.fetch.protocol import IMAGE_KEY, SNIFF_KEY
from imgprint.scrapy_internals import NoDiskQueues, crawl_busy, slot_load

NOT_BEFORE_KEY = "_imgprint_not_before"
#: New requests looked at per next_request call before giving up for now.
SCAN = 64


def is_page(request: Request) -> bool:
    """A page request (a seed, which may turn out an image, or a link)."""
    return bool(request.meta.get(SNIFF_KEY)) and not request.meta.get(IMAGE_KEY)


class PageGate(Protocol):
    """What the scheduler asks before it hands out a page
    (``imgprint.frontier.state.CrawlState``)."""

    pages_running: int  # pages handed out and not yet done

    def may_start_page(self) -> bool: ...

    def page_started(self, request: Request) -> None: ...

    def page_running(self, request: Request) -> bool: ...


# The crawl's gate, by crawler: the crawl state registers itself (it lives in
# imgprint.frontier, which builds on this module, not the other way round).
_GATES: WeakKeyDictionary[Any, PageGate] = WeakKeyDictionary()


def set_page_gate(crawler: Any, gate: PageGate) -> None:
    """``gate`` decides when ``crawler``'s scheduler may hand out pages (none
    set: at once, as Scrapy's scheduler)."""
    _GATES[crawler] = gate


class Scheduler(NoDiskQueues, ScrapyScheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held: dict[Request, asyncio.TimerHandle] = {}
        self._parked: dict[str, deque[Request]] = {}
        self._pages: deque[Request] = deque()  # pages held while images are pending
        self.max_per_site = (Config.from_crawler(self.crawler).max_per_site
                             if self.crawler is not None else 0)
        #: Whether pages may be taken from the queue below now (the Redis
        #: frontier then leases images only: ``imgprint.frontier.scheduler``).
        self.take_pages = True

    def _has_room(self, request: Request) -> tuple[str, bool]:
        if not self.max_per_site or self.crawler is None or self.crawler.engine is None:
            return "", True
        key, load = slot_load(self.crawler, request)
        return key, load < self.max_per_site

    def _state(self) -> PageGate | None:
        return _GATES.get(self.crawler) if self.crawler is not None else None

    def _must_wait(self, request: Request, pages: bool, state: PageGate | None) -> bool:
        """Whether `request` is a page to hold back now. A retry or a redirect
        of a page already running never is: it holds its place in the window
        (held, more dead seeds than the window stalled the crawl for good)."""
        return (not pages and is_page(request)
                and not (state is not None and state.page_running(request)))

    def _hold(self, page: Request) -> None:
        self._pages.append(page)
        if self.stats:
            self.stats.inc_value("imgprint/scheduler/pages_held")

    def _hand_out(self, request: Request) -> Request:
        state = self._state()
        if state is not None and is_page(request):
            state.page_started(request)
        return request

    def next_request(self) -> Request | None:
        state = self._state()
        pages = self.take_pages = state is None or state.may_start_page()
        for key, parked in list(self._parked.items()):
            while parked and self._must_wait(parked[0], pages, state):
                self._hold(parked.popleft())  # no page may block its site's images
            if parked and self._has_room(parked[0])[1]:
                request = parked.popleft()
                if not parked:
                    del self._parked[key]
                return self._hand_out(request)
            if not parked:
                del self._parked[key]
        scanned = 0
        while scanned < SCAN:
            new = self._pages.popleft() if pages and self._pages else super().next_request()
            if new is None:
                return self._unstall(state)
            if self._must_wait(new, pages, state):
                self._hold(new)  # costs no scan: pages outrank images, all may come first
                continue
            scanned += 1
            key, room = self._has_room(new)
            if room:
                return self._hand_out(new)
            self._parked.setdefault(key, deque()).append(new)
            if self.stats:
                self.stats.inc_value("imgprint/scheduler/parked")
        return None

    def _unstall(self, state: PageGate | None) -> Request | None:
        """A held page when nothing else can run: no page running, nothing in
        the downloader or the scraper (pending images that never come: a
        request a spider middleware dropped after its page found it)."""
        if (not self._pages or state is None or state.pages_running
                or crawl_busy(self.crawler)):
            return None
        if self.stats:
            self.stats.inc_value("imgprint/scheduler/pages_forced")
        return self._hand_out(self._pages.popleft())

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
        return super().__len__() + len(self._held) + parked + len(self._pages)

    def has_pending_requests(self) -> bool:
        return len(self) > 0

    def close(self, reason: str) -> Any:
        for call in self._held.values():
            call.cancel()
        self._held.clear()
        return super().close(reason)
