"""Send ``.onion`` requests (and, with ``TOR_ALL``, every request) through Tor.

Two parts:

* ``TorDownloadHandler``, the ``http``/``https`` download handler. Requests that
  go through Tor are handed to Scrapy's ``HttpxDownloadHandler`` with
  ``meta["proxy"]`` set to a ``socks5h://`` proxy; everything else goes to
  Scrapy's usual HTTP/1.1 handler. The choice is made here, at the last step
  before the network, so no middleware (or a cleared ``meta["proxy"]``) can turn
  an onion request into a direct connection or a local DNS lookup.
* ``TorMiddleware``, a downloader middleware giving Tor requests their own
  defaults: timeout, retries, User-Agent and per-host concurrency.

Why httpx and not PySocks (the design named PySocks): PySocks is a blocking
socket wrapper and Twisted has no SOCKS client, so using it would mean our own
HTTP client in threads, with Range, stop-after-N-bytes, timeouts and the
``headers_received``/``bytes_received`` signals re-done by hand. Scrapy's
``HttpxDownloadHandler`` (``scrapy[httpx]`` extra) already speaks SOCKS5 over the
project's asyncio reactor, sends the host name to the proxy (never resolves it
locally) and fires the same signals, so ``RangeFetchMiddleware`` and every
downloader middleware work unchanged.

Settings:

* ``TOR_PROXIES`` -- list of SOCKS5 proxy URLs (default
  ``["socks5h://127.0.0.1:9050"]``); an onion host always uses
  ``TOR_PROXIES[blake2b(host) % len(TOR_PROXIES)]``, so one service keeps one
  Tor instance (one circuit). Empty: Tor requests fail, they never fall back.
* ``TOR_ALL`` -- route clearnet requests through Tor too (default False).
* ``TOR_USER_AGENT`` -- default User-Agent of Tor requests (Tor Browser's).
* ``TOR_DOWNLOAD_TIMEOUT`` -- default ``download_timeout`` of Tor requests
  (120 s: building a circuit to an onion service alone can take 30 s or more).
  With the httpx handler the timeout applies to each step (connect, each read).
* ``TOR_RETRY_TIMES`` -- default ``max_retry_times`` of Tor requests (3).
* ``TOR_CONCURRENCY_PER_HOST`` -- concurrency of an onion host's download slot
  (4: all requests to a service share one circuit, and onion services are often
  small machines).
* ``TOR_MIDDLEWARE_ENABLED`` -- False switches the middleware's defaults off
  (routing stays: it belongs to the handler).

Per request (``request.meta``): ``tor`` (True: route this clearnet request
through Tor; onion requests always are), ``tor_proxy`` (the proxy URL to use).
``download_timeout``, ``max_retry_times``, ``download_slot`` and a User-Agent
header set on the request win over the defaults above.

Stats: ``imgprint/tor/requests``, ``imgprint/tor/proxy/<host:port>``,
``imgprint/tor/proxy_unreachable``, ``imgprint/tor/proxy_failed``.
"""

from __future__ import annotations

import logging
from hashlib import blake2b
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.core.downloader.handlers.base import BaseDownloadHandler
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    NotConfigured,
)
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import build_from_crawler

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

TOR_BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


class TorProxyError(DownloadFailedError):
    """A request that must go through Tor could not: the proxy is down or said no.

    A DownloadFailedError, so RetryMiddleware retries it, but not a
    DownloadConnectionRefusedError: the spider would report that as a plain
    "connection refused" and hide which proxy failed.
    """


def is_onion(host: str | None) -> bool:
    return bool(host) and host.rstrip(".").lower().endswith(".onion")


def uses_tor(request: Request, tor_all: bool) -> bool:
    """Whether ``request`` must go through Tor (onion hosts always do)."""
    if is_onion(urlparse_cached(request).hostname):
        return True
    return bool(request.meta.get("tor", tor_all))


def pick_proxy(host: str, proxies: list[str]) -> str | None:
    """The proxy for ``host``: the same one on every call, every run, every machine."""
    if not proxies:
        return None
    digest = blake2b(host.rstrip(".").lower().encode()).digest()
    return proxies[int.from_bytes(digest, "big") % len(proxies)]


