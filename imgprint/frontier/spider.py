"""What the images spider does differently on a shared frontier (``IMGPRINT_REDIS_URL``).

A mixin of ``imgprint.spiders.images.ImagesSpider``. With ``frontier`` None
(the default, one process) every method here behaves as the spider always did.

* Which pages reference an image, and whether it is recorded, live in Redis
  (``Frontier.found``/``take``/``commit``): page A parsed by one worker and its
  image fetched by another still give one record listing every page.
* A leased request is acknowledged when it is done: a page when its callback
  has run to the end (its image and link requests are queued by then), an image
  when its record is written (``imgprint.frontier.worker`` commits it after the
  feed exporter wrote the line). A record carries its lease in ``OWED_ATTR``.
* Seed hosts are shared, so every worker's network guard allows every seed host.

Stats: ``imgprint/images/seen_before`` (as without Redis).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from scrapy import Request

from imgprint import signals as imgprint_signals
from imgprint.frontier import LEASE_KEY, OWED_ATTR
from imgprint.items import ImageRecord, split_pages

if TYPE_CHECKING:
    from imgprint.config import Config
    from imgprint.frontier.store import Frontier


class SharedFrontierMixin:
    # Provided by the spider.
    config: Config
    crawler: Any
    seed_hosts: set[str]
    _pending: dict[str, list[str]]
    frontier: Frontier | None = None

    if TYPE_CHECKING:  # provided by the spider
        def _signal(self, signal: object, **kwargs: Any) -> list[tuple[Any, Any]]:
            ...

        def _image_request(self, url: str, dont_filter: bool = False,
                           found_by: str | None = None) -> Request:
            ...

        def _emit_late(self, record: ImageRecord) -> None:
            ...

        def _update_room(self) -> None:
            ...

    def open_frontier(self) -> None:
        if self.config.redis_url:
            from imgprint.frontier.store import Frontier

            self.frontier = Frontier.from_config(self.config)  # stats: FrontierWorker
            # Seed pages wait while the crawl's queue is long (IMGPRINT_MAX_PENDING_IMAGES)
            # or holds a window of pages, as in one process: memory in Redis stays flat.
            self.frontier.on_change = self._update_room

    def share_seed_hosts(self, hosts: Iterable[str]) -> None:
        """Add this worker's seed hosts to the crawl's, and learn the others'."""
        if self.frontier is not None:
            self.frontier.add_seed_hosts(hosts)
            self.seed_hosts.update(self.frontier.seed_hosts())

    def shared_image_requests(self, urls: list[str], page: str, found_by: str | None,
                              ) -> Iterator[Request]:
        """The requests for a page's images (one round trip for all of them)."""
        assert self.frontier is not None
        for url, found in zip(urls, self.frontier.found_many(urls, page), strict=True):
            yield from self._found(url, page, found_by, found)

    def shared_image_request(self, url: str, page: str, found_by: str | None,
                             ) -> Iterator[Request]:
        assert self.frontier is not None
        yield from self._found(url, page, found_by, self.frontier.found(url, page))

    def _found(self, url: str, page: str, found_by: str | None, found: int,
               ) -> Iterator[Request]:
        from imgprint.frontier.store import FOUND_KNOWN, FOUND_NEW, FOUND_RECORDED

        if found == FOUND_RECORDED:
            # Recorded (by any worker) before this page was parsed.
            self.crawler.stats.inc_value("imgprint/images/seen_before")
            self._emit_late(ImageRecord.sighting(url, [page]))
            return
        if found == FOUND_KNOWN:
            return
        self._signal(imgprint_signals.image_found, url=url, page=page)
        if found == FOUND_NEW:
            yield self._image_request(url, found_by=found_by)

    def new_record(self, url: str, request: Request | None) -> ImageRecord | None:
        """The record of image ``url`` with the pages that referenced it; None when
        another worker recorded it already (its lease had expired)."""
        if self.frontier is None:
            record = ImageRecord(url, pages=self._pending.pop(url, []))
        else:
            pages = self.frontier.take(url)
            if pages is None:
                self.lease_done(request)
                return None
            record = ImageRecord(url, pages=pages)
            lease = request.meta.pop(LEASE_KEY, "") if request is not None else ""
            setattr(record, OWED_ATTR, (url, len(pages), lease))
        for sighting in split_pages(record, self.config.max_pages_per_record):
            self._emit_late(sighting)  # pages past IMGPRINT_MAX_PAGES_PER_RECORD
        return record

    def owe(self, record: ImageRecord, request: Request) -> None:
        """``record`` (made without ``new_record``) completes ``request``'s lease."""
        if self.frontier is not None:
            lease = request.meta.pop(LEASE_KEY, "")
            setattr(record, OWED_ATTR, (record.url, len(record.pages), lease))

    def lease_done(self, request: Request | None) -> None:
        """``request`` is done and owes no record: acknowledge its lease."""
        if self.frontier is not None and request is not None:
            lease = request.meta.pop(LEASE_KEY, None)
            if lease:
                self.frontier.ack(lease)
