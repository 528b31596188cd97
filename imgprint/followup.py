"""Follow-up Range requests for metadata that lies past the first bytes.

After the first ranged GET, the format parsers (``imgprint.formats``) say which
further byte spans hold metadata, and which hold what the content hash and the
perceptual hash are computed from (the first coded bytes, the EXIF thumbnail,
the first scan of a progressive JPEG; ``formats.wanted``); this fetches those
within the budgets, metadata first, through the
engine's downloader (so every downloader middleware applies: retries,
timeouts, Tor routing, the network guard) but not through the scheduler: the
fetched bytes stay in memory and never reach a disk queue.

Settings: ``IMGPRINT_FOLLOWUPS`` (most follow-up requests per image, default 2;
0 turns them off), ``IMGPRINT_FOLLOWUP_BYTES`` (most bytes they may fetch in
total per image, default 262144); ``IMGPRINT_CONTENT_BYTES`` and
``IMGPRINT_PHASH_SCAN_BYTES`` (see ``imgprint.contenthash``/``imgprint.phash``)
size what is fetched for the hashes. Per request: ``meta["imgprint_followups"]``,
``meta["imgprint_followup_bytes"]`` on the image request.
A budget that runs out before the hash inputs are held costs the hash
(``content_sha256``/``phash`` null), never ``metadata_incomplete``.
Stats: ``imgprint/followup/requests``, ``imgprint/followup/bytes``,
``imgprint/followup/incomplete``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from scrapy import Request
from scrapy.http import Response

from imgprint import formats
from imgprint.formats import Spans
from imgprint.rangefetch import range_header, range_problem

Download = Callable[[Request], Awaitable[Response]]


@dataclass
class FollowupResult:
    requests: int = 0
    bytes: int = 0
    incomplete: str | None = None  # why some metadata was not fetched


def add_answer(spans: Spans, start: int, end: int, response: Response) -> str | None:
    """Add a follow-up answer's bytes; return why they are unusable, or None."""
    if response.status not in (200, 206):
        return f"follow-up answer HTTP {response.status}"
    problem = range_problem(response, start)
    if problem:
        return f"follow-up: {problem}"
    if response.status == 206:
        spans.add(start, response.body[: end - start])
    else:
        # Range ignored: the body is the file from byte 0, cut after `end`.
        spans.add(0, response.body)
    return None


async def fetch_metadata(
    url: str, spans: Spans, download: Download, max_requests: int, max_bytes: int,
    range_ignored: bool = False, meta: dict | None = None, content_bytes: int = 0,
    thumbnail_bytes: int = 0, scan_bytes: int = 0,
) -> FollowupResult:
    """Fetch the spans the parsers still need, within the request and byte budgets.

    ``range_ignored``: the server answered the first ranged GET with the whole
    file, so a span costs every byte from offset 0 up to its end.
    """
    result = FollowupResult()
    while True:
        left = max_bytes - result.bytes
        span = formats.next_fetch(spans, left, content_bytes, thumbnail_bytes, scan_bytes)
        if span is None:
            if formats.needed(spans):
                result.incomplete = f"metadata past the byte budget ({max_bytes} bytes)"
            return result
        start, end = span
        if range_ignored and end > left:  # every follow-up reads again from byte 0
            if formats.needed(spans):
                result.incomplete = (f"server ignores Range and metadata ends at byte {end},"
                                     f" past the byte budget ({max_bytes} bytes)")
            return result
        if result.requests >= max_requests:
            if formats.needed(spans):
                result.incomplete = (f"metadata needs more than {max_requests}"
                                     " follow-up requests")
            return result
        request = Request(
            url,
            headers={b"Range": range_header(start, end)},
            meta={**(meta or {}), "imgprint_image": True, "imgprint_stop_at": end,
                  "handle_httpstatus_list": list(range(400, 600))},
            dont_filter=True,
        )
        result.requests += 1
        try:
            response = await download(request)
        except Exception as exc:  # a follow-up failure costs metadata, not the record
            result.incomplete = f"follow-up request failed: {type(exc).__name__}: {exc}"
            return result
        result.bytes += len(response.body)
        problem = add_answer(spans, start, end, response)
        if problem:
            result.incomplete = problem
            return result
