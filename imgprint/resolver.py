"""The address guard at connect time: a DNS resolver that will not hand out a
non-public address for a name the guard did not allow one for.

``NetGuardMiddleware`` checks a request's host before it is sent, but the
HTTP/1.1 handler looks the name up again when it connects, as Twisted spells
it (a trailing dot, other letter case): a DNS server that answers a public
address first and 127.0.0.1 second (DNS rebinding) got past a check made
before the connect. This resolver is the one Twisted's connect uses
(``TWISTED_DNS_RESOLVER``), so the address it checks is the address connected
to: a non-public answer fails the lookup (``RefusedAddress``, a
``DNSLookupError``; the record's error says the name could not be resolved)
unless the name is a seed host or a host the middleware allowed
(``allow_private``: a request vouched for with ``imgprint_guard_private``, the
host of an HTTP proxy). Scrapy's DNS cache still works underneath.

Scrapy builds the resolver once per process (with the crawler process, not a
crawler), so each crawler whose guard is on registers itself (``guard``); the
check applies while one is registered.

Settings: ``TWISTED_DNS_RESOLVER = "imgprint.resolver.GuardedResolver"``
(imgprint's default), ``IMGPRINT_NETGUARD_ENABLED`` and
``IMGPRINT_GUARD_PRIVATE`` (either False: no check here either).
Stats: ``imgprint/guard/refused/connect``.
"""

from __future__ import annotations

import logging
from typing import Any
from weakref import WeakKeyDictionary

from scrapy.resolver import CachingThreadedResolver
from twisted.internet import defer
from twisted.internet.error import DNSLookupError

from imgprint.addresses import host_key, non_public
from imgprint.frontier.state import CrawlState

logger = logging.getLogger(__name__)

# Guarded crawler -> hosts allowed to resolve to non-public addresses (besides seeds).
_GUARDED: WeakKeyDictionary[Any, set[str]] = WeakKeyDictionary()


class RefusedAddress(DNSLookupError):
    """A name resolved to a non-public address the guard did not allow."""


def guard(crawler: Any) -> None:
    """Check this crawler's connections (its guard is on)."""
    _GUARDED.setdefault(crawler, set())


def allow_private(crawler: Any, host: str) -> None:
    """Let `host` resolve to non-public addresses in this crawl."""
    if crawler in _GUARDED:
        _GUARDED[crawler].add(host_key(host))


def allowed_private(host: str) -> bool:
    """Whether a guarded crawler allows `host` (all do when none is guarded)."""
    key = host_key(host)
    for crawler, allowed in list(_GUARDED.items()):
        seeds = CrawlState.of(crawler).seed_hosts
        if key in allowed or key in {host_key(h) for h in seeds}:
            return True
    return not _GUARDED


class GuardedResolver(CachingThreadedResolver):

    def unchecked(self, name: str) -> defer.Deferred[str]:
        """The lookup without the check (the middleware's, which refuses with
        its own message and stats)."""
        return super().getHostByName(name)

    def getHostByName(self, name: str, timeout: Any = ()) -> defer.Deferred[str]:
        return super().getHostByName(name, timeout).addCallback(self._check, name)

    @staticmethod
    def _check(address: str, name: str) -> str:
        if non_public(address) and not allowed_private(name):
            for crawler in list(_GUARDED):
                if crawler.stats is not None:
                    crawler.stats.inc_value("imgprint/guard/refused/connect")
            logger.warning("Refused to connect to %s: it now resolves to %s, not a public"
                           " address (the answer changed since the guard's check)",
                           name, address)
            raise RefusedAddress(f"{name} resolved to {address}, not a public address")
        return address
