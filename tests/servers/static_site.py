"""Serve a folder with Twisted's ``static.File`` (which honours Range) on loopback.

    python -m tests.servers.static_site ROOT --log FILE [--port N] [--type EXT=MIME ...]

Prints the port it listens on, then serves until killed. Every finished request
is appended to FILE as a JSON line: method, path, Range header, status, bytes
sent, Host and User-Agent headers. ``/status/<code>/<anything>`` answers with
that HTTP status, so tests can put failing image URLs on a page.
"""

from __future__ import annotations

import argparse
import json
import sys

from twisted.internet import endpoints, reactor
from twisted.web import resource, server, static


class Status(resource.Resource):
    isLeaf = True

    def render(self, request):
        first = request.postpath[0] if request.postpath else b""
        code = int(first) if first.isdigit() else 500
        request.setResponseCode(code)
        request.setHeader(b"Content-Type", b"text/plain")
        return f"status {code}\n".encode()


class Slow(resource.Resource):
    """A page answered after a pause (``--slow NAME=SECONDS``)."""

    isLeaf = True

    def __init__(self, path: str, seconds: float):
        super().__init__()
        self.path, self.seconds = path, seconds

    def render(self, request):
        def answer():
            request.setHeader(b"Content-Type", b"text/html")
            with open(self.path, "rb") as f:
                request.write(f.read())
            request.finish()

        reactor.callLater(self.seconds, answer)
        return server.NOT_DONE_YET


class LoggingSite(server.Site):
    def __init__(self, root, logfile):
        super().__init__(root)
        self.logfile = logfile

    def log(self, request):
        entry = {
            "method": request.method.decode(),
            "path": request.uri.decode("latin-1"),
            "range": (request.getHeader(b"range") or b"").decode("latin-1") or None,
            "status": request.code,
            "sent": request.sentLength,
            "host": (request.getHeader(b"host") or b"").decode("latin-1"),
            "ua": (request.getHeader(b"user-agent") or b"").decode("latin-1"),
        }
        self.logfile.write(json.dumps(entry) + "\n")
        self.logfile.flush()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--log", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--type", action="append", default=[], help="EXT=MIME, e.g. .fuzzed=image/jpeg")
    ap.add_argument("--slow", action="append", default=[], help="NAME=SECONDS: answer late")
    args = ap.parse_args()
    root = static.File(args.root)
    for item in args.type:
        ext, mime = item.split("=", 1)
        root.contentTypes[ext] = mime
    root.putChild(b"status", Status())
    for item in args.slow:
        name, seconds = item.split("=", 1)
        root.putChild(name.encode(), Slow(f"{args.root}/{name}", float(seconds)))
    site = LoggingSite(root, open(args.log, "a", buffering=1))
    endpoint = endpoints.TCP4ServerEndpoint(reactor, args.port, interface="127.0.0.1")
    port = endpoint.listen(site)
    port.addCallback(lambda p: (print(p.getHost().port, flush=True), sys.stdout.flush()))
    reactor.run()


if __name__ == "__main__":
    main()
