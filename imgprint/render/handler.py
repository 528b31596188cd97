"""scrapy-playwright's download handler, one per crawl, behind imgprint's own.

Scrapy builds a download handler per scheme; ``TorDownloadHandler`` (http and
https) asks ``shared_handler(crawler)`` for the one ``RenderHandler`` of the
crawl, so http and https pages share one Playwright driver and one Chromium.
Only render requests (``meta[RENDER_KEY]``) come here; everything else, image
requests above all, stays on imgprint's handler with its byte cut-off.

Routing is decided by the caller (``TorDownloadHandler``, as for every other
request): ``render(request, tor_proxy)`` puts a Tor page in a browser context
whose proxy is that Tor SOCKS proxy (Chromium sends the host name to it and
never resolves it), and a clearnet page in the context whose proxy is the guard
relay (``imgprint.render.guardproxy``). Context names carry the proxy, so a
context never serves two routes.

Limits: ``IMGPRINT_RENDER_PAGES`` pages open at once per context
(``PLAYWRIGHT_MAX_PAGES_PER_CONTEXT``), navigation and each step within the
request's ``download_timeout`` (``DOWNLOAD_TIMEOUT``, ``TOR_DOWNLOAD_TIMEOUT``),
scrolling and waiting within ``IMGPRINT_RENDER_WAIT``, the rendered DOM within
``IMGPRINT_PAGE_MAXSIZE``, each renderer's memory within
``IMGPRINT_RENDER_MEMORY`` (``imgprint.render.browser``; a renderer that
crashes aborts its page's render, which is not tried again); service workers
blocked (they could fetch around the page's routes).

The Playwright driver starts with the first page to render, not with the
engine (scrapy-playwright's default): an ``auto`` crawl that renders nothing
starts no driver and no browser. That calls scrapy-playwright's ``_launch``
(pinned 0.0.48).

Stats: ``imgprint/render/time_ms`` (summed, waiting for a page slot included),
``imgprint/render/page_ms`` (summed, the page's own time in the browser),
``imgprint/render/aborted`` (requests the browser was not let make: images,
media, fonts),
``imgprint/render/refused_literal``, ``imgprint/render/scroll_capped``,
``imgprint/render/crashed`` (renders whose renderer crashed: over
``IMGPRINT_RENDER_MEMORY``, most likely), and scrapy-playwright's
``playwright/...``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from scrapy import signals
from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler
from scrapy_playwright.page import PageMethod

from imgprint.config import Config
from imgprint.frontier.state import CrawlState
from imgprint.middlewares.tor import proxy_address
from imgprint.render.browser import launch_options
from imgprint.render.guardproxy import GuardProxy
from imgprint.render.page import RENDER_KEY, RenderJob, RenderLimits, abort_request

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

_SHARED: WeakKeyDictionary[Crawler, RenderHandler] = WeakKeyDictionary()


class _FailedPageToDebug(logging.Filter):
    """scrapy-playwright logs every failed render as a WARNING with a traceback
    (~40 lines); the spider's own one-line warning says what failed and why
    (``imgprint.render.spider``), so that record goes to DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Closing page due to failed request"):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


_PLAYWRIGHT_LOG = logging.getLogger("scrapy-playwright")
if not any(isinstance(f, _FailedPageToDebug) for f in _PLAYWRIGHT_LOG.filters):
    _PLAYWRIGHT_LOG.addFilter(_FailedPageToDebug())


def shared_handler(crawler: Crawler) -> RenderHandler:
    """The crawl's one render handler (built on first call)."""
    handler = _SHARED.get(crawler)
    if handler is None:
        handler = _SHARED[crawler] = RenderHandler(crawler)
    handler.users += 1
    return handler


class RenderHandler(ScrapyPlaywrightDownloadHandler):
    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        config = Config.from_crawler(crawler)
        settings = crawler.settings
        self.config.launch_options = launch_options(self.config.launch_options,
                                                    config.render_memory)
        self.memory = config.render_memory
        self.config.max_pages_per_context = config.render_pages
        self.timeout = settings.getfloat("DOWNLOAD_TIMEOUT")
        self.config.navigation_timeout_ms = self.timeout * 1000
        self.abort_request = abort_request
        self.max_size = config.page_maxsize
        self.wait = config.render_wait
        self.scrolls = config.render_scrolls
        self.url_limit = settings.getint("URLLENGTH_LIMIT")
        # Image URLs noted from the browser's requests: the page's cap, and then some.
        self.keep = 2 * config.max_images_per_page if config.max_images_per_page else 10_000
        self.guard = config.netguard_enabled and config.guard_private
        self.guard_proxy = GuardProxy(crawler, self.guard, self.timeout)
        self.users = 0
        crawler.signals.disconnect(self._maybe_launch_in_thread, signal=signals.engine_started)
        self._launched = False
        self._launch_lock = asyncio.Lock()

    async def _launch_once(self) -> None:
        async with self._launch_lock:
            if not self._launched:
                self._launched = True
                await self._launch()

    async def render(self, request: Request, tor_proxy: str | None) -> Response:
        """Render a page: through ``tor_proxy`` (a socks5 URL), or the guard relay."""
        job: RenderJob = request.meta[RENDER_KEY]
        timeout = float(request.meta.get("download_timeout") or self.timeout)
        job.limits = RenderLimits(self.wait, self.scrolls, self.max_size, timeout,
                                  self.url_limit, self.keep)
        job.seed_hosts = frozenset(CrawlState.of(self._crawler).seed_hosts)
        job.guard = self.guard
        if tor_proxy:
            server = f"socks5://{proxy_address(tor_proxy)}"
            name = f"tor {proxy_address(tor_proxy)}"
        else:
            server = f"socks5://127.0.0.1:{await self.guard_proxy.start()}"
            name = "guarded"
        agent = request.headers.get(b"User-Agent")
        request.meta.update({
            "playwright": True,
            "playwright_context": name,
            "playwright_context_kwargs": {
                "proxy": {"server": server},
                "service_workers": "block",
                **({"user_agent": agent.decode("latin-1")} if agent else {}),
            },
            "playwright_page_init_callback": job.init_page,
            "playwright_page_methods": [PageMethod(job.settle)],
        })
        started = time.monotonic()
        try:
            await self._launch_once()
            return await self.download_request(request)
        finally:
            stats = self.stats
            stats.inc_value("imgprint/render/time_ms", int((time.monotonic() - started) * 1000))
            stats.inc_value("imgprint/render/page_ms", int(max(job.busy, 0) * 1000))
            stats.inc_value("imgprint/render/aborted", job.aborted)
            stats.inc_value("imgprint/render/refused_literal", len(job.refused))
            if job.scroll_capped:
                stats.inc_value("imgprint/render/scroll_capped")
            if job.crashed:
                stats.inc_value("imgprint/render/crashed")

    async def release(self) -> None:
        """Called by each handler that got this one; the last closes the browser."""
        self.users -= 1
        if self.users <= 0:
            _SHARED.pop(self._crawler, None)
            await self.close()  # the browser first: its connections end, then the relay
            await self.guard_proxy.close()
