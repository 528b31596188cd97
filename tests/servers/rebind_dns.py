"""A hostile DNS server for the rebinding test: the first A query for a name
under ``.evil.test`` gets a public address, every later one 127.0.0.1.

    python -m tests.servers.rebind_dns [--port 53]

Names compare without a trailing dot, so ``rebind.evil.test`` and
``rebind.evil.test.`` share one count (the attack: the guard asks for one
spelling, the connect for the other). TTL 0; AAAA and other types get an empty
answer. Prints "ready" once listening.
"""

from __future__ import annotations

import argparse
import sys

from twisted.internet import defer, reactor
from twisted.names import dns, error, server

PUBLIC = "93.184.216.34"


class Rebinding:
    def __init__(self) -> None:
        self.count: dict[str, int] = {}

    def query(self, query, timeout=None):
        name = query.name.name.decode().rstrip(".").lower()
        if not name.endswith(".evil.test"):
            return defer.fail(error.DomainError())
        if query.type != dns.A:
            return defer.succeed(([], [], []))
        n = self.count[name] = self.count.get(name, 0) + 1
        address = PUBLIC if n == 1 else "127.0.0.1"
        print(f"{name} #{n} -> {address}", file=sys.stderr, flush=True)
        answer = dns.RRHeader(name=query.name.name, type=dns.A, ttl=0,
                              payload=dns.Record_A(address, ttl=0))
        return defer.succeed(([answer], [], []))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=53)
    args = parser.parse_args()
    factory = server.DNSServerFactory(clients=[Rebinding()])
    reactor.listenUDP(args.port, dns.DNSDatagramProtocol(factory), interface="127.0.0.1")
    reactor.listenTCP(args.port, factory, interface="127.0.0.1")
    print("ready", flush=True)
    reactor.run()


if __name__ == "__main__":
    main()
