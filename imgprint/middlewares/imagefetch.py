"""Fetch the few bytes of an image that imgprint needs: one downloader middleware.

For every image request (``meta["imgprint_image"]``), and for a seed
(``meta["imgprint_sniff"]``) whose answer turns out to be an image, however it
was reached (page, seed, redirect, retry, resume), it:

* asks for ``Range: bytes=0-(IMGPRINT_RANGE_BYTES - 1)`` with ``Accept-Encoding:
  identity`` (a range of a compressed representation is not the file's bytes);
* stops reading once the asked bytes arrived when a server ignores Range and
  sends the whole file (``bytes_received`` + ``StopDownload(fail=False)``);
  a follow-up is cut by the bytes received for it: the bytes asked (plus part
  headers), never more than what is left of ``IMGPRINT_FOLLOWUP_BYTES``
  (``answer_cut``); a partial answer that runs past them is flagged
  (``OVERRUN_FLAG``): the loop keeps the bytes asked and the record says so
  in ``metadata_incomplete``;
* in HEAD-first mode (``IMGPRINT_FETCH_MODE = "head"``, a HEAD image request)
  sends the ranged GET only for images of at least ``IMGPRINT_MIN_SIZE`` bytes
  or of unknown size (the seed tool's way: the mode exists to skip small files);
* marks images under ``IMGPRINT_MIN_SIZE`` as small (``FetchedImage.small``: no
  fingerprint fields) and fetches only their metadata follow-ups;
* checks the answer holds the file's bytes from byte 0 (no Content-Encoding,
  the right Content-Range, not an HTML page);
* runs ``imgprint.fetch.fetch_image`` (the follow-up loop) through the
  engine's downloader, each follow-up carrying the image request's routing
  meta (Tor, timeouts, download slot);

and answers with an ``ImageResponse``: an empty body and ``response.image``, a
``FetchedImage`` holding the spans, size, requests, bytes and what is missing.
Answers that are not the image's (redirects, errors, retries) pass through
untouched, for RedirectMiddleware and RetryMiddleware to handle. It sits at 650:
after RedirectMiddleware (600) on the way out, and before HttpCompressionMiddleware
(590) and RetryMiddleware (550) see the answer on the way back. Nothing it
learns about an answer is written on the request, so a retry starts clean.

Settings: ``IMGPRINT_RANGE_BYTES``, ``IMGPRINT_MIN_SIZE``, ``IMGPRINT_FETCH_MODE``,
``IMGPRINT_FOLLOWUPS``, ``IMGPRINT_FOLLOWUP_BYTES``, ``IMGPRINT_FOLLOWUP_AHEAD_BYTES``,
``IMGPRINT_MULTI_RANGE``,
``IMGPRINT_HASH_FOLLOWUPS``, ``IMGPRINT_CONTENT_BYTES``,
``IMGPRINT_PHASH_SCAN_BYTES``, ``IMGPRINT_PHASH_BAND``, ``IMGPRINT_PHASH_BAND_BYTES``.
Meta: ``imgprint_image``, ``imgprint_sniff`` (set by
the spider).

Stats: ``imgprint/range/partial`` (206), ``imgprint/range/ignored`` (200 to a
ranged GET), ``imgprint/range/unsatisfiable`` (416), ``imgprint/download_stopped``,
``imgprint/head/small``, ``imgprint/head/get``, ``imgprint/content_encoding``,
``imgprint/images/small``, ``imgprint/followup/requests``,
``imgprint/followup/bytes``, ``imgprint/followup/incomplete``,
``imgprint/followup/overrun`` (partial answers longer than the bytes asked),
``imgprint/followup/band_bytes`` (of those, the perceptual hash's top band's),
``imgprint/followup/band_retry`` (second band requests planned),
``imgprint/followup/band_decoded`` (bands whose check decoded all their rows:
the pipeline takes that hash),
``imgprint/timeout/band_check``,
``imgprint/followup/multirange`` (multi-range follow-ups sent),
``imgprint/followup/multirange_fallback`` (answers to one that did not hold
every range: a 200, a single range, a 416, parts in conflict; that host gets
no more), ``imgprint/followup/conflicts`` (ranges a multipart answer gave
twice with other bytes: the first kept, ``metadata_incomplete`` says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from scrapy import Request, signals
from scrapy.exceptions import StopDownload
from scrapy.http import Headers, Response
from scrapy.utils.httpobj import urlparse_cached

from imgprint import formats
from imgprint.config import Config
from imgprint.fetch.image import band_checked, fetch_image, fetched_from
from imgprint.fetch.loop import Budget, ContentEncoded, RangesDownload
from imgprint.fetch.protocol import (
    ERROR_STATUSES,
    FOLLOWUP_KEY,
    FOLLOWUP_LIMIT_KEY,
    IMAGE_KEY,
    IMAGE_STATUSES,
    OVERRUN_FLAG,
    ROUTING_META,
    SNIFF_KEY,
    FetchedImage,
    ImageResponse,
)
from imgprint.fingerprint.limits import TIME_LIMIT, BandChecked
from imgprint.formats.signatures import SNIFF_BYTES
from imgprint.http import content_encoding, is_image_type, range_end, range_header, total_size
from imgprint.multirange import answer_kind, answer_limit, parse_ranges_header, ranges_header
from imgprint.spans import Spans
from imgprint.workers import Workers

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

#: Most hosts remembered as answering multi-range follow-ups badly (a bound on
#: the memory a crawl of many such hosts takes; past it, each image finds out).
MAX_SINGLE_RANGE_HOSTS = 100_000


def is_image_answer(request: Request, headers: Any, body: bytes = b"") -> bool:
    """An image request's answer, or a seed's that is an image by its Content-Type
    or, whatever the Content-Type says (octet-stream, text/html), by its bytes."""
    meta = request.meta
    return bool(meta.get(IMAGE_KEY)) or (
        bool(meta.get(SNIFF_KEY)) and (is_image_type(headers.get(b"Content-Type"))
                                       or formats.sniff(body[:SNIFF_BYTES]) is not None))


def answer_cut(request: Request, headers: Any, default: int) -> tuple[int, int | None]:
    """(body bytes after which an answer is cut, bytes past which it overruns
    what was asked; None: no overrun to tell).

    The first request: the end of its range (``default`` without one), which
    is the bytes asked, as it starts at byte 0. A follow-up: by what its
    headers say it holds (``multirange.answer_kind``), the bytes asked of a
    206 (plus part headers), or of a 200 the file from byte 0 up to the
    furthest range end; never more than its ``FOLLOWUP_LIMIT_KEY`` (what is
    left of IMGPRINT_FOLLOWUP_BYTES). A partial answer with more bytes than
    asked overruns: a 200 cut is a server that ignores Range, not an overrun."""
    value = request.headers.get(b"Range")
    ranges = parse_ranges_header(value) if request.meta.get(FOLLOWUP_KEY) else None
    if not ranges:
        end = range_end(value)
        return (end if end is not None else default), None
    kind = answer_kind(headers.get(b"Content-Type"), headers.get(b"Content-Range"))
    cut = answer_limit(ranges, kind, request.meta.get(FOLLOWUP_LIMIT_KEY))
    return cut, (None if kind == "whole" else answer_limit(ranges, kind))


@dataclass
class _Reading:
    """An image answer as its body arrives."""

    cut: int  # stop once this many body bytes arrived
    expected: int | None  # Content-Length
    asked: int | None  # more body bytes than this overrun the follow-up's ranges
    got: int = 0


class ImageFetchMiddleware:
    def __init__(self, crawler: Crawler, config: Config):
        self.crawler = crawler
        self.stats = crawler.stats
        self.config = config
        self.budget = Budget.from_config(config)
        # Per attempt: a retry is a new Request object, so it starts afresh.
        self._received: WeakKeyDictionary[Request, _Reading] = WeakKeyDictionary()
        self._sniffing: WeakKeyDictionary[Request, _Reading] = WeakKeyDictionary()
        # Hosts (host:port) whose answer to a multi-range follow-up did not hold
        # every range: their images get one range a follow-up for the rest of the crawl.
        self._single_range_hosts: set[str] = set()
        # Whether a top band fell short decodes it: off the event loop.
        self._band_workers = Workers(1, "imgprint-band")
        crawler.signals.connect(self.headers_received, signal=signals.headers_received)
        crawler.signals.connect(self.bytes_received, signal=signals.bytes_received)
        crawler.signals.connect(self._band_workers.close, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ImageFetchMiddleware:
        return cls(crawler, Config.from_crawler(crawler))

    # -- outgoing -----------------------------------------------------------------
    def process_request(self, request: Request) -> None:
        if not request.meta.get(IMAGE_KEY):
            return
        request.headers[b"Accept-Encoding"] = b"identity"
        if request.method == "GET" and b"Range" not in request.headers:
            request.headers[b"Range"] = range_header(0, self.config.range_bytes)

    # -- while the answer arrives -------------------------------------------------
    def headers_received(self, headers: Any, body_length: Any, request: Request,
                         spider: Any) -> None:
        expected = body_length if isinstance(body_length, int) and body_length >= 0 else None
        if is_image_answer(request, headers):
            cut, asked = answer_cut(request, headers, self.config.range_bytes)
            self._received[request] = _Reading(cut, expected, asked)
        elif request.meta.get(SNIFF_KEY):
            # An image only its bytes can tell.
            self._sniffing[request] = _Reading(self.config.range_bytes, expected, None)

    def bytes_received(self, data: bytes, request: Request, spider: Any) -> None:
        if request in self._sniffing:
            reading = self._sniffing.pop(request)
            if formats.sniff(data[:SNIFF_BYTES]) is None:
                return
            # A seed that is an image under another Content-Type: cut it at the
            # byte budget and keep it out of the HTTP cache like any image.
            request.meta["dont_cache"] = True
            self._received[request] = reading
        state = self._received.get(request)
        if state is None:
            return
        state.got += len(data)
        # A body that ends by itself at the limit is left alone: aborting it
        # would cost the keep-alive connection for nothing.
        if state.got >= state.cut and (state.expected is None or state.expected > state.got):
            self.stats.inc_value("imgprint/download_stopped")
            raise StopDownload(fail=False)

    # -- the answer ---------------------------------------------------------------
    async def process_response(self, request: Request, response: Response) -> Any:
        if not is_image_answer(request, response.headers, response.body):
            return response
        encoding = content_encoding(response)
        if encoding:
            self.stats.inc_value("imgprint/content_encoding")
        if request.meta.get(FOLLOWUP_KEY):
            reading = self._received.pop(request, None)
            if encoding and response.status in (200, 206):
                raise ContentEncoded(f"server applied Content-Encoding {encoding}:"
                                     " the bytes are not the file's")
            if reading is not None and reading.asked is not None and reading.got > reading.asked:
                # More than a partial answer should hold: the loop uses the
                # bytes asked and notes it (imgprint.fetch.loop).
                self.stats.inc_value("imgprint/followup/overrun")
                response.flags.append(OVERRUN_FLAG)
            return response
        if response.status not in IMAGE_STATUSES:
            return response  # redirects, errors and retries are handled further on
        if request.method == "HEAD":
            return await self._after_head(request, response)
        if b"Range" in request.headers:
            outcome = {206: "partial", 200: "ignored", 416: "unsatisfiable"}[response.status]
            self.stats.inc_value(f"imgprint/range/{outcome}")
        image = await self.fetch(request, response)
        return self._image_response(request, response, image)

    def _image_response(self, request: Request, response: Response,
                        image: FetchedImage) -> ImageResponse:
        # No body (the bytes travel in image.spans) and no Content-Encoding
        # (HttpCompressionMiddleware must not decode an empty body).
        headers = Headers(response.headers)
        headers.pop(b"Content-Encoding", None)
        return ImageResponse(url=response.url, status=response.status, headers=headers,
                             body=b"", request=request, flags=response.flags,
                             ip_address=response.ip_address, image=image)

    async def fetch(self, request: Request, response: Response,
                    requests: int = 1) -> FetchedImage:
        """What the first answer holds, plus the follow-ups the parsers ask for."""
        host = urlparse_cached(request).netloc
        image = await fetch_image(
            response, self._ranges_download(request), self.budget,
            min_size=self.config.min_size, ranged=b"Range" in request.headers,
            multi=self.config.multi_range and host not in self._single_range_hosts,
            requests=requests, band_check=self._band_check)
        self._count(image, host)
        return image

    async def _band_check(self, spans: Spans, fraction: float, max_bytes: int) -> BandChecked:
        try:
            return await self._band_workers.run(TIME_LIMIT, band_checked, spans, fraction,
                                                max_bytes)
        except TimeoutError:
            self.stats.inc_value("imgprint/timeout/band_check")
            return BandChecked()

    def _count(self, image: FetchedImage, host: str) -> None:
        if image.small:
            self.stats.inc_value("imgprint/images/small")
        result = image.followup
        if result is None:
            return
        if result.requests:
            self.stats.inc_value("imgprint/followup/requests", result.requests)
            self.stats.inc_value("imgprint/followup/bytes", result.bytes)
        if result.incomplete:
            self.stats.inc_value("imgprint/followup/incomplete")
        if result.multirange:
            self.stats.inc_value("imgprint/followup/multirange", result.multirange)
        if result.conflicts:
            self.stats.inc_value("imgprint/followup/conflicts", len(result.conflicts))
        if result.band_bytes:
            self.stats.inc_value("imgprint/followup/band_bytes", result.band_bytes)
        if result.band_retry:
            self.stats.inc_value("imgprint/followup/band_retry")
        if result.band_found:
            self.stats.inc_value("imgprint/followup/band_decoded")
        if result.multirange_fallback:
            self.stats.inc_value("imgprint/followup/multirange_fallback")
            if len(self._single_range_hosts) < MAX_SINGLE_RANGE_HOSTS:
                self._single_range_hosts.add(host)

    def _ranges_download(self, request: Request) -> RangesDownload:
        """A follow-up download of several ranges in one request (one: a plain
        Range), reading at most ``limit`` body bytes (``answer_cut``)."""
        meta = {k: request.meta[k] for k in ROUTING_META if k in request.meta}
        url = request.url

        async def download(ranges: list[tuple[int, int]], limit: int) -> Response:
            engine = self.crawler.engine
            assert engine is not None
            value = (range_header(*ranges[0]) if len(ranges) == 1
                     else ranges_header(ranges))
            followup = Request(
                url, headers={b"Range": value},
                meta={**meta, IMAGE_KEY: True, FOLLOWUP_KEY: True, FOLLOWUP_LIMIT_KEY: limit,
                      "handle_httpstatus_list": ERROR_STATUSES},
                dont_filter=True,
            )
            return await engine.download_async(followup)

        return download

    async def _after_head(self, request: Request, response: Response) -> Response:
        size = total_size(response)
        if size is not None and size < self.config.min_size:
            self.stats.inc_value("imgprint/head/small")
            self.stats.inc_value("imgprint/images/small")
            image = fetched_from(response)
            image.small = True
            return self._image_response(request, response, image)
        self.stats.inc_value("imgprint/head/get")
        engine = self.crawler.engine
        assert engine is not None
        get = request.replace(method="GET", meta={k: v for k, v in request.meta.items()
                                                  if not k.startswith("_")})
        answer = await engine.download_async(get)
        if isinstance(answer, ImageResponse):
            answer.image.requests += 1  # the HEAD
            head = fetched_from(response)
            answer.image.size = answer.image.size if answer.image.size is not None else head.size
            answer.image.etag = answer.image.etag or head.etag
            answer.image.content_type = answer.image.content_type or head.content_type
        return answer
