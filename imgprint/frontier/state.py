"""The crawl's state, in one object every component is handed.

``CrawlState.of(crawler)`` builds it on first use (from the checked
``Config``) and returns the same object to the spider, the network guard, the
Tor handler, the renderer, the resolver, the progress extension and the
frontier worker: nobody reads crawl state off the spider. It holds:

* ``seed_hosts``: hosts the operator seeded (the guard lets them be private);
* ``frontier``: ``LocalFrontier`` or, with ``IMGPRINT_REDIS_URL``,
  ``RedisFrontier``, behind one interface (``imgprint.frontier.local``);
* the pages open, the seed window and the page window
  (``IMGPRINT_MAX_PENDING_IMAGES``: ``room`` for seeds, ``may_start_page`` for
  every page the scheduler hands out);
* records written outside a callback (``emit_late``): an image that redirected
  to a URL fetched before, pages that reference an image recorded earlier;
  the crawl stays open until they are written;
* ``resume`` (what an earlier run of the job left, ``imgprint.resume``),
  ``render_mode`` and ``fatal`` (why the crawl could not start).

Stats: ``imgprint/images/redirect_seen``, ``imgprint/images/seen_before``,
``imgprint/images/pending_max`` (the most images pending at once).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from scrapy import Request, signals
from scrapy.exceptions import DontCloseSpider

from imgprint import signals as imgprint_signals
from imgprint.config import Config
from imgprint.fetch.protocol import IMAGE_KEY, SNIFF_KEY
from imgprint.frontier.local import Frontier, LocalFrontier
from imgprint.items import ImageRecord, split_pages
from imgprint.resume.journal import ResumeState
from imgprint.scheduler import set_page_gate
from imgprint.scrapy_internals import start_itemproc

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

#: Seed pages open, and pages being fetched or parsed, at once when
#: IMGPRINT_MAX_PENDING_IMAGES applies.
PAGE_WINDOW = 16
#: Most same-site links at the depth limit remembered for the summary's hint.
LINKS_NOT_FOLLOWED_CAP = 100_000
#: Meta of a render request: the page it renders (``imgprint.render.spider``).
RENDERED_PAGE_KEY = "_imgprint_page"
#: Meta of a page request the scheduler handed out (``CrawlState.page_started``):
#: its redirects and retries carry it, and count once.
PAGE_STARTED_KEY = "_imgprint_page_started"

_STATES: WeakKeyDictionary[Any, CrawlState] = WeakKeyDictionary()


class CrawlState:
    def __init__(self, crawler: Crawler, config: Config, frontier: Frontier | None = None):
        self.crawler = crawler
        self.config = config
        self.resume = ResumeState()
        self.frontier: Frontier = frontier or LocalFrontier(
            self.resume.recorded, config.max_pages_per_record)
        self.seed_hosts: set[str] = set()
        self.render_mode = config.render
        self.open_pages = 0  # page requests made and not yet parsed, failed or dropped
        self.pages_running = 0  # pages handed out by the scheduler and not yet done
        self.depth_pages: dict[int, int] = {}  # pages requested per depth
        # Same-site links on pages at the depth limit (the summary's hint); bounded.
        self.links_not_followed: set[str] = set()
        self.room = asyncio.Event()  # set while seed pages may be started
        self.fatal: str | None = None
        self._late: set[asyncio.Future[Any]] = set()
        self.frontier.watch(self.update_room)
        set_page_gate(crawler, self)  # the scheduler asks may_start_page
        crawler.signals.connect(self.request_dropped, signal=signals.request_dropped)
        crawler.signals.connect(self.spider_idle, signal=signals.spider_idle)

    @classmethod
    def of(cls, crawler: Crawler) -> CrawlState:
        """The crawl's state, built on first use."""
        state = _STATES.get(crawler)
        if state is None:
            config = Config.from_crawler(crawler)
            state = _STATES[crawler] = cls(crawler, config, _shared_frontier(config, cls))
        return state

    # -- seeds and resume ---------------------------------------------------------
    def set_seeds(self, hosts: set[str]) -> None:
        self.seed_hosts = self.frontier.add_seed_hosts(hosts)

    def learn_seed_hosts(self, hosts: set[str]) -> None:
        """Seed hosts another worker added (shared frontier)."""
        self.seed_hosts.update(hosts)

    def set_resume(self, resume: ResumeState) -> None:
        self.resume = resume
        if isinstance(self.frontier, LocalFrontier):
            self.frontier.recorded = resume.recorded
        self.frontier.preload(resume.pending_images)

    # -- pages and the seed window ---------------------------------------------------
    def page_opened(self) -> None:
        self.open_pages += 1

    def page_closed(self, started: bool = True) -> None:
        """A page is parsed, failed or dropped (``started``: it had been handed
        out by the scheduler; only a page dropped before is not)."""
        self.open_pages -= 1
        if started:
            self.pages_running = max(self.pages_running - 1, 0)
        self.update_room()

    def links_at_depth_limit(self, links: Callable[[], list[str]]) -> None:
        """Remember the links of a page at the depth limit (found only while
        under ``LINKS_NOT_FOLLOWED_CAP``: finding them costs a parse)."""
        if len(self.links_not_followed) < LINKS_NOT_FOLLOWED_CAP:
            self.links_not_followed.update(links())

    def page_started(self, request: Request) -> None:
        """The scheduler hands out page ``request`` (again, for a retry or a redirect)."""
        if not request.meta.get(PAGE_STARTED_KEY):
            request.meta[PAGE_STARTED_KEY] = True
            self.pages_running += 1

    def page_running(self, request: Request) -> bool:
        """Whether page ``request`` was handed out before (this is its retry or
        redirect): it already counts among the pages running."""
        return bool(request.meta.get(PAGE_STARTED_KEY))

    def may_start_page(self) -> bool:
        """Whether the scheduler may hand out a page (a seed or a link): not
        while more images than IMGPRINT_MAX_PENDING_IMAGES are pending, or
        PAGE_WINDOW pages are being fetched or parsed. Pages outrank images, so
        without this every page of a deep crawl was parsed before its images
        were fetched, and its image requests all waited in memory at once."""
        limit = self.config.max_pending_images
        return not limit or (self.waiting()[0] <= limit and self.pages_running < PAGE_WINDOW)

    def waiting(self) -> tuple[int, int]:
        """(images pending, pages pending), for the seed window and progress."""
        return self.frontier.waiting(self.open_pages)

    def update_room(self) -> None:
        """Seed pages wait while too many images are pending, or a window of
        pages is open: Scrapy takes start requests as fast as they come and pages
        outrank images, so without this every seed page would be parsed first."""
        limit = self.config.max_pending_images
        pending, pages = self.waiting()
        self.crawler.stats.max_value("imgprint/images/pending_max", pending)
        if not limit or (pending <= limit and pages < PAGE_WINDOW):
            self.room.set()
        else:
            self.room.clear()

    # -- images and records ------------------------------------------------------------
    def found(self, urls: list[str], page: str) -> list[int]:
        """``page`` references ``urls``: a FOUND_* code each (the frontier's);
        pages an image waiting for its record cannot hold any more of
        (``IMGPRINT_MAX_PAGES_PER_RECORD``) go on to the feed as a sighting."""
        codes = self.frontier.found_many(urls, page)
        for url, pages in self.frontier.overflow():
            self.emit_late(ImageRecord.sighting(url, pages))
        self.update_room()
        return codes

    def new_record(self, url: str, request: Request | None) -> ImageRecord | None:
        """The record of image ``url`` with the pages that referenced it; None when
        another worker recorded it already (its lease had expired)."""
        pages = self.frontier.take(url, request)
        if pages is None:
            return None
        record = ImageRecord(url, pages=pages)
        if request is not None:
            self.frontier.owe(record, request)
        for sighting in split_pages(record, self.config.max_pages_per_record):
            self.emit_late(sighting)  # pages past IMGPRINT_MAX_PAGES_PER_RECORD
        if url in self.resume.pending_images:
            # A resumed image's request bypassed the dupefilter (dont_filter):
            # pages parsed later must see it as recorded.
            self.resume.recorded.add(url)
        self.update_room()
        return record

    def emit_late(self, record: ImageRecord) -> None:
        """Send a record to the pipelines now (no response produced it)."""
        task = asyncio.ensure_future(start_itemproc(self.crawler, record))
        self._late.add(task)
        task.add_done_callback(self._late.discard)

    def request_dropped(self, request: Request, spider: Any) -> None:
        meta = request.meta
        if RENDERED_PAGE_KEY in meta:
            self.page_closed()
            self.crawler.signals.send_catch_log(
                signal=imgprint_signals.page_finished, url=meta[RENDERED_PAGE_KEY], spider=spider)
            return
        if meta.get(SNIFF_KEY):  # a page (or seed) seen before: it will not be parsed
            self.page_closed(started=bool(meta.get(PAGE_STARTED_KEY)))
        elif meta.get(IMAGE_KEY):
            self._image_dropped(request)
            self.update_room()
        self.frontier.lease_done(request)

    def _image_dropped(self, request: Request) -> None:
        redirects = request.meta.get("redirect_urls")
        if redirects:
            # The image redirected to a URL fetched before (a loop, or another
            # image's URL): its record is written here, or it would be lost.
            self.crawler.stats.inc_value("imgprint/images/redirect_seen")
            record = self.new_record(redirects[0], request)
            if record is not None:
                record.set(final_url=request.url,
                           error=f"redirected to {request.url}, which was already fetched"
                           " (redirect loop, or the URL of another image)")
                self.emit_late(record)
            return
        pages = self.frontier.dropped(request.url)
        if pages:
            self.crawler.stats.inc_value("imgprint/images/seen_before")
            self.emit_late(ImageRecord.sighting(request.url, pages))

    def spider_idle(self, spider: Any) -> None:
        if self._late:
            raise DontCloseSpider


def _shared_frontier(config: Config, cls: type[CrawlState]) -> Frontier | None:
    """The Redis frontier when IMGPRINT_REDIS_URL is set (redis is imported only then)."""
    if not config.redis_url:
        return None
    from imgprint.frontier.shared import RedisFrontier
    from imgprint.frontier.store import Frontier as Store

    return RedisFrontier(Store.from_config(config))
