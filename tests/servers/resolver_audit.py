"""Scrapy extension that records every host name the crawler process looks up.

    -s 'EXTENSIONS={"tests.servers.resolver_audit.ResolverAudit": 0}'
    -s RESOLVER_AUDIT_LOG=FILE

It changes nothing: it adds a CPython audit hook (PEP 578), which sees every
``socket.getaddrinfo``/``gethostbyname``/``gethostbyname_ex`` call in any thread
-- the calls through which Twisted, Scrapy's resolvers, anyio and httpx reach
the system resolver -- and appends each looked-up name to FILE, one per line.
"""

from __future__ import annotations

import sys
from typing import Any

LOOKUP_EVENTS = {"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex"}


class ResolverAudit:
    def __init__(self, path: str):
        self.file = open(path, "a", buffering=1)  # noqa: SIM115
        sys.addaudithook(self.hook)

    @classmethod
    def from_crawler(cls, crawler: Any) -> ResolverAudit:
        return cls(crawler.settings.get("RESOLVER_AUDIT_LOG"))

    def hook(self, event: str, args: tuple) -> None:
        if event in LOOKUP_EVENTS and args:
            host = args[0]
            if isinstance(host, bytes):
                host = host.decode("ascii", "replace")
            self.file.write(f"{host}\n")
