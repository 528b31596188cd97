"""The follow-up loop: fetch the byte spans the parsers still need, within budgets.

After the first ranged GET, the format parsers (``imgprint.formats``) say which
further byte spans hold metadata (EXIF, and the XMP, IPTC, ICC, text and
comment blocks of ``formats.blocks``), and which hold what the content hash
and the perceptual hash are computed from (the first coded bytes, the EXIF
thumbnail, the first scan of a progressive JPEG); ``fetch_spans`` fetches
those, metadata first, until the parsers need nothing more or a budget runs
out. A budget that runs out before the hash inputs are held costs the hash
(``content_sha256``/``phash`` null), never ``metadata_incomplete``.

The budget adapts to what the bytes show. Each request takes every needed
span within ``MERGE_GAP`` of the first (one request when the spans lie
together); the hash inputs ride along when close, or take the follow-ups the
metadata leaves (``IMGPRINT_FOLLOWUPS``, 3: at most 4 requests an image);
``IMGPRINT_HASH_FOLLOWUPS`` more may fetch the hash inputs alone. The
metadata's last follow-up may add a speculative window of up to
``IMGPRINT_FOLLOWUP_AHEAD_BYTES``: the rest of a multi-page TIFF's page chain,
which otherwise costs a request per page.

With a multi-range download (``IMGPRINT_MULTI_RANGE``), one follow-up may ask
for several ranges (``formats.plan.next_fetch_ranges``): the needed spans too
far apart to share one range (the speculative window among them), and small
windows where a regular TIFF's further page IFDs probably are. An answer
that does not hold every range asked for (a 200 with the file from byte 0, a
single range, a 416) is used for whatever correct bytes it holds, and the
loop sends no more multi-range requests (``FollowupResult.multirange_fallback``).

A follow-up reads at most what is left of ``IMGPRINT_FOLLOWUP_BYTES`` (the
download is told, and cuts the answer there). A partial answer the download
cut for running past the bytes asked (``OVERRUN_FLAG``: a server that answers
206 and streams) gives only the bytes asked, and makes the metadata
incomplete; so does a multipart answer that gives a range twice with other
bytes, of which the first is kept (``multirange.first_wins``).

The perceptual hash's top band (``IMGPRINT_PHASH_BAND``, ``imgprint.fetch.band``) is a hash
input with a byte budget of its own (``IMGPRINT_PHASH_BAND_BYTES``): a first
share of the image data rides along the metadata's follow-up (or takes one of
the follow-ups the metadata leaves), a second one follows when a decode
(``BandCheck``, on a worker thread in the crawler) says the first fell short.

``incomplete`` says why metadata known to exist was not read: needed spans
past a budget, or blocks skipped for their caps or announced and never found
(``formats.unread_blocks``), or an answer that overran or was in conflict.

The loop is a plain function with the download injected
(``imgprint.fetch.image.fetch_image``): the crawler passes one that goes
through the engine's downloader (``ImageFetchMiddleware``), tests and bench one
that reads a local file (``imgprint.fetch.replay``), so all of them run this
one loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response

from imgprint import formats
from imgprint.fetch.band import BandCheck, band_part, next_band
from imgprint.fetch.protocol import OVERRUN_FLAG
from imgprint.fingerprint.limits import MAX_THUMBNAIL_BYTES, BandChecked
from imgprint.formats.plan import next_fetch_ranges
from imgprint.http import content_encoding, range_problem
from imgprint.multirange import answer_parts, covers, first_wins
from imgprint.spans import Range, Spans

if TYPE_CHECKING:
    from imgprint.config import Config

#: Fetch the half-open byte span [start, end) of the image, reading at most
#: the given number of body bytes (what is left of the byte budget).
SpanDownload = Callable[[int, int, int], Awaitable[Response]]
#: Fetch several half-open byte spans (sorted, disjoint) in one request, reading
#: at most the given number of body bytes (plus the parts' headers).
RangesDownload = Callable[[list[tuple[int, int]], int], Awaitable[Response]]


class ContentEncoded(IgnoreRequest):
    """A follow-up answer came with a Content-Encoding: not the file's bytes."""


