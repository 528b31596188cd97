"""The images spider's seeds: the URL file or ``-a url``, resumed work, and the
window that keeps memory flat on long seed lists (``IMGPRINT_MAX_PENDING_IMAGES``,
``CrawlState.room``).

A mixin of ``imgprint.spiders.images.ImagesSpider``; it uses the spider's
``page_request`` and ``image_request``.

Stats: ``imgprint/seeds``, ``imgprint/seeds/bad_lines``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy import Request

from imgprint import signals as imgprint_signals
from imgprint.resume import ResumeState
from imgprint.urlfile import UrlFileError, check_url, read_url_file

if TYPE_CHECKING:
    from imgprint.config import Config, SpiderArgs
    from imgprint.frontier.state import CrawlState


class SeedsMixin:
    # Provided by the spider.
    args: SpiderArgs
    config: Config
    crawler: Any
    logger: Any
    crawl_state: CrawlState

    if TYPE_CHECKING:  # provided by the spider
        def _signal(self, signal: object, **kwargs: Any) -> list[tuple[Any, Any]]:
            ...

        def page_request(self, url: str, depth: int, resumed: bool = False) -> Request:
            ...

        def image_request(self, url: str, dont_filter: bool = False,
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
        state = self.crawl_state
        try:
            seeds = self.seed_urls()
        except UrlFileError as exc:
            state.fatal = str(exc)
            self.logger.error("%s", exc)
            return
        self.crawler.stats.set_value("imgprint/seeds", len(seeds))
        state.set_seeds({urlsplit(u).hostname or "" for u in seeds})
        for _, resume in self._signal(imgprint_signals.resume_requested):
            if isinstance(resume, ResumeState):
                state.set_resume(resume)
        for request in self.resumed_requests():
            yield request
        for url in seeds:
            if url not in state.resume.pages:
                state.update_room()
                await state.room.wait()
                yield self.page_request(url, depth=0)

    def resumed_requests(self) -> Iterator[Request]:
        """What earlier runs of this job discovered but did not finish."""
        # Every resumed image is pending before the first resumed page can be
        # parsed (``CrawlState.set_resume``): a page that is fast now must find
        # them there, or it requests them again and the image gets two records.
        resume = self.crawl_state.resume
        for url, depth in resume.pending_pages.items():
            yield self.page_request(url, depth, resumed=True)
        for url in resume.pending_images:
            yield self.image_request(url, dont_filter=True)
