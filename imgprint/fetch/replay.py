"""The fetch over a file's bytes, as a Range-honouring server would serve it.

The crawler's own ``fetch_image`` and follow-up loop, with a download that
reads ``data``: tests and bench run the very code a crawl runs, without a
server. Answers are nginx's: 206 with ``Content-Range`` for one range,
``multipart/byteranges`` for several; ``answer`` makes it a server that
handles several ranges badly ("whole": 200 with the file from byte 0, cut as
the crawler cuts it; "first": only the first range; "416"; "twice": each
range's part, then each again with other bytes).
"""

from __future__ import annotations

import asyncio

from scrapy.http import Response

from imgprint.fetch.band import BandCheck
from imgprint.fetch.image import band_check_inline, fetch_image
from imgprint.fetch.loop import Budget, RangesDownload
from imgprint.fetch.protocol import FetchedImage
from imgprint.multirange import answer_limit, byteranges_body

#: The seed tool's prefix: 10,240 bytes hashed, one more read.
PREFIX = 10241
# byteranges_body's default, which the benches always used: its length counts in
# the bytes of every multi-range answer, so in the figures of docs/benchmarks.md.
BOUNDARY = "imgprint-byteranges"


def range_answer(data: bytes, start: int, end: int, url: str = "http://local/file") -> Response:
    """A 206 answer holding ``data[start:end]`` (cut at the file's end)."""
    last = min(end, len(data)) - 1
    return Response(url, status=206, body=data[start:last + 1],
                    headers={"Content-Range": f"bytes {start}-{last}/{len(data)}"})


def file_download(data: bytes, log: list[list[tuple[int, int]]] | None = None,
                  answer: str = "multipart", url: str = "http://local/file") -> RangesDownload:
    """A download of ranges of ``data``; ``log`` collects each request's ranges."""

    async def download(ranges: list[tuple[int, int]], limit: int) -> Response:
        if log is not None:
            log.append(list(ranges))
        if len(ranges) == 1 or answer == "first":
            return range_answer(data, *ranges[0], url=url)
        if answer == "whole":
            return Response(url, status=200, body=data[:answer_limit(ranges, "whole", limit)])
        if answer == "416":
            return Response(url, status=416, headers={"Content-Range": f"bytes */{len(data)}"})
        body = byteranges_body(data, ranges, BOUNDARY.encode())
        if answer == "twice":  # each range again, with other bytes
            other = data.translate(bytes(range(255, -1, -1)))
            body = body[:body.rindex(b"\r\n--")] + byteranges_body(other, ranges,
                                                                   BOUNDARY.encode())
        return Response(url, status=206, body=body,
                        headers={"Content-Type": f"multipart/byteranges; boundary={BOUNDARY}"})

    return download


def replay(data: bytes, budget: Budget, *, min_size: int = 0, prefix: int = PREFIX,
           multi: bool = True, answer: str = "multipart",
           log: list[list[tuple[int, int]]] | None = None,
           url: str = "http://local/file",
           band_check: BandCheck | None = band_check_inline) -> FetchedImage:
    """What a crawl holds of ``data``: its first ``prefix`` bytes, then the
    follow-ups ``budget`` allows (``multi``: several ranges a request;
    ``band_check``: whether the top band fell short, run inline)."""
    first = range_answer(data, 0, prefix, url) if data else Response(
        url, status=416, headers={"Content-Range": "bytes */0"})
    download = file_download(data, log, answer, url)
    return asyncio.run(fetch_image(first, download, budget, min_size=min_size, multi=multi,
                                   band_check=band_check))


def shipped_budget() -> Budget:
    """The budget a crawl with imgprint's default settings uses."""
    from scrapy.settings import Settings

    from imgprint import settings
    from imgprint.config import Config

    return Budget.from_config(Config.from_settings(Settings(
        {k: getattr(settings, k) for k in dir(settings) if k.isupper()})))