@dataclass(frozen=True)
class Budget:
    """How far follow-ups may go for one image."""

    requests: int  # IMGPRINT_FOLLOWUPS
    bytes: int  # IMGPRINT_FOLLOWUP_BYTES
    content_bytes: int = 0  # IMGPRINT_CONTENT_BYTES
    thumbnail_bytes: int = 0  # largest EXIF thumbnail fetched for phash
    scan_bytes: int = 0  # IMGPRINT_PHASH_SCAN_BYTES
    #: IMGPRINT_HASH_FOLLOWUPS: follow-ups past `requests` for the hash inputs
    #: alone (none when `requests` is 0).
    hash_requests: int = 0
    #: IMGPRINT_FOLLOWUP_AHEAD_BYTES: most bytes of the speculative window the
    #: metadata's last follow-up may add (the rest of a TIFF page chain).
    ahead_bytes: int = 0
    #: IMGPRINT_PHASH_BAND: the perceptual hash's top band, a share of the
    #: height (0: none fetched).
    band: float = 0.0
    #: IMGPRINT_PHASH_BAND_BYTES: most bytes fetched for the band, besides `bytes`.
    band_bytes: int = 0
    #: The band may take a follow-up of its own; False: it only rides along
    #: the others (an image under IMGPRINT_MIN_SIZE).
    band_alone: bool = True

    @classmethod
    def from_config(cls, config: Config) -> Budget:
        """The crawler's budget (``ImageFetchMiddleware``, and the benches that
        replay it) from checked settings."""
        return cls(config.followups, config.followup_bytes, config.content_bytes,
                   MAX_THUMBNAIL_BYTES, config.phash_scan_bytes, config.hash_followups,
                   config.followup_ahead_bytes, config.phash_band, config.phash_band_bytes)


@dataclass
class FollowupResult:
    requests: int = 0
    bytes: int = 0
    incomplete: str | None = None  # why some metadata was not fetched
    multirange: int = 0  # multi-range requests sent
    #: A multi-range answer did not hold every range asked for: none sent after it.
    multirange_fallback: bool = False
    #: Ranges a multipart answer gave twice with other bytes (the first kept).
    conflicts: list[Range] = field(default_factory=list)
    #: Answers cut for running past the bytes asked (``OVERRUN_FLAG``): (ranges, body bytes).
    overruns: list[tuple[str, int]] = field(default_factory=list)
    #: Bytes of the answers that were the top band's (outside `Budget.bytes`).
    band_bytes: int = 0
    #: A request carried bytes of the top band (or of its guessed window).
    band_asked: bool = False
    #: The first band request fell short: a second one was planned.
    band_retry: bool = False
    #: Whether the band was checked after its first share (`BandCheck`).
    band_checked: bool = False
    #: The check decoded the band's rows, all held: their hash, for the pipeline.
    band_found: BandChecked | None = None


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


def add_ranges_answer(spans: Spans, ranges: list[tuple[int, int]],
                      response: Response) -> tuple[str | None, bool, list[Range]]:
    """Add the bytes of an answer to a multi-range request; return (why the
    answer ends the follow-ups, or None; whether it did not hold every range
    asked for, so that multi-range requests are best not sent again; the
    ranges its parts gave twice with other bytes, of which the first is kept).

    A 416 or a refused multipart body is a fallback, not an end: the next
    follow-up asks one range. Other statuses end the follow-ups as for one
    range. Conflicting parts are a fallback too: that server's multipart
    answers are not to be trusted."""
    if response.status not in (200, 206, 416):
        return f"follow-up answer HTTP {response.status}", False, []  # not the ranges' fault
    encoding = content_encoding(response)
    if encoding:
        return (f"follow-up: server applied Content-Encoding {encoding}:"
                " the bytes are not the file's"), False, []
    pieces, _ = answer_parts(response.status, response.headers.get(b"Content-Type"),
                             response.headers.get(b"Content-Range"), response.body, ranges)
    pieces, conflicts = first_wins(pieces)
    for start, data in pieces:
        spans.add(start, data)
    return None, response.status != 206 or bool(conflicts) or not covers(pieces, ranges), conflicts


def _overrun(response: Response, ranges: list[Range], result: FollowupResult) -> None:
    """Note an answer the download cut for running past the bytes asked: its
    bytes within the ranges asked are used, the record says it happened."""
    if OVERRUN_FLAG in response.flags:
        asked = ",".join(f"{s}-{e - 1}" for s, e in ranges)
        result.overruns.append((asked, len(response.body)))


def _stop_reason(spans: Spans, span: tuple[int, int] | None, result: FollowupResult,
                 budget: Budget, range_ignored: bool, extra: bool = False) -> str | None:
    """Why the loop stops before fetching ``span`` ("" when nothing more is needed).

    ``extra``: the metadata's follow-ups are spent; ``span`` is for the hash inputs."""
    if span is None:
        if extra:
            return f"metadata needs more than {budget.requests} follow-up requests"
        return f"metadata past the byte budget ({budget.bytes} bytes)"
    left = budget.bytes - result.bytes
    if range_ignored and span[1] > left:  # every follow-up reads again from byte 0
        return (f"server ignores Range and metadata ends at byte {span[1]},"
                f" past the byte budget ({budget.bytes} bytes)")
    if result.requests >= budget.requests + (budget.hash_requests if extra else 0):
        return f"metadata needs more than {budget.requests} follow-up requests"
    return None


