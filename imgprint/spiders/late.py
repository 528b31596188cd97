"""Records the images spider writes outside a callback.

A request dropped by the dupefilter may still owe a record: an image that
redirected to a URL fetched before, or pages that reference an image recorded
earlier (a ``seen_before`` sighting). Those go to the pipelines directly
(``Scraper.start_itemproc_async``, no response), and the spider stays open
until they are written.

A mixin of ``imgprint.spiders.images.ImagesSpider``.

Stats: ``imgprint/images/redirect_seen``, ``imgprint/images/seen_before``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from scrapy import Request, Spider
from scrapy.exceptions import DontCloseSpider

from imgprint.items import ImageRecord
from imgprint.middlewares.imagefetch import IMAGE_KEY
from imgprint.render.page import RENDER_KEY
from imgprint.render.spider import PAGE_KEY


class LateRecordsMixin:
    # Provided by the spider.
    crawler: Any
    _late: set[asyncio.Task[Any]]
    _pending: dict[str, list[str]]
    _open_pages: int

    if TYPE_CHECKING:  # provided by the spider
        def parse(self, response: Any) -> Any:
            ...

        def _update_room(self) -> None:
            ...

        def _page_done(self, url: str) -> None:
            ...

        def new_record(self, url: str, request: Request | None) -> ImageRecord | None:
            ...

        def lease_done(self, request: Request | None) -> None:
            ...

    def _emit_late(self, record: ImageRecord) -> None:
        """Send a record to the pipelines now (no response produced it)."""
        engine = self.crawler.engine
        task = asyncio.ensure_future(engine.scraper.start_itemproc_async(record, response=None))
        self._late.add(task)
        task.add_done_callback(self._late.discard)

    def _request_dropped(self, request: Request, spider: Spider) -> None:
        if request.callback == self.parse:
            self._open_pages -= 1  # a page seen before: it will not be parsed
            self._update_room()
            self.lease_done(request)  # a leased page redirected to a page seen before
            return
        if request.meta.get(RENDER_KEY):
            self._page_done(request.meta.get(PAGE_KEY, request.url))
            return
        if not request.meta.get(IMAGE_KEY):
            self.lease_done(request)
            return
        redirects = request.meta.get("redirect_urls")
        if redirects:
            # The image redirected to a URL fetched before (a loop, or another
            # image's URL): its record is written here, or it would be lost.
            self.crawler.stats.inc_value("imgprint/images/redirect_seen")
            record = self.new_record(redirects[0], request)
            if record is None:  # recorded by another worker (imgprint.frontier)
                return
            record.set(final_url=request.url,
                       error=f"redirected to {request.url}, which was already fetched"
                       " (redirect loop, or the URL of another image)")
            self._emit_late(record)
        else:
            pages = self._pending.pop(request.url, None)
            if pages:
                self.crawler.stats.inc_value("imgprint/images/seen_before")
                self._emit_late(ImageRecord.sighting(request.url, pages))
        self._update_room()
        self.lease_done(request)

    def _spider_idle(self, spider: Spider) -> None:
        if self._late:
            raise DontCloseSpider
