"""Serve a folder with Python's ``http.server``, which ignores Range and sends whole files.

    python -m tests.servers.norange_site ROOT --log FILE

Prints its port, serves until killed, and appends each request to FILE as a JSON
line (method, path, Range header, status).
"""

from __future__ import annotations

import argparse
import functools
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

_lock = threading.Lock()


class LoggingHandler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real server
    logfile = None

    def log_request(self, code="-", size="-"):
        entry = {"method": self.command, "path": self.path, "range": self.headers.get("Range"),
                 "status": int(code) if str(code).isdigit() else code}
        with _lock:
            self.logfile.write(json.dumps(entry) + "\n")
            self.logfile.flush()

    def log_message(self, format, *args):  # no stderr chatter
        pass


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    LoggingHandler.logfile = open(args.log, "a", buffering=1)
    handler = functools.partial(LoggingHandler, directory=args.root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
