"""The ``http``/``https`` download handler: Tor requests go through SOCKS5.

Requests that go through Tor (``imgprint.middlewares.tor.uses_tor``: onion
hosts always, clearnet ones with ``TOR_ALL`` or ``meta["tor"]``) are handed to
Scrapy's ``HttpxDownloadHandler`` with ``meta["proxy"]`` set to a ``socks5h://``
proxy; everything else goes to Scrapy's usual HTTP/1.1 handler. The choice is
made here, at the last step before the network, so no middleware (or a cleared
``meta["proxy"]``) can turn an onion request into a direct connection or a
local DNS lookup.

Why httpx and not PySocks: PySocks is a blocking socket wrapper and Twisted
has no SOCKS client, so using it would mean our own HTTP client in threads,
with Range, stop-after-N-bytes, timeouts and the ``headers_received``/
``bytes_received`` signals re-done by hand. Scrapy's ``HttpxDownloadHandler``
(``scrapy[httpx]`` extra) already speaks SOCKS5 over the project's asyncio
reactor, sends the host name to the proxy (never resolves it locally) and
fires the same signals, so every downloader middleware works unchanged.

Settings: ``TOR_PROXIES`` (SOCKS5 proxy URLs; an onion host always uses
``TOR_PROXIES[blake2b(host) % len(TOR_PROXIES)]``, so one service keeps one Tor
instance; empty: Tor requests fail, they never fall back), ``TOR_ALL``.
Per request: ``meta["tor_proxy"]`` (the proxy URL to use).

Pages to render (``meta["_imgprint_render"]``, with ``IMGPRINT_RENDER`` on or
auto) go to the crawl's one ``imgprint.render.handler.RenderHandler``, routed
here like every other request: a Tor page through the Tor proxy picked for its
host, a clearnet page through the network guard's relay.

Stats: ``imgprint/tor/requests``, ``imgprint/tor/proxy/<host:port>``,
``imgprint/tor/proxy_unreachable``, ``imgprint/tor/proxy_failed``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy.core.downloader.handlers.base import BaseDownloadHandler
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    NotSupported,
)
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import build_from_crawler

from imgprint.config import Config
from imgprint.frontier.state import CrawlState
from imgprint.handlers.shortstack import import_with_a_short_stack
from imgprint.middlewares.tor import is_onion, pick_proxy, proxy_address, uses_tor
from imgprint.render.mode import render_mode
from imgprint.render.page import RENDER_KEY
from imgprint.scrapy_internals import httpx_handler_class

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)


def http11_handler_class() -> type[HTTP11DownloadHandler]:
    """Scrapy's HTTP/1.1 download handler, its module imported with a short stack."""
    module = import_with_a_short_stack("scrapy.core.downloader.handlers.http11")
    handler: type[HTTP11DownloadHandler] = module.HTTP11DownloadHandler
    return handler


class TorProxyError(DownloadFailedError):
    """A request that must go through Tor could not: the proxy is down or said no.

    A DownloadFailedError, so RetryMiddleware retries it, but not a
    DownloadConnectionRefusedError: the spider would report that as a plain
    "connection refused" and hide which proxy failed.
    """


class TorDownloadHandler(BaseDownloadHandler):
    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        config = Config.from_crawler(crawler)
        self.proxies: list[str] = config.tor_proxies
        self.tor_all = config.tor_all
        self.stats = crawler.stats
        self.clearnet = build_from_crawler(http11_handler_class(), crawler)
        # Built on first use: a clearnet-only crawl then needs no httpx and gets
        # no "experimental handler" warning.
        self._tor: BaseDownloadHandler | None = None
        self._reported: set[str] = set()
        self.render: Any = None
        if render_mode(crawler) != "off":
            # Imported only when used: a crawl without rendering loads no Playwright.
            from imgprint.render.handler import shared_handler

            self.render = shared_handler(crawler)

    def _tor_handler(self) -> BaseDownloadHandler:
        if self._tor is None:
            self._tor = build_from_crawler(httpx_handler_class(), self.crawler)
        return self._tor

    def _tor_proxy(self, request: Request) -> tuple[str, str]:
        """The proxy URL for a Tor request, and its ``host:port``; counted."""
        host = urlparse_cached(request).hostname or ""
        proxy = request.meta.get("tor_proxy") or pick_proxy(host, self.proxies)
        if not proxy:
            raise TorProxyError(f"no Tor proxy configured (TOR_PROXIES is empty) for {host}")
        # socks5h: the proxy resolves the name; httpx treats socks5 the same, but
        # the URL should say what happens.
        if proxy.startswith("socks5://"):
            proxy = "socks5h://" + proxy[len("socks5://") :]
        address = proxy_address(proxy)
        self.stats.inc_value("imgprint/tor/requests")
        self.stats.inc_value(f"imgprint/tor/proxy/{address}")
        return proxy, address

    async def download_request(self, request: Request) -> Response:
        if request.meta.get(RENDER_KEY):
            return await self._render(request)
        if not uses_tor(request, self.tor_all):
            return await self.clearnet.download_request(request)
        host = urlparse_cached(request).hostname or ""
        proxy, address = self._tor_proxy(request)
        request.meta["proxy"] = proxy
        # Credentials meant for an HTTP proxy must not go to the onion service.
        request.headers.pop(b"Proxy-Authorization", None)
        try:
            return await self._tor_handler().download_request(request)
        except (DownloadConnectionRefusedError, CannotResolveHostError) as exc:
            raise self._proxy_error(exc, address, host) from exc

    async def _render(self, request: Request) -> Response:
        if self.render is None:
            raise NotSupported("a render request with IMGPRINT_RENDER off")
        proxy = self._tor_proxy(request)[0] if uses_tor(request, self.tor_all) else None
        return await self.render.render(request, proxy)

    def _proxy_error(self, exc: Exception, address: str, host: str) -> TorProxyError:
        # httpx reports a SOCKS reply ("host unreachable", "connection refused" by
        # the far end) as ProxyError; any other connect error is the proxy itself.
        if type(exc.__cause__).__name__ == "ProxyError":
            self.stats.inc_value("imgprint/tor/proxy_failed")
            return TorProxyError(f"Tor proxy {address} could not reach {host}: {exc}")
        self.stats.inc_value("imgprint/tor/proxy_unreachable")
        message = f"Tor proxy {address} unreachable"
        if address not in self._reported:
            # Once per proxy, so a crawl of onion seeds with Tor down says so at
            # its start instead of only in one line per request.
            self._reported.add(address)
            seeds = CrawlState.of(self.crawler).seed_hosts
            every_seed = seeds and all(is_onion(h) for h in seeds)
            logger.error(
                "%s (%s): every request routed through it fails%s. "
                "Is Tor running? See docs/tor.md.",
                message,
                exc,
                "; all seeds are onion URLs, so this crawl fetches nothing" if every_seed else "",
            )
        return TorProxyError(f"{message}: {exc}")

    async def close(self) -> None:
        await self.clearnet.close()
        if self._tor is not None:
            await self._tor.close()
        if self.render is not None:
            await self.render.release()