def _unread(spans: Spans) -> str | None:
    """Why metadata known to exist is missing when nothing more is needed:
    blocks skipped for their caps or announced and never found."""
    kinds = formats.unread_blocks(spans)
    return f"metadata blocks not read: {', '.join(kinds)}" if kinds else None


async def fetch_spans(spans: Spans, download: SpanDownload, budget: Budget,
                      range_ignored: bool = False,
                      multi: RangesDownload | None = None,
                      band_check: BandCheck | None = None) -> FollowupResult:
    """Fetch the spans the parsers still need into ``spans``, within ``budget``.

    ``range_ignored``: the server answered the first ranged GET with the whole
    file, so a span costs every byte from offset 0 up to its end (no band is
    fetched then).
    ``multi``: a download that asks several ranges in one request (None: one
    range a request); not used when Range is ignored. An answer that ran
    past the bytes asked, or parts of a multipart answer in conflict, make the
    metadata incomplete, whatever came after.
    ``band_check``: whether the band's rows are not all held after its first
    share (None: no second band request).
    """
    result = FollowupResult()
    await _follow_up(spans, download, budget, range_ignored, multi, band_check, result)
    notes = []
    if result.overruns:
        asked, got = result.overruns[0]
        notes.append(f"follow-up: answer to bytes {asked} ran past the bytes asked for"
                     f" (cut after {got})")
    if result.conflicts:
        given = ", ".join(f"{s}-{e - 1}" for s, e in result.conflicts[:4])
        notes.append(f"follow-up: multipart answer gave bytes {given} twice, differently"
                     " (the first kept)")
    if notes:
        result.incomplete = "; ".join([*notes, *filter(None, [result.incomplete])])
    return result


async def _follow_up(spans: Spans, download: SpanDownload, budget: Budget,
                     range_ignored: bool, multi: RangesDownload | None,
                     band_check: BandCheck | None, result: FollowupResult) -> None:
    """``fetch_spans``' loop, filling ``result``."""
    banded = budget.band > 0 and budget.band_bytes > 0 and not range_ignored
    while True:
        left = budget.bytes - (result.bytes - result.band_bytes)
        # Past the metadata's own follow-ups, only the hash inputs are fetched.
        extra = result.requests >= budget.requests > 0
        # The metadata's last follow-up gathers what it can (`next_fetch`).
        last = not extra and result.requests + 1 == budget.requests
        several = multi is not None and not range_ignored and not result.multirange_fallback
        band = await next_band(spans, budget, result, band_check) if banded else None
        ranges = next_fetch_ranges(spans, left, budget.content_bytes, budget.thumbnail_bytes,
                                   budget.scan_bytes, metadata=not extra, last=last,
                                   ahead=budget.ahead_bytes, multi=several, band=band,
                                   band_leads=budget.band_alone)
        span = (ranges[0][0], ranges[-1][1]) if ranges else None
        stop = _stop_reason(spans, span, result, budget, range_ignored, extra)
        if stop is not None or span is None or ranges is None:
            if stop and formats.needed(spans):
                result.incomplete = stop
            else:
                result.incomplete = _unread(spans)
            return
        start, end = span
        result.requests += 1
        # A band range is paid from IMGPRINT_PHASH_BAND_BYTES, not from `left`.
        band_left = max(budget.band_bytes - result.band_bytes, 0) if band else 0
        in_parts = len(ranges) > 1 and multi is not None
        if in_parts:
            result.multirange += 1
        try:
            if in_parts:
                assert multi is not None
                response = await multi(ranges, left + band_left)
            else:
                response = await download(start, end, left + band_left)
        except ContentEncoded as exc:
            result.incomplete = f"follow-up: {exc}"
            return
        except Exception as exc:  # noqa: BLE001 - a failure costs metadata, not the record
            result.incomplete = f"follow-up request failed: {type(exc).__name__}: {exc}"
            return
        result.bytes += len(response.body)
        _overrun(response, ranges, result)
        result.band_bytes += band_part(ranges, band, len(response.body))
        result.band_asked = result.band_asked or result.band_bytes > 0
        if in_parts:
            problem, fallback, conflicts = add_ranges_answer(spans, ranges, response)
            result.multirange_fallback = result.multirange_fallback or fallback
            result.conflicts += conflicts
        else:
            problem = add_answer(spans, start, end, response)
        if problem:
            result.incomplete = problem
            return
