"""Fetch only the first bytes of each image.

Downloader middleware plus two signal handlers. For requests marked as image
fetches (``meta["imgprint_image"]``) it:

* asks for ``Range: bytes=0-(IMGPRINT_RANGE_BYTES - 1)`` and ``Accept-Encoding:
  identity`` (a range of a compressed representation is not the file's bytes);
* stops reading once enough bytes arrived when a server ignores Range and sends
  the whole file (``bytes_received`` + ``StopDownload(fail=False)``);
* in HEAD-first mode (``IMGPRINT_FETCH_MODE = "head"``) turns a HEAD answer for an
  image of at least ``IMGPRINT_MIN_SIZE`` bytes (or of unknown size) into the
  ranged GET;
* notes a ``Content-Encoding`` the server applied anyway, before
  HttpCompressionMiddleware decodes and removes it.

Seeds are fetched without Range (``meta["imgprint_sniff"]``): a seed may be a
page or an image, and that is only known from the answer's Content-Type. When
it is an image, the same stop-after-N-bytes rule applies.

Settings: ``IMGPRINT_RANGE_BYTES``, ``IMGPRINT_MIN_SIZE``, ``IMGPRINT_FETCH_MODE``.
Per request (``request.meta``): ``imgprint_range_bytes``, ``imgprint_min_size``,
``imgprint_stop_at`` (bytes after which a full-body answer is cut; defaults to
the range size). The fetch mode is the spider's choice when it builds an image
request (a HEAD request is the HEAD-first mode).

Stats: ``imgprint/range/partial`` (206), ``imgprint/range/ignored`` (200 to a
ranged GET), ``imgprint/range/unsatisfiable`` (416), ``imgprint/download_stopped``,
``imgprint/head/small``, ``imgprint/head/get``, ``imgprint/content_encoding``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy import Request, signals
from scrapy.exceptions import StopDownload
from scrapy.http import Response

from imgprint.fingerprint import parse_content_range, parse_int

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings

FETCH_MODES = ("range", "head")


def setting(request: Request, settings: BaseSettings, name: str) -> Any:
    """``meta["imgprint_<name>"]`` if set, else setting ``IMGPRINT_<NAME>``."""
    key = f"imgprint_{name}"
    if key in request.meta:
        return request.meta[key]
    return settings.get(key.upper())


def range_header(start: int, end: int) -> bytes:
    """``Range`` value for the half-open span [start, end)."""
    return f"bytes={start}-{end - 1}".encode()


def total_size(response: Response) -> int | None:
    """The image's full size in bytes, from whatever the answer says; None if unknown.

    206 and 416: the total of ``Content-Range``. 200 or a HEAD answer:
    ``Content-Length``, which describes the whole representation even when the
    download was cut short.
    """
    if response.status in (206, 416):
        return parse_content_range(response.headers.get("Content-Range"))[2]
    return parse_int(response.headers.get("Content-Length"))


def range_problem(response: Response, start: int) -> str | None:
    """Why a 200/206 answer's body is not the file's bytes from ``start`` (from
    byte 0 for a 200), or None when it is."""
    encoding = response.request.meta.get("imgprint_content_encoding")
    if encoding:
        return f"server applied Content-Encoding {encoding}: the bytes are not the file's"
    if response.status == 206:
        first, _, _ = parse_content_range(response.headers.get(b"Content-Range"))
        if first != start:
            cr = response.headers.get(b"Content-Range", b"missing").decode("latin-1")
            return f"206 answer with Content-Range {cr!r}, not from byte {start}"
    return None


def is_image_type(content_type: bytes | str | None) -> bool:
    if isinstance(content_type, bytes):
        content_type = content_type.decode("latin-1")
    return bool(content_type) and content_type.strip().lower().startswith("image/")


class RangeFetchMiddleware:
    def __init__(self, crawler: Crawler):
        settings = crawler.settings
        mode = settings.get("IMGPRINT_FETCH_MODE")
        if mode not in FETCH_MODES:
            raise ValueError(f"IMGPRINT_FETCH_MODE must be one of {FETCH_MODES}, not {mode!r}")
        # Invalid values stop the crawl: without this middleware every image
        # would be downloaded whole.
        range_bytes = settings.getint("IMGPRINT_RANGE_BYTES")
        if range_bytes <= 0:
            raise ValueError(f"IMGPRINT_RANGE_BYTES must be positive, not {range_bytes}")
        self.settings = settings
        self.stats = crawler.stats
        crawler.signals.connect(self.headers_received, signal=signals.headers_received)
        crawler.signals.connect(self.bytes_received, signal=signals.bytes_received)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RangeFetchMiddleware:
        return cls(crawler)

    # -- outgoing -------------------------------------------------------------
    def process_request(self, request: Request) -> None:
        if not request.meta.get("imgprint_image"):
            return
        request.headers[b"Accept-Encoding"] = b"identity"
        if request.method == "GET" and b"Range" not in request.headers:
            size = int(setting(request, self.settings, "range_bytes"))
            request.headers[b"Range"] = range_header(0, size)

    # -- incoming -------------------------------------------------------------
    def headers_received(self, headers: Any, body_length: Any, request: Request, spider: Any):
        meta = request.meta
        if meta.get("imgprint_sniff") and is_image_type(headers.get(b"Content-Type")):
            meta["imgprint_image"] = True
        if meta.get("imgprint_image"):
            meta["_imgprint_received"] = 0
            meta["_imgprint_expected"] = body_length if isinstance(body_length, int) else None

    def bytes_received(self, data: bytes, request: Request, spider: Any) -> None:
        meta = request.meta
        if not meta.get("imgprint_image"):
            return
        got = meta["_imgprint_received"] = meta.get("_imgprint_received", 0) + len(data)
        stop_at = meta.get("imgprint_stop_at") or int(
            setting(request, self.settings, "range_bytes")
        )
        expected = meta.get("_imgprint_expected")
        # A body that ends by itself at stop_at is left alone: aborting it would
        # cost the keep-alive connection for nothing.
        if got >= stop_at and (expected is None or expected < 0 or expected > got):
            self.stats.inc_value("imgprint/download_stopped")
            raise StopDownload(fail=False)

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if not request.meta.get("imgprint_image"):
            return response
        encoding = response.headers.get(b"Content-Encoding", b"").strip().lower()
        if encoding and encoding != b"identity":
            self.stats.inc_value("imgprint/content_encoding")
            request.meta["imgprint_content_encoding"] = encoding.decode("latin-1")
        if request.method == "HEAD":
            return self._after_head(request, response)
        if b"Range" in request.headers:
            outcome = {206: "partial", 200: "ignored", 416: "unsatisfiable"}.get(response.status)
            if outcome:
                self.stats.inc_value(f"imgprint/range/{outcome}")
        return response

    def _after_head(self, request: Request, response: Response) -> Request | Response:
        if response.status != 200:
            return response
        size = total_size(response)
        if size is not None and size < int(setting(request, self.settings, "min_size")):
            self.stats.inc_value("imgprint/head/small")
            return response
        self.stats.inc_value("imgprint/head/get")
        meta = {k: v for k, v in request.meta.items() if not k.startswith("_imgprint")}
        meta["imgprint_head_response"] = {
            "size": size,
            "etag": response.headers.get(b"ETag"),
            "content_type": response.headers.get(b"Content-Type"),
        }
        return request.replace(method="GET", meta=meta, dont_filter=True)
