"""The spider's side of rendering: which pages, and what their render adds.

``RenderingMixin`` is mixed into ``ImagesSpider``. After a page's static HTML
has been discovered (its images requested, ``found_by: "html"``), ``render_for``
makes the render request for it when rendering is on, or auto and the page
looks script-built (``imgprint.render.heuristic``). ``parse_rendered`` requests
the images that only the browser showed: in the rendered DOM (``"dom"``), else
among the browser's own image requests (``"requests"``), within
``IMGPRINT_MAX_IMAGES_PER_PAGE`` for static and rendered together, and follows
links of the rendered DOM within ``-a depth`` and its per-depth cap. The page
counts as finished (resume) only after its render, or its render's failure,
which keeps what the static HTML gave.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from scrapy import Request
from scrapy.http import Response, TextResponse

from imgprint.discovery import absolute_urls, count_too_long, find_images
from imgprint.failures import describe_failure, failed_request
from imgprint.frontier.state import RENDERED_PAGE_KEY as PAGE_KEY
from imgprint.render.heuristic import render_reason
from imgprint.render.page import RENDER_KEY, RenderJob

if TYPE_CHECKING:
    from twisted.python.failure import Failure

STATIC_KEY = "_imgprint_static_images"


class RenderingMixin:
    render_mode: str = "off"
    # Provided by the spider.
    crawler: Any
    config: Any
    logger: Any
    settings: Any
    args: Any
    url_limit: int

    def render_for(self, response: TextResponse, images: list[str]) -> Request | None:
        """The render request for a parsed page, or None."""
        stats = self.crawler.stats
        if self.render_mode == "off":
            return None
        if self.render_mode == "auto":
            reason = render_reason(response.selector, len(images))
            stats.inc_value(f"imgprint/render/auto/{reason or 'static'}")
            if reason is None:
                return None
        assert response.request is not None
        job = RenderJob(response.url, response.body, response.encoding)
        return Request(response.url, callback=self.parse_rendered, errback=self.render_failed,
                       priority=self.page_priority, dont_filter=True,
                       meta={RENDER_KEY: job, STATIC_KEY: frozenset(images),
                             PAGE_KEY: response.request.url, "dont_retry": True,
                             self.depth_key: response.meta.get(self.depth_key, 0)})

    def parse_rendered(self, response: Response) -> Iterator[Request]:
        assert isinstance(response, TextResponse)  # scrapy-playwright's HtmlResponse
        meta = response.meta
        job: RenderJob = meta[RENDER_KEY]
        stats = self.crawler.stats
        try:
            stats.inc_value("imgprint/render/pages")
            seen = set(meta[STATIC_KEY])
            dom, skipped = find_images(response.selector, response.url,
                                       max_length=self.url_limit)
            dom = [u for u in dom if u not in seen]
            seen.update(dom)
            asked, skipped_asked = absolute_urls(job.requested, response.url, 0, self.url_limit)
            asked = [u for u in asked if u not in seen]
            too_long = count_too_long(skipped) + count_too_long(skipped_asked) + job.too_long
            if too_long:
                stats.inc_value("imgprint/images/too_long", too_long)
            cap = self.config.max_images_per_page  # for the page, static and rendered
            room = max(cap - len(meta[STATIC_KEY]), 0) if cap else len(dom) + len(asked)
            if len(dom) + len(asked) > room:
                stats.inc_value("imgprint/pages/images_capped")
                dom, asked = dom[:room], asked[:max(room - len(dom), 0)]
            for found_by, urls in (("dom", dom), ("requests", asked)):
                if urls:
                    stats.inc_value(f"imgprint/render/images/{found_by}", len(urls))
                yield from self.image_requests(urls, response.url, found_by)
            depth = meta.get(self.depth_key, 0)
            if depth < self.args.depth:
                yield from self.link_requests(response, depth + 1)
        finally:
            self._page_done(meta[PAGE_KEY])

    def render_failed(self, failure: Failure) -> None:
        request = failed_request(failure)
        self.crawler.stats.inc_value("imgprint/render/failed")
        job: RenderJob = request.meta[RENDER_KEY]
        if job.crashed:
            reason = ("the page's renderer crashed, most likely over IMGPRINT_RENDER_MEMORY"
                      f" ({self.config.render_memory} bytes): render aborted")
        else:
            reason = describe_failure(failure, self.settings.getfloat("DOWNLOAD_TIMEOUT"))
        self.logger.warning("Render failed (the static HTML's images are kept): %s: %s",
                            request.url, reason)
        self._page_done(request.meta[PAGE_KEY])

    # Provided by the spider.
    page_priority: int
    depth_key: str

    def image_requests(self, urls: list[str], page: str, found_by: str | None = None,
                       ) -> Iterator[Request]:
        raise NotImplementedError

    def link_requests(self, response: TextResponse, depth: int) -> Iterator[Request]:
        raise NotImplementedError

    def _page_done(self, url: str) -> None:
        raise NotImplementedError
