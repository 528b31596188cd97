"""Keep a hostile page from steering the crawler at the operator's own network.

Downloader middleware. For every request it is about to let through it:

* refuses URL schemes other than ``http``/``https``;
* resolves the host with the crawler's own resolver and refuses the request
  when any address is loopback, private, link-local, multicast, reserved or
  otherwise not globally routable (``imgprint.addresses``, IPv6 forms that
  embed an IPv4 address included) -- unless the host is a seed URL's host
  (``CrawlState.seed_hosts``), on any port: whoever seeds a private host vouches
  for that machine, and sites (and this project's tests) serve images from
  another port of the page's host. Host names compare without a trailing dot
  and in lower case. IP literals are checked without a lookup.
  The lookup here gives the refusal its message; the address actually
  connected to is checked again at connect time by ``imgprint.resolver``
  (DNS rebinding: a second lookup of the same name, or of its spelling with a
  trailing dot, may answer differently).
  ``.onion`` hosts are exempt (they are never resolved locally), and so are the
  names in requests routed through Tor (``TOR_ALL``): a local lookup would leak
  them, and Tor itself refuses private addresses. IP literals are still checked;
* caps pages (``IMGPRINT_PAGE_MAXSIZE``, through Scrapy's ``download_maxsize``)
  and lifts the cap again when a seed turns out to be an image, which
  ``RangeFetchMiddleware`` cuts at its byte budget anyway;
* keeps image answers out of the HTTP cache (``dont_cache``): cached bodies
  would hold more of an image than the record's 128-byte sample.

A refused request ends in its errback with ``AddressRefused`` (an
``IgnoreRequest``), whose message starts with "refused".

Per request it costs little: the address checks are pure functions of a
string and their answers are kept (``ipaddress`` parsing, ``is_global`` and a
raised ValueError for every host name were ~1 % of a loopback crawl's CPU), and
the seed hosts' keys are worked out again only when the seed hosts change.

Settings: ``IMGPRINT_NETGUARD_ENABLED`` (default True; False switches the whole
middleware off), ``IMGPRINT_GUARD_PRIVATE`` (default True; False turns off only
the address check), ``IMGPRINT_PAGE_MAXSIZE`` (bytes, default 10 MiB, 0: no cap),
``TOR_ALL``. Per request (``request.meta``): ``imgprint_guard_private`` (a
spider may vouch for a host it knows; follow-ups keep it).

Stats: ``imgprint/guard/refused/scheme``, ``imgprint/guard/refused/address``,
``imgprint/guard/seed_host_private`` (allowed because it is a seed host),
``imgprint/guard/resolved``, ``imgprint/guard/unresolved``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy import Request, signals
from scrapy.exceptions import CannotResolveHostError, IgnoreRequest, NotConfigured
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet import defer
from twisted.internet.interfaces import IResolutionReceiver
from zope.interface import implementer

from imgprint.addresses import host_key, ip_literal, non_public
from imgprint.config import Config
from imgprint.frontier.state import CrawlState
from imgprint.http import is_image_type
from imgprint.middlewares.tor import is_onion, uses_tor
from imgprint.resolver import GuardedResolver, allow_private
from imgprint.resolver import guard as guard_connections

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

ALLOWED_SCHEMES = ("http", "https")
#: Hosts and addresses whose checks are kept (each answer is a few bytes).
CHECKS_KEPT = 4096
_ip_literal = lru_cache(CHECKS_KEPT)(ip_literal)
_non_public = lru_cache(CHECKS_KEPT)(non_public)


class AddressRefused(IgnoreRequest):
    """The guard would not let this request reach the network."""


def refusal(host: str, addresses: list[str], seed_hosts: Collection[str]) -> str | None:
    """Why the guard refuses to connect to ``host`` at ``addresses``, or None.

    The one rule for the crawler's requests and the browser's own
    (``imgprint.render.guardproxy``): a seed host may be private, since the
    operator named it.
    """
    bad = [a for a in addresses if _non_public(a)]
    if not bad or host_key(host) in _seed_keys(seed_hosts):
        return None
    shown = host if _ip_literal(host) is not None else f"{host} ({', '.join(bad)})"
    return f"{shown} is not a public address and not a seed host"


# The last seed hosts asked about (held, so no other collection can take its
# id), how many there were, and their keys.
_seed_key_cache: tuple[Collection[str], int, frozenset[str]] = ((), 0, frozenset())


def _seed_keys(seed_hosts: Collection[str]) -> frozenset[str]:
    """``host_key`` of every seed host; worked out again when the collection
    (or its size: seed hosts are only ever added) changes."""
    global _seed_key_cache
    last, size, keys = _seed_key_cache
    if last is not seed_hosts or size != len(seed_hosts):
        keys = frozenset(host_key(h) for h in seed_hosts)
        _seed_key_cache = (seed_hosts, len(seed_hosts), keys)
    return keys


@implementer(IResolutionReceiver)
class _Addresses:
    def __init__(self) -> None:
        self.addresses: list[str] = []
        self.done: defer.Deferred[list[str]] = defer.Deferred()

    def resolutionBegan(self, resolution: Any) -> None:
        pass

    def addressResolved(self, address: Any) -> None:
        self.addresses.append(address.host)

    def resolutionComplete(self) -> None:
        self.done.callback(self.addresses)


async def resolve(host: str, port: int) -> list[str]:
    """Every address the crawler's resolver gives for ``host``, as the
    HTTP/1.1 handler's HostnameEndpoint will see them (unchecked: the guard
    refuses with its own message)."""
    from twisted.internet import reactor

    simple = getattr(reactor, "resolver", None)
    if isinstance(simple, GuardedResolver):
        return [await maybe_deferred_to_future(simple.unchecked(host))]
    receiver = _Addresses()
    reactor.nameResolver.resolveHostName(receiver, host, portNumber=port)
    return await maybe_deferred_to_future(receiver.done)


class NetGuardMiddleware:
    def __init__(self, crawler: Crawler):
        config = Config.from_crawler(crawler)
        if not config.netguard_enabled:
            raise NotConfigured("IMGPRINT_NETGUARD_ENABLED is False")
        self.crawler = crawler
        self.stats = crawler.stats
        self.tor_all = config.tor_all
        self.guard_private = config.guard_private
        self.page_maxsize = config.page_maxsize
        if self.guard_private:
            guard_connections(crawler)  # the connect-time check (imgprint.resolver)
        crawler.signals.connect(self.headers_received, signal=signals.headers_received)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> NetGuardMiddleware:
        return cls(crawler)

    def refuse(self, request: Request, kind: str, reason: str) -> AddressRefused:
        self.stats.inc_value(f"imgprint/guard/refused/{kind}")
        logger.warning("Refused %s: %s", request.url, reason)
        return AddressRefused(f"refused: {reason}")

    async def process_request(self, request: Request) -> None:
        meta = request.meta
        if meta.get("imgprint_image"):
            meta.setdefault("dont_cache", True)
        elif meta.get("imgprint_sniff"):
            if self.page_maxsize:
                meta.setdefault("download_maxsize", self.page_maxsize)
        url = urlparse_cached(request)
        scheme = url.scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            raise self.refuse(request, "scheme", f"URL scheme {scheme!r} is not http(s)")
        guard = meta.get("imgprint_guard_private", self.guard_private)
        if meta.get("proxy"):  # set by the operator's code, never by a page
            allow_private(self.crawler, urlsplit(meta["proxy"]).hostname or "")
        if not guard:
            # Vouched for: the connect-time check must let it through too.
            allow_private(self.crawler, url.hostname or "")
            return
        host = host_key(url.hostname or "")
        if is_onion(host):
            return
        literal = _ip_literal(host)
        if literal is not None:
            addresses = [literal]
        elif uses_tor(request, self.tor_all):
            return
        else:
            port = url.port or (443 if scheme == "https" else 80)
            addresses = await resolve(host, port)
            if not addresses:
                self.stats.inc_value("imgprint/guard/unresolved")
                # Refusing here (rather than letting the download look the name
                # up again) means a second lookup can never answer differently.
                raise CannotResolveHostError(f"no address for {host}")
            self.stats.inc_value("imgprint/guard/resolved")
        seeds = CrawlState.of(self.crawler).seed_hosts
        reason = refusal(host, addresses, seeds)
        if reason:
            raise self.refuse(request, "address", reason)
        if any(_non_public(a) for a in addresses):
            self.stats.inc_value("imgprint/guard/seed_host_private")

    def headers_received(self, headers: Any, body_length: Any, request: Request, spider: Any):
        # A seed that is an image: the page cap would reject a large file
        # before RangeFetchMiddleware could cut it at its budget.
        if request.meta.get("imgprint_sniff") and is_image_type(headers.get(b"Content-Type")):
            request.meta.pop("download_maxsize", None)
            request.meta["dont_cache"] = True