def proxy_address(proxy: str) -> str:
    """``host:port`` of a proxy URL, as written in logs and stats."""
    parts = urlsplit(proxy)
    return f"{parts.hostname}:{parts.port or 1080}"


class TorDownloadHandler(BaseDownloadHandler):
    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        settings = crawler.settings
        self.proxies: list[str] = settings.getlist("TOR_PROXIES")
        self.tor_all = settings.getbool("TOR_ALL")
        self.stats = crawler.stats
        self.clearnet = build_from_crawler(HTTP11DownloadHandler, crawler)
        # Built on first use: a clearnet-only crawl then needs no httpx and gets
        # no "experimental handler" warning.
        self._tor: BaseDownloadHandler | None = None
        self._reported: set[str] = set()

    def _tor_handler(self) -> BaseDownloadHandler:
        if self._tor is None:
            from scrapy.core.downloader.handlers._httpx import HttpxDownloadHandler

            self._tor = build_from_crawler(HttpxDownloadHandler, self.crawler)
        return self._tor

    async def download_request(self, request: Request) -> Response:
        if not uses_tor(request, self.tor_all):
            return await self.clearnet.download_request(request)
        host = urlparse_cached(request).hostname or ""
        proxy = request.meta.get("tor_proxy") or pick_proxy(host, self.proxies)
        if not proxy:
            raise TorProxyError(f"no Tor proxy configured (TOR_PROXIES is empty) for {host}")
        # socks5h: the proxy resolves the name; httpx treats socks5 the same, but
        # the URL should say what happens.
        if proxy.startswith("socks5://"):
            proxy = "socks5h://" + proxy[len("socks5://") :]
        request.meta["proxy"] = proxy
        # Credentials meant for an HTTP proxy must not go to the onion service.
        request.headers.pop(b"Proxy-Authorization", None)
        address = proxy_address(proxy)
        self.stats.inc_value("imgprint/tor/requests")
        self.stats.inc_value(f"imgprint/tor/proxy/{address}")
        try:
            return await self._tor_handler().download_request(request)
        except (DownloadConnectionRefusedError, CannotResolveHostError) as exc:
            raise self._proxy_error(exc, address, host) from exc

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
            seeds = getattr(self.crawler.spider, "seed_hosts", None) or set()
            every_seed = seeds and all(is_onion(h) for h in seeds)
            logger.error(
                "%s (%s): every request routed through it fails%s. "
                "Is Tor running? See README, section Tor.",
                message,
                exc,
                "; all seeds are onion URLs, so this crawl fetches nothing" if every_seed else "",
            )
        return TorProxyError(f"{message}: {exc}")

    async def close(self) -> None:
        await self.clearnet.close()
        if self._tor is not None:
            await self._tor.close()


class TorMiddleware:
    def __init__(self, crawler: Crawler):
        settings = crawler.settings
        if not settings.getbool("TOR_MIDDLEWARE_ENABLED", True):
            raise NotConfigured("TOR_MIDDLEWARE_ENABLED is False")
        self.crawler = crawler
        self.tor_all = settings.getbool("TOR_ALL")
        self.user_agent: str = settings.get("TOR_USER_AGENT")
        self.timeout = settings.getfloat("TOR_DOWNLOAD_TIMEOUT")
        self.retry_times = settings.getint("TOR_RETRY_TIMES")
        self.concurrency = settings.getint("TOR_CONCURRENCY_PER_HOST")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> TorMiddleware:
        return cls(crawler)

    # Runs before DownloadTimeoutMiddleware (350) and UserAgentMiddleware (500),
    # which only fill in what is still unset.
    def process_request(self, request: Request) -> None:
        if not uses_tor(request, self.tor_all):
            return
        meta: dict[str, Any] = request.meta
        if self.timeout:
            meta.setdefault("download_timeout", self.timeout)
        meta.setdefault("max_retry_times", self.retry_times)
        if self.user_agent:
            request.headers.setdefault(b"User-Agent", self.user_agent)
        host = urlparse_cached(request).hostname or ""
        if is_onion(host) and self.concurrency and "download_slot" not in meta:
            # The downloader reads a slot's concurrency from DOWNLOAD_SLOTS when
            # it creates the slot; onion hosts are not known in advance.
            slots = self.crawler.engine.downloader.per_slot_settings
            slots.setdefault(host, {}).setdefault("concurrency", self.concurrency)
