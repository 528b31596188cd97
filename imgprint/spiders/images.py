"""``scrapy crawl images``: find every image on the seed pages and record each once.

Arguments: ``-a urls=FILE`` (default: setting ``IMGPRINT_URLS_FILE``, ``urls.txt``),
``-a url=URL`` (one seed, instead of the file), ``-a depth=N`` (follow same-site
links N levels; default 0), ``-a render=off|on|auto`` (default: setting
``IMGPRINT_RENDER``; pages are then also rendered in Chromium, see
``imgprint.render``). Any other name is an error (``imgprint.config``).

The spider discovers; it does not fetch. Image requests carry
``meta["imgprint_image"]`` and come back from ``ImageFetchMiddleware`` as an
``ImageResponse`` whose ``image`` holds the bytes; the spider turns that into an
``ImageRecord`` and the pipeline fingerprints it. Seeds carry
``meta["imgprint_sniff"]``: a seed may be a page or an image, which only the
answer's Content-Type tells.

One record per image URL. ``pages`` lists the pages that referenced it until its
record was written; pages found later that reference an already recorded image
produce a short record ``{"url", "pages", "seen_before": true, "timestamp"}``
(merge by ``url``). Page requests outrank image requests in the scheduler, so on
most sites every page is seen before its images are fetched.

Stats: ``imgprint/seeds``, ``imgprint/seeds/bad_lines``, ``imgprint/pages``,
``imgprint/pages/not_html``, ``imgprint/pages/failed``, ``imgprint/images/error``,
``imgprint/images/failed``, ``imgprint/images/seen_before``,
``imgprint/images/redirect_seen``, ``imgprint/images/skipped_scheme`` (also
malformed URLs), ``imgprint/images/too_long`` (references over
``URLLENGTH_LIMIT``, dropped unjoined), ``imgprint/pages/images_capped`` (pages with more than
``IMGPRINT_MAX_IMAGES_PER_PAGE`` images), ``imgprint/pages/depth_capped``
(links not followed past ``IMGPRINT_MAX_PAGES_PER_DEPTH``),
``imgprint/seeds/failed`` (all seeds failed: ``scrapy crawl`` exits 3). A failed
seed that is an image gets an image record (``imgprint.failures.failed_seed_image``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scrapy import Request, Spider
from scrapy.http import Response, TextResponse
from twisted.python.failure import Failure

from imgprint import signals as imgprint_signals
from imgprint.config import Config, check_spider_args
from imgprint.discovery import count_too_long, find_images, find_links
from imgprint.failures import describe_failure, failed_request, failed_seed_image
from imgprint.fetch.protocol import SNIFF_KEY, ImageResponse
from imgprint.frontier import configure as use_frontier
from imgprint.frontier import is_on as frontier_on
from imgprint.frontier import worker_feed
from imgprint.frontier.local import FOUND_ADDED, FOUND_NEW, FOUND_RECORDED
from imgprint.frontier.state import CrawlState
from imgprint.http import log_safe, original_url
from imgprint.imagerequest import fail_record, fill_record, image_request
from imgprint.items import ImageRecord
from imgprint.render.page import RENDER_KEY
from imgprint.render.spider import RenderingMixin
from imgprint.spiders.seeds import SeedsMixin

PAGE_PRIORITY = 1
DEPTH_KEY = "imgprint_depth"


class ImagesSpider(SeedsMixin, RenderingMixin, Spider):
    name = "images"
    config: Config
    crawl_state: CrawlState
    url_limit: int  # URLLENGTH_LIMIT: longer references are dropped unjoined
    page_priority = PAGE_PRIORITY
    depth_key = DEPTH_KEY

    def __init__(self, *args: Any, **kwargs: Any):
        spider_args = {k: v for k, v in kwargs.items() if k not in ("name", "start_urls")}
        self.args = check_spider_args(spider_args)
        super().__init__(*args, **{k: v for k, v in kwargs.items() if k.startswith("_")})

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        super().update_settings(settings)
        # -o/-O on the command line fill FEEDS before this runs; only without
        # them does the crawl write to the default feed.
        default_feed = settings.get("IMGPRINT_DEFAULT_FEED")
        if frontier_on(settings):  # a worker of a shared crawl (imgprint.frontier)
            use_frontier(settings)
            default_feed = default_feed and worker_feed(default_feed)
        if default_feed and not settings.getdict("FEEDS"):
            # A run that records nothing (every seed failed) leaves no empty file.
            settings.set("FEEDS", {default_feed: {"format": "jsonlines", "store_empty": False}},
                         priority="spider")

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> ImagesSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.crawl_state = CrawlState.of(crawler)
        spider.config = spider.crawl_state.config
        spider.url_limit = crawler.settings.getint("URLLENGTH_LIMIT")
        spider.render_mode = spider.args.render or spider.config.render
        spider.crawl_state.render_mode = spider.render_mode
        return spider

    def _signal(self, signal: object, **kwargs: Any) -> list[tuple[Any, Any]]:
        return self.crawler.signals.send_catch_log(signal=signal, spider=self, **kwargs)

    def page_request(self, url: str, depth: int, resumed: bool = False) -> Request:
        if not resumed:
            self._signal(imgprint_signals.page_scheduled, url=url, depth=depth)
        self.crawl_state.page_opened()
        return Request(url, callback=self.parse, errback=self.page_failed,
                       priority=PAGE_PRIORITY, meta={SNIFF_KEY: True, DEPTH_KEY: depth},
                       dont_filter=resumed)

    def _page_done(self, url: str) -> None:
        self.crawl_state.page_closed()
        self._signal(imgprint_signals.page_finished, url=url)

    # -- pages -------------------------------------------------------------------
    def parse(self, response: Response) -> Iterator[Request | ImageRecord]:
        request = response.request
        assert request is not None
        rendering = False
        try:
            if isinstance(response, ImageResponse):
                # A seed that is an image itself: recorded, never rendered.
                record = self.image_record(response)
                if record is not None:
                    yield record
            else:
                for output in self.parse_page(response):
                    rendering = rendering or bool(output.meta.get(RENDER_KEY))
                    yield output
        finally:
            # Only now: every image and link of the page has been signalled
            # (or the page broke the parser, and a retry would break it again);
            # a page being rendered is done when its render is.
            if not rendering:
                self._page_done(request.url)
                self.crawl_state.frontier.lease_done(request)
    def parse_page(self, response: Response) -> Iterator[Request]:
        stats = self.crawler.stats
        if not isinstance(response, TextResponse):
            self.logger.warning(
                "Not a page or an image, skipped: %s (Content-Type %s)", response.url,
                log_safe(response.headers.get(b"Content-Type")))
            stats.inc_value("imgprint/pages/not_html")
            return
        stats.inc_value("imgprint/pages")
        cap = self.config.max_images_per_page
        images, skipped = find_images(response.selector, response.url, cap + 1 if cap else 0,
                                      text=response.text, max_length=self.url_limit)
        if skipped:
            too_long = count_too_long(skipped)  # over URLLENGTH_LIMIT, dropped unjoined
            if too_long:
                stats.inc_value("imgprint/images/too_long", too_long)
            if len(skipped) > too_long:
                stats.inc_value("imgprint/images/skipped_scheme", len(skipped) - too_long)
            self.logger.debug("Skipped non-http(s) or malformed image refs on %s: %s",
                              response.url, skipped[:20])
        if cap and len(images) > cap:
            images = images[:cap]
            stats.inc_value("imgprint/pages/images_capped")
            self.logger.warning("More than %d images on %s: the rest are skipped"
                                " (IMGPRINT_MAX_IMAGES_PER_PAGE)", cap, response.url)
        found_by = "html" if self.render_mode != "off" else None
        yield from self.image_requests(images, response.url, found_by)
        depth = response.meta.get(DEPTH_KEY, 0)
        if depth < self.args.depth:
            yield from self.link_requests(response, depth + 1)
        else:  # for the summary's hint (imgprint.extensions.tally.LinksNotFollowed)
            self.crawl_state.links_at_depth_limit(
                lambda: find_links(response.selector, response.url, 0, self.url_limit))
        render = self.render_for(response, images)
        if render is not None:
            yield render

    def link_requests(self, response: TextResponse, depth: int) -> Iterator[Request]:
        """Page requests for the page's same-site links, within the per-depth cap."""
        cap = self.config.max_pages_per_depth
        done = self.crawl_state.depth_pages.get(depth, 0)
        left = cap - done if cap else 0
        if cap and left <= 0:
            self.crawler.stats.inc_value("imgprint/pages/depth_capped")
            return
        links = find_links(response.selector, response.url, left + 1 if cap else 0,
                           self.url_limit)
        if cap and len(links) > left:
            links = links[:left]
            self.crawler.stats.inc_value("imgprint/pages/depth_capped")
            self.logger.warning("More than %d pages at depth %d: the rest are skipped"
                                " (IMGPRINT_MAX_PAGES_PER_DEPTH)", cap, depth)
        self.crawl_state.depth_pages[depth] = done + len(links)
        for url in links:
            yield self.page_request(url, depth)

    def page_failed(self, failure: Failure) -> Iterator[ImageRecord]:
        request = failed_request(failure)
        url = request.url
        self._page_done(url)
        reason = describe_failure(failure, self.settings.getfloat("DOWNLOAD_TIMEOUT"))
        seed = request.meta.get(DEPTH_KEY, 0) == 0
        if seed:
            self.crawler.stats.inc_value("imgprint/seeds/failed")
        record = failed_seed_image(failure, reason) if seed else None
        if record is not None:
            self.crawl_state.frontier.owe(record, request)
            self.crawler.stats.inc_value("imgprint/images/failed")
            self.logger.error("Seed image failed: %s: %s", url, reason)
            yield record
            return
        self.crawl_state.frontier.lease_done(request)
        self.crawler.stats.inc_value("imgprint/pages/failed")
        self.logger.error("Page failed: %s: %s", url, reason)

    # -- images ------------------------------------------------------------------
    def image_requests(self, urls: list[str], page: str, found_by: str | None = None,
                       ) -> Iterator[Request]:
        """The requests for a page's images not yet requested (one frontier round
        trip for the page); a sighting for those recorded by an earlier run."""
        for url, found in zip(urls, self.crawl_state.found(urls, page), strict=True):
            if found == FOUND_RECORDED:
                self.crawler.stats.inc_value("imgprint/images/seen_before")
                self.crawl_state.emit_late(ImageRecord.sighting(url, [page]))
            elif found in (FOUND_NEW, FOUND_ADDED):
                self._signal(imgprint_signals.image_found, url=url, page=page)
                if found == FOUND_NEW:
                    yield self.image_request(url, found_by=found_by)

    def image_request(self, url: str, dont_filter: bool = False,
                      found_by: str | None = None) -> Request:
        return image_request(url, self.image_record, self.image_failed,
                             head=self.config.fetch_mode == "head", found_by=found_by,
                             dont_filter=dont_filter)

    def image_record(self, response: Response) -> ImageRecord | None:
        """The record of an image answer; the pipeline adds the fingerprint."""
        record = self.crawl_state.new_record(original_url(response.request), response.request)
        if record is None:  # recorded by another worker (imgprint.frontier)
            return None
        if fill_record(record, response).error:
            self.crawler.stats.inc_value("imgprint/images/error")
        return record

    def image_failed(self, failure: Failure) -> ImageRecord | None:
        request = failed_request(failure)
        self.crawler.stats.inc_value("imgprint/images/failed")
        record = self.crawl_state.new_record(original_url(request), request)
        if record is None:  # recorded by another worker (imgprint.frontier)
            return None
        fail_record(record, failure, self.settings.getfloat("DOWNLOAD_TIMEOUT"))
        return record
