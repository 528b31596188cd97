"""Fetch one image: the first answer checked, then the follow-ups it needs.

``fetch_image`` is the whole protocol after the first answer arrives, with
the download of further ranges injected: ``ImageFetchMiddleware`` passes one
through the engine's downloader, ``imgprint.fetch.replay`` one over a local
file (tests, bench). ``record_fields`` is the one place a record takes its
fetch fields from a ``FetchedImage``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from scrapy.http import Response

from imgprint.fetch.band import BandCheck
from imgprint.fetch.loop import Budget, RangesDownload, fetch_spans
from imgprint.fetch.protocol import FetchedImage
from imgprint.fingerprint.limits import BandChecked
from imgprint.http import looks_like_html, normalize_etag, range_problem, total_size
from imgprint.spans import Spans


def fetched_from(response: Response, requests: int = 1) -> FetchedImage:
    """The facts of an answer, before any bytes are looked at."""
    content_type = response.headers.get(b"Content-Type")
    return FetchedImage(
        url=response.url, status=response.status, size=total_size(response),
        etag=normalize_etag(response.headers.get(b"ETag")),
        content_type=content_type.decode("latin-1") if content_type else None,
        requests=requests, bytes=len(response.body),
    )


def first_answer_problem(response: Response) -> str | None:
    """Why the first answer's body is not the file from byte 0, or None."""
    if response.status == 416:
        return None  # nothing to hash: an empty file, or smaller than asked
    if looks_like_html(response.body):
        content_type = response.headers.get(b"Content-Type") or b"no Content-Type"
        return f"not an image: the server sent an HTML page ({content_type.decode('latin-1')})"
    return range_problem(response, 0)


def small_budget(budget: Budget) -> Budget:
    """The budget of an image under IMGPRINT_MIN_SIZE: the floor is the seed
    tool's rule for fingerprints, not for metadata, so a small image still gets
    its metadata follow-ups, but none for the hash inputs; the perceptual
    hash's top band rides along them when close."""
    return replace(budget, content_bytes=0, thumbnail_bytes=0, scan_bytes=0, hash_requests=0,
                   band_alone=False)


def band_checked(spans: Spans, fraction: float, max_bytes: int) -> BandChecked:
    """``imgprint.fingerprint.phash.check_band``, imported on first use: the
    decoder (Pillow, numpy) loads off the start-up path."""
    from imgprint.fingerprint.phash import check_band

    return check_band(spans, fraction, max_bytes)


async def band_check_inline(spans: Spans, fraction: float, max_bytes: int) -> BandChecked:
    """`band_checked` on the caller's thread (tests, bench; the crawler runs
    it on a worker thread, ``ImageFetchMiddleware``)."""
    return band_checked(spans, fraction, max_bytes)


async def fetch_image(response: Response, download: RangesDownload, budget: Budget, *,
                      min_size: int, ranged: bool = True, multi: bool = True,
                      requests: int = 1,
                      band_check: BandCheck | None = band_check_inline) -> FetchedImage:
    """What the first answer holds, plus the follow-ups the parsers ask for.

    ``download`` fetches a list of ranges in one request (one range: a plain
    Range), reading at most a given number of body bytes; ``multi``: it may
    be given several (IMGPRINT_MULTI_RANGE, and the host has not answered such
    a request badly). ``ranged``: the first request
    asked for a range, so a 200 means the server ignores Range.
    A 200 (a seed asked without Range, or a server ignoring it) is the whole
    file cut at the first socket read past the prefix: those bytes are kept,
    metadata they hold needs no follow-up.
    ``band_check``: whether the top band fell short after its first request,
    and its hash if not (``BandCheck``; None: no second band request).
    """
    image = fetched_from(response, requests)
    image.error = first_answer_problem(response)
    if image.error or response.status == 416:
        return image
    if image.size is not None and image.size < min_size:
        image.small = True
        budget = small_budget(budget)
    spans = Spans(image.size)
    spans.add(0, response.body)

    async def one(start: int, end: int, limit: int) -> Response:
        return await download([(start, end)], limit)

    result = await fetch_spans(spans, one, budget,
                               range_ignored=ranged and response.status == 200,
                               multi=download if multi else None, band_check=band_check)
    image.spans = spans
    image.followup = result
    image.requests += result.requests
    image.bytes += result.bytes
    image.incomplete = result.incomplete
    return image


def error_image(response: Response) -> FetchedImage:
    """An error answer (4xx, 5xx) to an image request: its size and ETag are the
    error page's, not the image's."""
    image = fetched_from(response)
    image.error = f"HTTP {response.status}"
    image.size = image.etag = None
    return image


def record_fields(image: FetchedImage, found_by: str | None = None,
                  url: str | None = None) -> dict[str, Any]:
    """The record fields a fetch gives (``url``: the one asked for, to tell a
    redirect); the pipeline adds the fingerprints and metadata."""
    fields: dict[str, Any] = {
        "image_size": image.size, "etag": image.etag, "content_type": image.content_type,
        "http_status": image.status, "bytes_fetched": image.bytes, "requests": image.requests}
    if url is not None and image.url != url:
        fields["final_url"] = image.url
    if image.error:
        fields["error"] = image.error
    if image.incomplete:
        fields["metadata_incomplete"] = image.incomplete
    if found_by:
        fields["found_by"] = found_by
    return fields
