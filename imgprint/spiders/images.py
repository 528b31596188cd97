"""``scrapy crawl images``: find every image on the seed pages and record each once.

Arguments: ``-a urls=FILE`` (default: setting ``IMGPRINT_URLS_FILE``, ``urls.txt``),
``-a url=URL`` (one seed, instead of the file), ``-a depth=N`` (follow same-site
links N levels; default 0).

One record per image URL. ``pages`` lists the pages that referenced it until its
record was written; pages found later that reference an already recorded image
produce a short record ``{"url", "pages", "seen_before": true, "timestamp"}``
(merge by ``url``). Page requests outrank image requests in the scheduler, so on
most sites every page is seen before its images are fetched.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, Spider, signals
from scrapy.exceptions import (
    CannotResolveHostError,
    DontCloseSpider,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.http import Response, TextResponse
from twisted.python.failure import Failure

from imgprint.discovery import find_images, find_links
from imgprint.fingerprint import normalize_etag
from imgprint.followup import fetch_metadata
from imgprint.formats import Spans
from imgprint.items import BODY_KEY, CONTENT_BYTES_KEY, SCAN_BYTES_KEY
from imgprint.journal import Journal, ResumeState
from imgprint.phash import MAX_THUMBNAIL_BYTES
from imgprint.rangefetch import is_image_type, range_problem, setting, total_size
from imgprint.urlfile import UrlFileError, check_url, read_url_file

PAGE_PRIORITY = 1
# Seed pages in flight at once when IMGPRINT_MAX_PENDING_IMAGES applies.
PAGE_WINDOW = 16
# Let error answers reach the callback (a failed image still gets a record),
# but not 3xx: RedirectMiddleware must still follow those.
ERROR_STATUSES = list(range(400, 600))


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe_failure(failure: Failure, timeout: float | None = None) -> str:
    """A one-line reason for a download that produced no answer."""
    if failure.check(DownloadTimeoutError):
        return f"timeout: no complete answer within {timeout:g} s" if timeout else "timeout"
    if failure.check(CannotResolveHostError):
        return f"DNS lookup failed: {failure.value}"
    if failure.check(DownloadConnectionRefusedError):
        return "connection refused"
    if failure.check(ResponseDataLossError):
        return "connection lost before the answer was complete"
    if failure.check(IgnoreRequest):
        return str(failure.value) or "request refused"
    return f"{type(failure.value).__name__}: {failure.value}".strip().rstrip(":")


def late_sighting(url: str, pages: list[str]) -> dict[str, Any]:
    """Pages that reference an image recorded earlier."""
    return {"url": url, "pages": pages, "seen_before": True, "timestamp": utc_now()}


def looks_like_html(body: bytes) -> bool:
    """An HTML document where image bytes were expected (an error or login page)."""
    start = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--"))


class ImagesSpider(Spider):
    name = "images"

    def __init__(
        self, urls: str | None = None, url: str | None = None, depth: str | int = 0, **kw: Any
    ):
        super().__init__(**kw)
        self.urls_file = urls
        self.url = url
        try:
            self.max_depth = int(depth)
        except ValueError:
            raise ValueError(f"depth must be a whole number, not {depth!r}") from None
        # image URL -> pages that referenced it, for images not yet recorded.
        self._pending: dict[str, list[str]] = {}
        self._late: list[dict[str, Any]] = []
        # Page requests made and not yet parsed (or failed, or dropped).
        self._open_pages = 0
        # Set when the crawl cannot start; the crawl command exits non-zero then.
        self.fatal: str | None = None
        # With JOBDIR: what earlier runs of the job did (imgprint.journal).
        self.journal: Journal | None = None
        self.resume = ResumeState()

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        super().update_settings(settings)
        # -o/-O on the command line fill FEEDS before this runs; only without
        # them does the crawl write to the default feed.
        default_feed = settings.get("IMGPRINT_DEFAULT_FEED")
        if default_feed and not settings.getdict("FEEDS"):
            settings.set("FEEDS", {default_feed: {"format": "jsonlines"}}, priority="spider")

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> ImagesSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        jobdir = crawler.settings.get("JOBDIR")
        if jobdir:
            spider.journal = Journal(jobdir)
            spider.resume = spider.journal.load()
            crawler.signals.connect(spider.journal.close, signal=signals.spider_closed)
        crawler.signals.connect(spider._request_dropped, signal=signals.request_dropped)
        crawler.signals.connect(spider._spider_idle, signal=signals.spider_idle)
        return spider

    # -- seeds -------------------------------------------------------------------
    def seed_urls(self) -> list[str]:
        if self.url:
            reason = check_url(self.url)
            if reason:
                raise UrlFileError(f"-a url={self.url!r}: {reason}")
            return [self.url]
        path = self.urls_file or self.settings.get("IMGPRINT_URLS_FILE")
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
        # Read by imgprint.netguard: only seed hosts may be non-public addresses.
        self.seed_hosts: set[str] = {urlsplit(u).hostname or "" for u in seeds}
        if self.journal:
            self.journal.note_feeds(self.crawler)
            for request in self.resumed_requests():
                yield request
        max_pending = self.settings.getint("IMGPRINT_MAX_PENDING_IMAGES")
        for url in seeds:
            if url not in self.resume.pages:
                # Memory stays flat on big seed lists: Scrapy takes start
                # requests as fast as they come and pages outrank images, so
                # without this every seed page would be parsed first and all
                # their image requests would wait in memory at once.
                while max_pending and (
                    len(self._pending) > max_pending or self._open_pages >= PAGE_WINDOW
                ):
                    await asyncio.sleep(0.05)
                yield self.page_request(url, depth=0)

    def resumed_requests(self) -> Iterator[Request]:
        """What earlier runs of this job discovered but did not finish."""
        state = self.resume
        pages, images = state.pending_pages, state.pending_images
        stats = self.crawler.stats
        stats.set_value("imgprint/resume/pages", len(pages))
        stats.set_value("imgprint/resume/images", len(images))
        stats.set_value("imgprint/resume/recorded", len(state.recorded))
        stats.set_value("imgprint/resume/repaired_lines", state.repaired)
        if state.pages:
            self.logger.info(
                "Resuming job: %d images recorded, %d pages and %d images to do"
                " (%d partial feed lines removed)",
                len(state.recorded), len(pages), len(images), state.repaired,
            )
        for url, depth in pages.items():
            yield self.page_request(url, depth, resumed=True)
        for url, on_pages in images.items():
            self._pending[url] = on_pages
            yield self._image_request(url, dont_filter=True)

    def page_request(self, url: str, depth: int, resumed: bool = False) -> Request:
        if self.journal and not resumed:
            self.journal.page(url, depth)
        self._open_pages += 1
        return Request(
            url,
            callback=self.parse,
            errback=self.page_failed,
            priority=PAGE_PRIORITY,
            meta={"imgprint_sniff": True, "imgprint_depth": depth},
            dont_filter=resumed,
        )

    def _page_done(self, url: str) -> None:
        self._open_pages -= 1
        if self.journal:
            self.journal.page_done(url)

    # -- pages -------------------------------------------------------------------
    def parse(self, response: Response) -> Iterator[Request | dict[str, Any]]:
        try:
            yield from self.parse_page(response)
        finally:
            # Only now: every image and link of the page has been journaled
            # (or the page broke the parser, and a retry would break it again).
            self._page_done(response.request.url)

    def parse_page(self, response: Response) -> Iterator[Request | dict[str, Any]]:
        yield from self._drain_late()
        if response.meta.get("imgprint_image") or is_image_type(
            response.headers.get(b"Content-Type")
        ):
            # A seed that is an image itself.
            self._pending.setdefault(response.request.url, [])
            yield self.image_record(response)
            return
        if not isinstance(response, TextResponse):
            self.logger.warning(
                "Not a page or an image, skipped: %s (Content-Type %s)",
                response.url,
                response.headers.get(b"Content-Type", b"none").decode("latin-1"),
            )
            self.crawler.stats.inc_value("imgprint/pages/not_html")
            return
        self.crawler.stats.inc_value("imgprint/pages")
        images, skipped = find_images(response.selector, response.url)
        if skipped:
            self.crawler.stats.inc_value("imgprint/images/skipped_scheme", len(skipped))
            self.logger.debug("Skipped non-http(s) image refs on %s: %s", response.url, skipped)
        for url in images:
            yield from self.image_request(url, response.url)
        depth = response.meta.get("imgprint_depth", 0)
        if depth < self.max_depth:
            for url in find_links(response.selector, response.url):
                yield self.page_request(url, depth + 1)

    def page_failed(self, failure: Failure) -> None:
        self._page_done(failure.request.url)
        self.crawler.stats.inc_value("imgprint/pages/failed")
        self.logger.error(
            "Page failed: %s: %s",
            failure.request.url,
            describe_failure(failure, self.settings.getfloat("DOWNLOAD_TIMEOUT")),
        )

    # -- images ------------------------------------------------------------------
    def image_request(self, url: str, page: str) -> Iterator[Request]:
        pages = self._pending.get(url)
        if pages is not None:
            if page not in pages:
                pages.append(page)
                if self.journal:
                    self.journal.image(url, page)
            return
        if url in self.resume.recorded:
            # Recorded by an earlier run of this job.
            self._late.append(late_sighting(url, [page]))
            return
        self._pending[url] = [page]
        if self.journal:
            self.journal.image(url, page)
        yield self._image_request(url)

    def _image_request(self, url: str, dont_filter: bool = False) -> Request:
        meta: dict[str, Any] = {"imgprint_image": True, "handle_httpstatus_list": ERROR_STATUSES}
        head_first = self.settings.get("IMGPRINT_FETCH_MODE") == "head"
        return Request(
            url,
            method="HEAD" if head_first else "GET",
            callback=self.parse_image,
            errback=self.image_failed,
            meta=meta,
            dont_filter=dont_filter,
        )

    async def parse_image(self, response: Response) -> AsyncIterator[dict[str, Any]]:
        for late in self._drain_late():
            yield late
        record = self.image_record(response)
        body = record.get(BODY_KEY)
        if body is not None:
            spans = Spans(record["image_size"])
            spans.add(0, body)
            request = response.request
            content_bytes = int(setting(request, self.settings, "content_bytes") or 0)
            scan_bytes = int(setting(request, self.settings, "phash_scan_bytes") or 0)
            result = await fetch_metadata(
                response.url, spans, self.crawler.engine.download_async,
                int(setting(request, self.settings, "followups")),
                int(setting(request, self.settings, "followup_bytes")),
                range_ignored=response.status == 200,
                content_bytes=content_bytes, thumbnail_bytes=MAX_THUMBNAIL_BYTES,
                scan_bytes=scan_bytes,
            )
            record[BODY_KEY] = spans
            record[CONTENT_BYTES_KEY] = content_bytes
            record[SCAN_BYTES_KEY] = scan_bytes
            record["requests"] += result.requests
            record["bytes_fetched"] += result.bytes
            stats = self.crawler.stats
            if result.requests:
                stats.inc_value("imgprint/followup/requests", result.requests)
                stats.inc_value("imgprint/followup/bytes", result.bytes)
            if result.incomplete:
                stats.inc_value("imgprint/followup/incomplete")
                record["metadata_incomplete"] = result.incomplete
        yield record

    def image_record(self, response: Response) -> dict[str, Any]:
        request = response.request
        url = request.meta.get("redirect_urls", [request.url])[0]
        headers = response.headers
        head = request.meta.get("imgprint_head_response") or {}
        size = total_size(response)
        if size is None and response.status < 300:
            size = head.get("size")
        content_type = headers.get(b"Content-Type") or head.get("content_type")
        record: dict[str, Any] = {
            "url": url,
            "pages": self._pending.pop(url, []),
            "image_size": size,
            "etag": normalize_etag(headers.get(b"ETag") or head.get("etag")),
            "timestamp": utc_now(),
            "content_type": content_type.decode("latin-1") if content_type else None,
            "http_status": response.status,
            "bytes_fetched": len(response.body),
            "requests": 2 if head else 1,
        }
        if response.url != url:
            record["final_url"] = response.url
        error = self.body_problem(response)
        if error:
            record["error"] = error
            self.crawler.stats.inc_value("imgprint/images/error")
        elif request.method == "GET":
            min_size = int(setting(request, self.settings, "min_size"))
            if size is None or size >= min_size:
                record[BODY_KEY] = response.body
            else:
                self.crawler.stats.inc_value("imgprint/images/small")
        else:
            self.crawler.stats.inc_value("imgprint/images/small")
        return record

    @staticmethod
    def body_problem(response: Response) -> str | None:
        """Why the body is not the first bytes of the file, or None when it is."""
        status = response.status
        if status == 416:
            return None  # nothing to hash: an empty file, or smaller than asked
        if status >= 400:
            return f"HTTP {status}"
        if looks_like_html(response.body):
            content_type = response.headers.get(b"Content-Type", b"no Content-Type")
            return f"not an image: the server sent an HTML page ({content_type.decode('latin-1')})"
        return range_problem(response, 0)

    def image_failed(self, failure: Failure) -> Iterator[dict[str, Any]]:
        request = failure.request
        url = request.meta.get("redirect_urls", [request.url])[0]
        self.crawler.stats.inc_value("imgprint/images/failed")
        yield {
            "url": url,
            "pages": self._pending.pop(url, []),
            "timestamp": utc_now(),
            "error": describe_failure(failure, self.settings.getfloat("DOWNLOAD_TIMEOUT")),
        }

    # -- pages seen after their image was recorded ---------------------------------
    def _request_dropped(self, request: Request, spider: Spider) -> None:
        if request.callback == self.parse:
            self._open_pages -= 1  # a page seen before: it will not be parsed
            return
        if not request.meta.get("imgprint_image"):
            return
        redirects = request.meta.get("redirect_urls")
        if redirects:
            # The image redirected to a URL fetched before (a loop, or another
            # image's URL): its record is written here, or it would be lost.
            self.crawler.stats.inc_value("imgprint/images/redirect_seen")
            self._late.append({
                "url": redirects[0],
                "pages": self._pending.pop(redirects[0], []),
                "timestamp": utc_now(),
                "final_url": request.url,
                "error": f"redirected to {request.url}, which was already fetched"
                " (redirect loop, or the URL of another image)",
            })
            return
        pages = self._pending.pop(request.url, None)
        if pages:
            self.crawler.stats.inc_value("imgprint/images/seen_before")
            self._late.append(late_sighting(request.url, pages))

    def _drain_late(self) -> Iterator[dict[str, Any]]:
        while self._late:
            yield self._late.pop()

    def _spider_idle(self, spider: Spider) -> None:
        if self._late:
            # data: URIs are answered locally; the callback hands the records out.
            self.crawler.engine.crawl(
                Request("data:,", callback=self._flush_late, dont_filter=True)
            )
            raise DontCloseSpider

    def _flush_late(self, response: Response) -> Iterator[dict[str, Any]]:
        yield from self._drain_late()
