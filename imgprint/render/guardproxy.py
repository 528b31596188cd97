"""A SOCKS5 relay on loopback that holds the browser to the network guard.

Chromium, rendering a clearnet page, reaches the network only through this
relay (the context's proxy; Playwright proxies loopback too). For each
connection Chromium sends the host name as the page named it (SOCKS5 lets the
proxy resolve); the relay looks it up once with the crawler's own resolver
(``imgprint.middlewares.netguard.resolve``), applies the crawler's rule
(``netguard.refusal``: loopback, private, link-local and other non-global
addresses are refused unless the host is a seed host) and connects to an
address it checked, so a second lookup can never answer differently
(DNS rebinding). ``.onion`` names are refused without any lookup: a clearnet
page's onion references are crawled by imgprint itself, through Tor.

With ``IMGPRINT_NETGUARD_ENABLED`` or ``IMGPRINT_GUARD_PRIVATE`` off the relay
still runs (and still refuses onion names) but allows every address.

Stats: ``imgprint/render/guard/connections``, ``imgprint/render/guard/refused``,
``imgprint/render/guard/unresolved``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import struct
from contextlib import suppress
from typing import Any

from imgprint.addresses import host_key
from imgprint.frontier.state import CrawlState
from imgprint.middlewares.netguard import ip_literal, refusal, resolve
from imgprint.middlewares.tor import is_onion

logger = logging.getLogger(__name__)

# SOCKS5 reply codes (RFC 1928).
OK, NOT_ALLOWED, UNREACHABLE, REFUSED, BAD_COMMAND, BAD_ADDRESS = 0, 2, 4, 5, 7, 8


class Refused(Exception):
    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code


def reply(code: int) -> bytes:
    return bytes((5, code, 0, 1)) + b"\0" * 6


async def read_target(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      ) -> tuple[str, int]:
    """The SOCKS5 greeting and CONNECT request: (host, port)."""
    version, count = await reader.readexactly(2)
    methods = await reader.readexactly(count)
    if version != 5 or 0 not in methods:
        writer.write(b"\x05\xff")
        raise Refused(BAD_COMMAND, "not a SOCKS5 client without authentication")
    writer.write(b"\x05\x00")
    version, command, _, kind = await reader.readexactly(4)
    if kind == 1:
        host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
    elif kind == 4:
        host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
    elif kind == 3:
        (length,) = await reader.readexactly(1)
        try:  # an international name arrives in its ASCII (punycode) form
            host = (await reader.readexactly(length)).decode("ascii")
        except UnicodeDecodeError:
            raise Refused(BAD_ADDRESS, "a host name that is not ASCII") from None
    else:
        raise Refused(BAD_ADDRESS, f"address type {kind}")
    (port,) = struct.unpack("!H", await reader.readexactly(2))
    if command != 1:
        raise Refused(BAD_COMMAND, f"SOCKS command {command} (only CONNECT)")
    return host_key(host), port


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with suppress(OSError, asyncio.CancelledError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()


class GuardProxy:
    """``await start()`` gives the port; ``await close()`` ends every relay."""

    def __init__(self, crawler: Any, guard: bool, timeout: float):
        self.crawler = crawler
        self.stats = crawler.stats
        self.guard = guard
        self.timeout = timeout
        self.server: asyncio.Server | None = None
        self.port = 0
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> int:
        async with self._lock:
            if self.server is None:
                self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
                self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            for task in list(self._tasks):
                task.cancel()
            with suppress(Exception):
                await self.server.wait_closed()

    async def addresses(self, host: str, port: int) -> list[str]:
        """The addresses the browser may connect to for ``host``, or Refused."""
        if is_onion(host):
            raise Refused(NOT_ALLOWED, f"{host}: onion names are never looked up locally")
        literal = ip_literal(host)
        addresses = [literal] if literal else await resolve(host, port)
        if not addresses:
            self.stats.inc_value("imgprint/render/guard/unresolved")
            raise Refused(UNREACHABLE, f"no address for {host}")
        if self.guard:
            seeds = CrawlState.of(self.crawler).seed_hosts
            reason = refusal(host, addresses, seeds)
            if reason:
                raise Refused(NOT_ALLOWED, reason)
        return addresses

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._relay(reader, writer)
        except Refused as exc:
            if exc.code == NOT_ALLOWED:
                self.stats.inc_value("imgprint/render/guard/refused")
                logger.warning("Refused a browser connection: %s", exc)
            with suppress(OSError):
                writer.write(reply(exc.code))
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            pass
        except asyncio.CancelledError:
            pass  # close(): asyncio's stream callback must not see a cancelled task
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = await asyncio.wait_for(read_target(reader, writer), self.timeout)
        addresses = await self.addresses(host, port)
        upstream = None
        for address in addresses:
            with suppress(OSError, TimeoutError):
                upstream = await asyncio.wait_for(
                    asyncio.open_connection(address, port), self.timeout)
                break
        if upstream is None:
            raise Refused(REFUSED, f"could not connect to {host}:{port}")
        self.stats.inc_value("imgprint/render/guard/connections")
        up_reader, up_writer = upstream
        writer.write(reply(OK))
        both = [asyncio.ensure_future(pipe(reader, up_writer)),
                asyncio.ensure_future(pipe(up_reader, writer))]
        try:
            await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in both:
                task.cancel()
            up_writer.close()
