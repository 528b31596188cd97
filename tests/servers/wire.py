"""HTTP/1.1 on a raw stream, for the crafted servers that must misbehave in ways
no server library allows (faulty_site, hostile_ranges)."""

from __future__ import annotations

import asyncio


def head(status: str, headers: dict[str, str], version: str = "HTTP/1.1") -> bytes:
    lines = [f"{version} {status}"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str]]:
    """(method, target, headers with lower-case names) of the next request."""
    request = await reader.readuntil(b"\r\n\r\n")
    lines = request.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {k.strip().lower(): v.strip()
               for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
    return method, target, headers
