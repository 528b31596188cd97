"""Every place imgprint relies on a private Scrapy API, checked at import.

Scrapy's public API does not cover the things below that imgprint needs. They live here,
and only here, so a Scrapy upgrade breaks one module with a message saying what
changed, rather than a crawl that quietly misbehaves:

* ``Downloader``: Scrapy 2.19 counts a request as transferring only once the
  task that downloads it first runs, so one pass of
  ``Downloader._process_queue`` hands out a slot's whole queue at once and
  ``CONCURRENT_REQUESTS_PER_DOMAIN`` (and ``TOR_CONCURRENCY_PER_HOST``) do not
  hold. This counts the request when it is handed out
  (``_wait_for_download``). Upstream: scrapy/scrapy#6982 looks like the same
  root cause. It also counts an image's follow-ups with the image in
  ``CONCURRENT_REQUESTS`` (``needs_backout``): the image request stays in
  ``Downloader.active`` while ``ImageFetchMiddleware`` runs its follow-ups,
  one at a time, so each of them took a second place and, with follow-ups
  going, only about half as many images were fetched at once as the setting
  says. Requests in flight still never exceed it: an image has one at a time.
* ``NoDiskQueues``: a scheduler mixin that keeps requests in memory even with
  ``JOBDIR`` (``Scheduler._dqdir``); imgprint's resume journal replaces the
  disk queues, which lose requests at a kill.
* ``feed_uris``: the local feed files of this run (``FeedExporter.slots``),
  which resume reads back.
* ``httpx_handler_class``: Scrapy's experimental ``HttpxDownloadHandler``
  (``scrapy.core.downloader.handlers._httpx``), the SOCKS5 client for Tor.
* ``set_slot_concurrency``: a download slot's concurrency for a host not known
  in advance (``Downloader.per_slot_settings``, read when the slot is made).
* ``start_itemproc``: send an item to the item pipelines without a response
  (``Scraper.start_itemproc_async``): records owed by dropped requests.
* ``flush_feeds``: flush the open feed files (``FeedSlot.file``), so a record
  is on disk before the shared frontier counts it as done (``imgprint.frontier``).
* ``crawl_busy``: requests in the downloader or answers in the scraper
  (``Downloader.active``, ``Scraper.slot``, as ``ExecutionEngine.spider_is_idle``
  reads them): the scheduler hands out a held page when nothing else runs.

Tested range: Scrapy 2.19. Outside it, import still works if every attribute
below exists; a missing one raises ``ImportError`` naming it.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import scrapy
from scrapy.core.downloader import Downloader as ScrapyDownloader
from scrapy.core.scheduler import Scheduler as ScrapyScheduler
from scrapy.core.scraper import Scraper as _Scraper
from scrapy.extensions.feedexport import FeedExporter

from imgprint.fetch.protocol import FOLLOWUP_KEY

logger = logging.getLogger(__name__)

TESTED = ((2, 19), (2, 20))  # [from, to)
_HTTPX_MODULE = "scrapy.core.downloader.handlers._httpx"


def _require(ok: bool, what: str) -> None:
    if not ok:
        raise ImportError(
            f"imgprint needs {what}, which Scrapy {scrapy.__version__} does not have"
            f" (tested with Scrapy {TESTED[0][0]}.{TESTED[0][1]}); see"
            " imgprint/scrapy_internals.py"
        )


def _version() -> tuple[int, int]:
    major, minor = scrapy.__version__.split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


_require(hasattr(ScrapyDownloader, "_wait_for_download"),
         "Downloader._wait_for_download (per-slot concurrency fix)")
_require(hasattr(ScrapyDownloader, "_process_queue"), "Downloader._process_queue")
_require(callable(getattr(ScrapyDownloader, "needs_backout", None))
         and callable(getattr(ScrapyDownloader, "fetch", None)),
         "Downloader.needs_backout and Downloader.fetch (follow-ups counted with their image)")
_require(hasattr(ScrapyScheduler, "_dqdir"), "Scheduler._dqdir (no disk queues with JOBDIR)")
_require(hasattr(FeedExporter, "open_spider"), "FeedExporter.slots (resume reads feeds back)")
if not TESTED[0] <= _version() < TESTED[1]:
    logger.warning("imgprint was tested with Scrapy %d.%d; this is %s: see"
                   " imgprint/scrapy_internals.py if the crawl misbehaves",
                   *TESTED[0], scrapy.__version__)


class Downloader(ScrapyDownloader):
    """Scrapy's downloader with ``CONCURRENT_REQUESTS_PER_DOMAIN`` enforced, and
    an image's follow-ups counted with the image in ``CONCURRENT_REQUESTS``."""

    def __init__(self, crawler: Any) -> None:
        super().__init__(crawler)
        self.followups = 0  # follow-ups in self.active (``FOLLOWUP_KEY``)

    def _wait_for_download(self, slot: Any, request: Any, queue_dfd: Any) -> Any:
        # Scrapy's _download() adds it again (a set) and removes it when done.
        slot.transferring.add(request)
        return super()._wait_for_download(slot, request, queue_dfd)

    def fetch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if not request.meta.get(FOLLOWUP_KEY):
            return super().fetch(request, *args, **kwargs)
        self.followups += 1
        try:
            fetched = super().fetch(request, *args, **kwargs)
        except BaseException:
            self.followups -= 1
            raise
        return fetched.addBoth(self._followup_done)

    def _followup_done(self, result: Any) -> Any:
        self.followups -= 1
        return result

    def needs_backout(self) -> bool:
        # Scrapy's test, with an image and its follow-up in active counted once.
        return 0 < self.total_concurrency <= len(self.active) - self.followups


