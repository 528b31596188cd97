"""An HTTP/1.1 file server on loopback whose answers to ranges are hostile.

    python -m tests.servers.hostile_ranges ROOT --log FILE [--stream BYTES]

Prints its port, then serves ``/<mode>/<path under ROOT>`` until killed, and
appends every answer to FILE as a JSON line (method, path, range, mode,
status, body bytes sent). Files are read a chunk at a time, so ROOT may hold
sparse files of any size. Requests for a range starting at byte 0 (the
crawler's first request) are always served properly; the others:

ok        Range honoured: 206 for one range, ``multipart/byteranges`` for several
overrun   206 with the asked range's Content-Range, no Content-Length, then the
          file from the range's start onwards until ``--stream`` bytes were
          sent (issue 23, finding 1: a server that answers 206 and streams)
whole     200, no Content-Length, the file from byte 0 until ``--stream`` bytes
twice     several ranges: a multipart body holding each range twice, its real
          bytes and then as many 0xEE bytes (issue 23, finding 9); one range: ok
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from pathlib import Path
from urllib.parse import unquote

from tests.servers.wire import head, read_request

CHUNK = 65536
BOUNDARY = "hostile-byteranges"
TYPES = {".tif": "image/tiff", ".html": "text/html", ".jpg": "image/jpeg"}


def parse_ranges(value: str | None, size: int) -> list[tuple[int, int]]:
    """Inclusive (first, last) ranges of a ``bytes=a-b,c-d`` value, clipped."""
    m = re.match(r"\s*bytes=(.*)$", value or "")
    if not m:
        return []
    out = []
    for spec in m.group(1).split(","):
        sm = re.match(r"\s*(\d+)-(\d*)\s*$", spec)
        if not sm:
            return []
        first = int(sm.group(1))
        last = min(int(sm.group(2)) if sm.group(2) else size - 1, size - 1)
        if first <= last:
            out.append((first, last))
    return out


def read(path: Path, first: int, n: int) -> bytes:
    with path.open("rb") as f:
        f.seek(first)
        return f.read(n)


def multipart(path: Path, size: int, ranges: list[tuple[int, int]], ctype: str,
              twice: bool) -> bytes:
    out = []
    for first, last in ranges:
        data = read(path, first, last + 1 - first)
        for body in (data, b"\xee" * len(data)) if twice else (data,):
            out.append(f"\r\n--{BOUNDARY}\r\nContent-Type: {ctype}\r\n"
                       f"Content-Range: bytes {first}-{last}/{size}\r\n\r\n".encode() + body)
    return b"".join(out) + f"\r\n--{BOUNDARY}--\r\n".encode()


async def stream(writer, path: Path, first: int, limit: int) -> int:
    """The file from ``first`` (zeros past its end) until ``limit`` bytes; the
    bytes sent before the client went away."""
    sent = 0
    with path.open("rb") as f:
        f.seek(first)
        while sent < limit:
            chunk = f.read(min(CHUNK, limit - sent)) or bytes(min(CHUNK, limit - sent))
            writer.write(chunk)
            try:
                await writer.drain()
            except ConnectionError:
                break
            sent += len(chunk)
    return sent


async def serve(writer, method: str, mode: str, path: Path, headers: dict[str, str],
                limit: int) -> tuple[int, int, bool]:
    """Write one answer: (status, body bytes sent, whether the connection stays open)."""
    if not path.is_file():
        writer.write(head("404 Not Found", {"Content-Length": "0"}))
        return 404, 0, True
    size = path.stat().st_size
    ctype = TYPES.get(path.suffix, "application/octet-stream")
    ranges = parse_ranges(headers.get("range"), size)
    if not ranges or ranges[0][0] == 0 or mode == "ok" or (mode == "twice" and len(ranges) == 1):
        mode = "ok"
    if mode == "overrun":
        first, last = ranges[0]
        writer.write(head("206 Partial Content", {
            "Content-Type": ctype, "Content-Range": f"bytes {first}-{last}/{size}",
            "Connection": "close"}))
        return 206, await stream(writer, path, first, limit), False
    if mode == "whole":
        writer.write(head("200 OK", {"Content-Type": ctype, "Connection": "close"}))
        return 200, await stream(writer, path, 0, limit), False
    if not ranges:
        body = read(path, 0, min(size, limit))
        writer.write(head("200 OK", {"Content-Type": ctype,
                                     "Content-Length": str(len(body))}) + body)
        return 200, len(body), True
    if len(ranges) == 1:
        first, last = ranges[0]
        body = read(path, first, last + 1 - first)
        writer.write(head("206 Partial Content", {
            "Content-Type": ctype, "Content-Range": f"bytes {first}-{last}/{size}",
            "Content-Length": str(len(body))}) + body)
        return 206, len(body), True
    body = multipart(path, size, ranges, ctype, twice=mode == "twice")
    writer.write(head("206 Partial Content", {
        "Content-Type": f"multipart/byteranges; boundary={BOUNDARY}",
        "Content-Length": str(len(body))}) + body)
    return 206, len(body), True


async def handle(reader, writer, root: Path, log, limit: int) -> None:
    try:
        while True:
            method, target, headers = await read_request(reader)
            parts = unquote(target).lstrip("/").split("/", 1)
            mode, rel = parts[0], parts[1] if len(parts) > 1 else ""
            status, sent, keep = await serve(writer, method, mode, root / rel, headers, limit)
            log.write(json.dumps({"method": method, "path": target, "mode": mode,
                                  "range": headers.get("range"), "status": status,
                                  "sent": sent}) + "\n")
            log.flush()
            await writer.drain()
            if not keep:
                break
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--log", required=True)
    ap.add_argument("--stream", type=int, default=64 * 1024 * 1024,
                    help="most body bytes of a streamed (overrun, whole) answer")
    args = ap.parse_args()
    log = open(args.log, "a", buffering=1)
    root = Path(args.root)
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, root, log, args.stream), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
