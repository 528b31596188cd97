"""An HTTP/1.1 file server on loopback that misbehaves on request.

    python -m tests.servers.faulty_site ROOT --log FILE

Prints its port, then serves ``/<fault>/<path under ROOT>`` until killed, and
appends every request to FILE as a JSON line (time, method, path, range, fault).
Faults (``-once``: only the first request for that path misbehaves, later ones
are served properly):

ok            Range honoured (206), like a good static server
reset[-once]  206 headers, 1,000 body bytes, then a TCP reset
500, 502-once, 429-once, 503-retry-after (``Retry-After: 1``, once)
503-gzip-once a gzip-encoded 503 page first, then as ok (a retry must start clean)
416           416 with ``Content-Range: bytes */0`` (an empty file)
norange       200 with the whole file (Range ignored)
badrange      206 whose Content-Range starts at byte 100, with those bytes
short         206 with Content-Length 10241 but 5,000 bytes, then close
drip          206, one byte a second
endless       200, no length, the file followed by bytes forever (close-delimited)
loop          302 to itself
gzip          200, whole file gzip-encoded, ``Content-Encoding: gzip``
chunked       200, whole file in chunked transfer coding, no length
http10        HTTP/1.0 200, no Content-Length, body ends at close
slow          as ok, after 0.3 s (the log's ``active`` counts requests in progress)
slower        as ok, after 1 s
html-as-jpeg  200 ``image/jpeg`` with an HTML page as body
page          200 ``text/html`` page
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import re
import socket
import struct
import time
from pathlib import Path
from urllib.parse import unquote

from tests.servers.wire import head, read_request

HTML = b"<!doctype html><html><body><p>Not an image</p></body></html>\n"
seen: dict[str, int] = {}
active = 0


def parse_range(value: str | None, size: int) -> tuple[int, int] | None:
    m = re.match(r"bytes=(\d+)-(\d*)$", value or "")
    if not m:
        return None
    first = int(m.group(1))
    last = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
    return (first, last) if first <= last else None


async def handle(reader, writer, root: Path, log) -> None:
    try:
        while True:
            method, target, headers = await read_request(reader)
            parts = unquote(target).lstrip("/").split("/", 1)
            fault, rel = parts[0], parts[1] if len(parts) > 1 else ""
            global active
            active += 1
            log.write(json.dumps({"t": time.time(), "method": method, "path": target,
                                  "range": headers.get("range"), "fault": fault,
                                  "active": active}) + "\n")
            log.flush()
            try:
                keep = await serve(writer, method, target, fault, root / rel, headers)
            finally:
                active -= 1
            await writer.drain()
            if not keep:
                break
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def serve(writer, method, target, fault, path, headers) -> bool:
    """Write one answer; return whether the connection stays open."""
    count = seen[target] = seen.get(target, 0) + 1
    if fault.endswith("-once"):
        fault = fault[: -len("-once")] if count == 1 else "ok"
    if fault in ("slow", "slower"):
        await asyncio.sleep(0.3 if fault == "slow" else 1.0)
        fault = "ok"
    if fault == "503-retry-after":
        fault = "503" if count == 1 else "ok"
    if fault == "503-gzip":
        body = gzip.compress(b"<html>busy</html>\n")
        writer.write(head("503 Service Unavailable", {
            "Content-Length": str(len(body)), "Content-Type": "text/html",
            "Content-Encoding": "gzip"}) + body)
        return True
    if fault in ("500", "502", "503", "429"):
        body = f"status {fault}\n".encode()
        extra = {"Retry-After": "1"} if fault == "503" else {}
        writer.write(head(f"{fault} Error", {"Content-Length": str(len(body)),
                                             "Content-Type": "text/plain", **extra}) + body)
        return True
    if fault == "loop":
        writer.write(head("302 Found", {"Location": target, "Content-Length": "0"}))
        return True
    if fault in ("html-as-jpeg", "page"):
        ctype = "image/jpeg" if fault == "html-as-jpeg" else "text/html"
        writer.write(head("200 OK", {"Content-Type": ctype,
                                     "Content-Length": str(len(HTML))}) + HTML)
        return True
    if fault == "416":
        writer.write(head("416 Range Not Satisfiable",
                          {"Content-Range": "bytes */0", "Content-Length": "0"}))
        return True
    data = path.read_bytes() if path.is_file() else None
    if data is None:
        writer.write(head("404 Not Found", {"Content-Length": "0"}))
        return True
    size, ctype = len(data), {"Content-Type": "image/jpeg"}
    wanted = parse_range(headers.get("range"), size)
    first, last = wanted if wanted else (0, size - 1)
    part = data[first:last + 1]
    partial = {**ctype, "Content-Range": f"bytes {first}-{last}/{size}",
               "Content-Length": str(len(part))}
    if fault == "ok":
        if wanted is None:
            writer.write(head("200 OK", {**ctype, "Content-Length": str(size)}) + data)
        else:
            writer.write(head("206 Partial Content", partial) + part)
        return True
    if fault == "reset":
        writer.write(head("206 Partial Content", partial) + part[:1000])
        await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        return False
    if fault == "norange":
        writer.write(head("200 OK", {**ctype, "Content-Length": str(size)}) + data)
        return True
    if fault == "badrange":
        moved = data[first + 100:last + 101]
        writer.write(head("206 Partial Content", {
            **ctype, "Content-Length": str(len(moved)),
            "Content-Range": f"bytes {first + 100}-{first + 99 + len(moved)}/{size}"}) + moved)
        return True
    if fault == "short":
        writer.write(head("206 Partial Content", partial) + part[:5000])
        return False
    if fault == "drip":
        writer.write(head("206 Partial Content", partial))
        for byte in part:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(1)
        return True
    if fault == "endless":
        writer.write(head("200 OK", {**ctype, "Connection": "close"}) + data)
        for _ in range(100_000):  # bounded: about 6 GB, far more than any test reads
            writer.write(b"\0" * 65536)
            await writer.drain()
        return False
    if fault == "gzip":
        body = gzip.compress(data)
        writer.write(head("200 OK", {**ctype, "Content-Encoding": "gzip",
                                     "Content-Length": str(len(body))}) + body)
        return True
    if fault == "chunked":
        writer.write(head("200 OK", {**ctype, "Transfer-Encoding": "chunked"}))
        for i in range(0, size, 4096):
            chunk = data[i:i + 4096]
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        writer.write(b"0\r\n\r\n")
        return True
    if fault == "http10":
        writer.write(head("200 OK", {**ctype, "Connection": "close"}, "HTTP/1.0") + data)
        return False
    writer.write(head("400 Bad Request", {"Content-Length": "0"}))
    return True


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    log = open(args.log, "a", buffering=1)
    root = Path(args.root)
    server = await asyncio.start_server(lambda r, w: handle(r, w, root, log), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
