"""Which requests go through Tor, and Tor's own defaults for them.

The routing functions (``is_onion``, ``uses_tor``, ``pick_proxy``) are shared
with the download handler (``imgprint.handlers.tor``), which does the routing,
and the network guard. ``TorMiddleware`` gives Tor requests their own
defaults: timeout, retries, User-Agent and per-host concurrency. It runs at
340, before DownloadTimeoutMiddleware (350) and UserAgentMiddleware (500),
which only fill in what is still unset.

Settings: ``TOR_ALL`` (route clearnet requests through Tor too),
``TOR_USER_AGENT`` (Tor Browser's), ``TOR_DOWNLOAD_TIMEOUT`` (120 s: building a
circuit to an onion service alone can take 30 s or more; with the httpx
handler it applies to each step), ``TOR_RETRY_TIMES`` (3),
``TOR_CONCURRENCY_PER_HOST`` (4: all requests to a service share one circuit,
and onion services are often small machines), ``TOR_MIDDLEWARE_ENABLED``
(False switches these defaults off; routing stays with the handler).

Per request: ``meta["tor"]`` (True: route this clearnet request through Tor);
``download_timeout``, ``max_retry_times``, ``download_slot`` and a User-Agent
header set on the request win over the defaults above.
"""

from __future__ import annotations

from hashlib import blake2b
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.exceptions import NotConfigured
from scrapy.utils.httpobj import urlparse_cached

from imgprint.addresses import host_key
from imgprint.config import Config
from imgprint.scrapy_internals import set_slot_concurrency

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler


def is_onion(host: str | None) -> bool:
    return bool(host) and host_key(host or "").endswith(".onion")


def uses_tor(request: Request, tor_all: bool) -> bool:
    """Whether ``request`` must go through Tor (onion hosts always do)."""
    if is_onion(urlparse_cached(request).hostname):
        return True
    return bool(request.meta.get("tor", tor_all))


def pick_proxy(host: str, proxies: list[str]) -> str | None:
    """The proxy for ``host``: the same one on every call, every run, every machine."""
    if not proxies:
        return None
    digest = blake2b(host_key(host).encode()).digest()
    return proxies[int.from_bytes(digest, "big") % len(proxies)]


def proxy_address(proxy: str) -> str:
    """``host:port`` of a proxy URL, as written in logs and stats."""
    parts = urlsplit(proxy)
    return f"{parts.hostname}:{parts.port or 1080}"


class TorMiddleware:
    def __init__(self, crawler: Crawler):
        config = Config.from_crawler(crawler)
        if not config.tor_middleware_enabled:
            raise NotConfigured("TOR_MIDDLEWARE_ENABLED is False")
        self.crawler = crawler
        self.tor_all = config.tor_all
        self.user_agent = config.tor_user_agent
        self.timeout = config.tor_download_timeout
        self.retry_times = config.tor_retry_times
        self.concurrency = config.tor_concurrency_per_host

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> TorMiddleware:
        return cls(crawler)

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
            set_slot_concurrency(self.crawler, host, self.concurrency)
