"""The images spider's seeds: the URL file or ``-a url``, resumed work, and the
window that keeps memory flat on long seed lists (``IMGPRINT_MAX_PENDING_IMAGES``).

A mixin of ``imgprint.spiders.images.ImagesSpider``; it uses the spider's
``page_request``, ``_image_request`` and pending map.

Stats: ``imgprint/seeds``, ``imgprint/seeds/bad_lines``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy import Request

from imgprint import signals as imgprint_signals
from imgprint.resume import ResumeState
from imgprint.urlfile import UrlFileError, check_url, read_url_file

if TYPE_CHECKING:
    from imgprint.config import Config, SpiderArgs
    from imgprint.frontier.store import Frontier

# Seed pages in flight at once when IMGPRINT_MAX_PENDING_IMAGES applies.
PAGE_WINDOW = 16


class SeedsMixin:
    # Provided by the spider.
    args: SpiderArgs
    config: Config
    crawler: Any
    logger: Any
    resume: ResumeState
    seed_hosts: set[str]
    fatal: str | None
    _pending: dict[str, list[str]]
    _open_pages: int
    _room: asyncio.Event
    frontier: Frontier | None

    if TYPE_CHECKING:  # provided by the spider
        def _signal(self, signal: object, **kwargs: Any) -> list[tuple[Any, Any]]:
            ...

        def page_request(self, url: str, depth: int, resumed: bool = False) -> Request:
            ...

        def share_seed_hosts(self, hosts: Iterable[str]) -> None:
            ...

        def _image_request(self, url: str, dont_filter: bool = False,
                           found_by: str | None = None) -> Request:
            ...

    def seed_urls(self) -> list[str]:
        if self.args.url:
            reason = check_url(self.args.url)
            if reason:
                raise UrlFileError(f"-a url={self.args.url!r}: {reason}")
            return [self.args.url]
        path = self.args.urls or self.config.urls_file
        urls, bad = read_url_file(path)
        for line in bad:
            self.logger.warning("%s: %s (skipped)", path, line)
        self.crawler.stats.set_value("imgprint/seeds/bad_lines", len(bad))
        return urls

    async def start(self) -> AsyncIterator[Request]:
        try:
            seeds = self.seed_urls()
        except UrlFileError as exc:
            self.fatal = str(exc)
            self.logger.error("%s", exc)
            return
        self.crawler.stats.set_value("imgprint/seeds", len(seeds))
        self.seed_hosts = {urlsplit(u).hostname or "" for u in seeds}
        self.share_seed_hosts(self.seed_hosts)  # imgprint.frontier
        for _, state in self._signal(imgprint_signals.resume_requested):
            if isinstance(state, ResumeState):
                self.resume = state
        for request in self.resumed_requests():
            yield request
        for url in seeds:
            if url not in self.resume.pages:
                # Memory stays flat on big seed lists: Scrapy takes start
                # requests as fast as they come and pages outrank images, so
                # without this every seed page would be parsed first and all
                # their image requests would wait in memory at once.
                self._update_room()
                await self._room.wait()
                yield self.page_request(url, depth=0)

    def _update_room(self) -> None:
        limit = self.config.max_pending_images
        if self.frontier is not None:  # the whole crawl's queue, in Redis
            pending, pages = self.frontier.queued, self.frontier.queued_pages
        else:
            pending, pages = len(self._pending), self._open_pages
        if not limit or (pending <= limit and pages < PAGE_WINDOW):
            self._room.set()
        else:
            self._room.clear()

    def resumed_requests(self) -> Iterator[Request]:
        """What earlier runs of this job discovered but did not finish."""
        # Every resumed image is pending before the first resumed page can be
        # parsed: a page that is fast now must find them there, or it requests
        # them again and the image gets two records.
        for url, on_pages in self.resume.pending_images.items():
            self._pending[url] = on_pages
        for url, depth in self.resume.pending_pages.items():
            yield self.page_request(url, depth, resumed=True)
        for url in self.resume.pending_images:
            yield self._image_request(url, dont_filter=True)