class NoDiskQueues:
    """Scheduler mixin: requests stay in memory even with ``JOBDIR``."""

    def _dqdir(self, jobdir: str | None) -> str | None:
        return None


def feed_uris(crawler: Any) -> list[str]:
    """The URIs of the feeds this crawl writes (after ``%(time)s`` expansion)."""
    uris: list[str] = []
    for ext in crawler.extensions.middlewares:
        if isinstance(ext, FeedExporter):
            slots = getattr(ext, "slots", None)
            _require(slots is not None, "FeedExporter.slots")
            assert slots is not None
            uris.extend(slot.uri for slot in slots)
    return uris


def httpx_handler_class() -> type:
    """Scrapy's ``HttpxDownloadHandler`` (the ``scrapy[httpx]`` extra)."""
    module = importlib.import_module(_HTTPX_MODULE)
    cls = getattr(module, "HttpxDownloadHandler", None)
    _require(cls is not None, f"{_HTTPX_MODULE}.HttpxDownloadHandler (Tor's SOCKS5 client)")
    return cls  # type: ignore[return-value]


def slot_load(crawler: Any, request: Any) -> tuple[str, int]:
    """(download slot key of ``request``, requests of that slot in the downloader
    now: transferring or waiting in the slot's queue). ``Downloader.slots`` and
    ``Slot.active`` are undocumented attributes."""
    downloader = crawler.engine.downloader
    key = downloader.get_slot_key(request)
    slots: dict[str, Any] = getattr(downloader, "slots", None) or {}
    _require(isinstance(slots, dict), "Downloader.slots")
    slot = slots.get(key)
    return key, len(getattr(slot, "active", ())) if slot is not None else 0


def crawl_busy(crawler: Any) -> bool:
    """Whether requests are in the downloader or answers in the scraper."""
    engine = getattr(crawler, "engine", None)
    if engine is None:
        return False
    active = getattr(engine.downloader, "active", None)
    _require(active is not None, "Downloader.active")
    slot = getattr(engine.scraper, "slot", None)
    return bool(active) or (slot is not None and not slot.is_idle())


def set_slot_concurrency(crawler: Any, slot: str, concurrency: int) -> None:
    """Concurrency of download slot ``slot`` when it is created (if not set already)."""
    per_slot = getattr(crawler.engine.downloader, "per_slot_settings", None)
    _require(isinstance(per_slot, dict), "Downloader.per_slot_settings")
    assert per_slot is not None
    per_slot.setdefault(slot, {}).setdefault("concurrency", concurrency)


def flush_feeds(crawler: Any) -> None:
    """Push the lines the feed exporters wrote so far to the OS (``FeedSlot.file``),
    so a killed process loses none of them."""
    for ext in crawler.extensions.middlewares:
        if isinstance(ext, FeedExporter):
            for slot in getattr(ext, "slots", ()):
                file = getattr(slot, "file", None)
                if file is not None and hasattr(file, "flush"):
                    file.flush()


_require(hasattr(_Scraper, "start_itemproc_async"), "Scraper.start_itemproc_async")


async def start_itemproc(crawler: Any, item: Any) -> None:
    """Run ``item`` through the item pipelines (and feeds) now, with no response."""
    engine = crawler.engine
    assert engine is not None and engine.scraper is not None
    await engine.scraper.start_itemproc_async(item, response=None)
