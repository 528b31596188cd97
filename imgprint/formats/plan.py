"""Planning fetches: which byte ranges are still needed, and the next Range.

Each parser lists what it lacks; here those lists are clipped to the file,
capped, stripped of what is held and merged, and `next_fetch` turns them into
one Range request within the byte budget.  Metadata comes first; what the
fingerprints hash (`wanted`, and the perceptual hash's top band, which has a
byte budget of its own) rides along or follows.
"""

from __future__ import annotations

from imgprint.spans import MAX_SPAN, Range, Spans, join_ranges

from .blocks import block_needs
from .content import content_spans, scan_want, thumbnail_span
from .dispatch import guard, parser

#: Needed spans closer than this are fetched as one Range (a gap costs bytes,
#: a request costs a round trip). Measured over the corpus site's 253 images of
#: at least 20,480 bytes, default budgets (follow-up bytes / requests; content
#: hashes 187 at every gap): 4 KiB 1.141 MB / 236; 8 KiB 1.141 MB / 232;
#: 16 KiB 1.223 MB / 226; 32 KiB 1.333 MB / 222. With the metadata blocks
#: planned too and at most 3 follow-ups (bench/metadata_recall.py, 488 images:
#: follow-up bytes / follow-ups / bytes vs the prefixes): 8 KiB 1.397 MB / 246 /
#: 1.486x; 12 KiB 1.424 MB / 242 / 1.496x; 16 KiB 1.443 MB / 242 / 1.502x
#: (since: 1.499x at 12 KiB, TIFF block values cut by the end of the file).
#: 12 KiB saves the requests 16 KiB saves and keeps the corpus within 1.5x the
#: prefixes; it costs one IFD of a multi-page TIFF 16 KiB from the one before
#: (20 of 6,565 tags), which the speculative window reads anyway.
MERGE_GAP = 12288

#: Most ranges of one multi-range request (`next_fetch_ranges`).
MULTI_RANGES = 16
#: Most bytes the speculative windows of one multi-range request may take
#: (predicted TIFF IFDs, `tiff.windows`).
MULTI_WINDOW_BYTES = 65536
#: Ranges of a multi-range request closer than this are asked as one: a part
#: costs its headers (about 100 bytes) in the answer.
PART_GAP = 256


def clean(spans: Spans, raw: list[Range]) -> list[Range]:
    """Clip to the file, cap, drop what is held, merge overlaps; sorted."""
    limit = spans.size
    pieces: list[Range] = []
    for start, end in raw:
        start = max(int(start), 0)
        end = min(int(end), start + MAX_SPAN)
        if limit is not None:
            end = min(end, limit)
        if end <= start:
            continue
        pieces.extend(spans.missing(start, end))
    return join_ranges(pieces)


def structure_needed(spans: Spans) -> list[Range]:
    """What the parser's own walks still need (headers, IFDs, EXIF values):
    `needed` without the metadata blocks, whose ranges are already known."""
    def compute() -> list[Range]:
        _, found = parser(spans)
        if found is None:
            return []
        none: list[Range] = []
        return clean(spans, guard("needed", none, found.needed, spans))
    return list(spans.memo("structure_needed", compute))


def leaves_needed(spans: Spans) -> list[Range]:
    """The parser's leaf ranges still missing (`Parser.leaves`)."""
    _, found = parser(spans)
    if found is None or found.leaves is None:
        return []
    none: list[Range] = []
    return clean(spans, guard("leaves", none, found.leaves, spans))


def needed(spans: Spans) -> list[Range]:
    """Absolute half-open ranges still missing that hold metadata; [] when done."""
    def compute() -> list[Range]:
        none: list[Range] = []
        own = structure_needed(spans) + leaves_needed(spans)
        return clean(spans, own + guard("block_needs", none, block_needs, spans))
    # A copy: callers may change the list, the memo must not change with it.
    return list(spans.memo("needed", compute))


def _lead(spans: Spans, todo: list[Range]) -> Range:
    """The needed range a request starts from: the one holding the parser's
    first leaf (`Parser.leaves`), else the first span the structure walks need
    (each of their answers may show more to fetch, while a block is a leaf),
    else the first."""
    walks = leaves_needed(spans) or structure_needed(spans)
    if walks:
        first = walks[0][0]
        for span in todo:
            if span[0] <= first < span[1]:
                return span
    return todo[0]


def wanted(spans: Spans, content_bytes: int = 0, thumbnail_bytes: int = 0,
           scan_bytes: int = 0) -> list[Range]:
    """Ranges still missing for the content hash (its first `content_bytes` of
    coded data), the EXIF thumbnail (up to `thumbnail_bytes`) and the first scan
    of a progressive JPEG (up to `scan_bytes`); sorted, merged, clipped."""
    fmt, found = parser(spans)
    if found is None:
        return []
    raw: list[Range] = []
    if content_bytes > 0:
        if found.content_needed is not None:
            raw += guard("content_needed", [], found.content_needed, spans, content_bytes)
        else:
            raw += content_spans(spans, content_bytes) or []
    if thumbnail_bytes > 0:
        thumb = thumbnail_span(spans, thumbnail_bytes)
        if thumb is not None:
            raw.append(thumb)
    if scan_bytes > 0 and fmt == "jpeg":
        scan = guard("scan_want", None, scan_want, spans, scan_bytes)
        if scan is not None:
            raw.append(scan)
    return clean(spans, raw)


def _ahead(spans: Spans, limit: int) -> list[Range]:
    """The parser's speculative window for a last follow-up, clipped and unheld."""
    _, found = parser(spans)
    if found is None or found.ahead is None or limit <= 0:
        return []
    none: list[Range] = []
    return clean(spans, guard("ahead", none, found.ahead, spans, limit))


def _band_piece(spans: Spans, band: Range | None) -> Range | None:
    """The top band's bytes still missing, as one range (from the first byte
    missing to its end); None when held or not asked."""
    if band is None:
        return None
    missing = spans.missing(*band)
    return (missing[0][0], band[1]) if missing else None


def _overlap(start: int, end: int, band: Range | None) -> int:
    return 0 if band is None else max(0, min(end, band[1]) - max(start, band[0]))


def next_fetch(spans: Spans, budget_bytes: int, content_bytes: int = 0,
               thumbnail_bytes: int = 0, scan_bytes: int = 0,
               metadata: bool = True, last: bool = False, ahead: int = 0,
               band: Range | None = None, band_leads: bool = True) -> Range | None:
    """The one Range to ask for next, or None when done or over `budget_bytes`.

    Metadata (`needed`) comes first, what the structure walks need before
    the blocks (`_lead`); the spans of `wanted` (coded data,
    thumbnail, first progressive scan) ride along when they are close to it,
    and are asked for on their own once the metadata is complete. With
    `metadata` False, only the spans of `wanted` start a Range (the metadata's
    own requests are spent); what the metadata lacks rides along if close.

    `last`: no metadata follow-up comes after this one. While the metadata
    is unfinished, the parser's speculative window (`Parser.ahead`: where the
    rest of a TIFF page chain probably is) of up to `ahead` bytes comes along.

    `band`: the bytes of the perceptual hash's top band
    (``formats.picture.band_want``), a hash input of its own byte budget (its
    bytes do not count in `budget_bytes`); with `band_leads` False it only
    rides along (an image under IMGPRINT_MIN_SIZE)."""
    band = _band_piece(spans, band)

    def over(s: int, e: int) -> bool:
        return e - s - _overlap(s, e, band) > budget_bytes

    todo = needed(spans)
    if last and todo and metadata and ahead > 0:
        todo = clean(spans, todo + _ahead(spans, min(ahead, budget_bytes)))
    extra = (wanted(spans, content_bytes, thumbnail_bytes, scan_bytes)
             if content_bytes or thumbnail_bytes or scan_bytes else [])
    ride: list[Range] = []
    if band is not None:
        extra, ride = (join_ranges([*extra, band]), ride) if band_leads else (extra, [band])
    if not metadata:
        todo, ride = [], todo + ride
    lead = _lead(spans, todo) if todo else None
    if lead is not None:
        start, end = lead
        todo = [r for r in todo if r != lead]
        if over(start, end):
            return None
    elif extra:
        # Hash inputs are worth a partial fetch: a window may only look ahead.
        start, end = extra[0]
        end = min(end, start + budget_bytes + _overlap(start, end, band))
        if end <= start:
            return None
    else:
        return None
    others = sorted(todo + extra + ride)
    for s, e in others:
        if e <= end:
            continue
        if s - end > MERGE_GAP or over(start, e):
            break
        end = max(end, e)
    # Spans just before the first one (a thumbnail ending where an Exif segment
    # runs past the prefix) come along too.
    for s, e in sorted(others, key=lambda r: r[1], reverse=True):
        if s >= start:
            continue
        if start - e > MERGE_GAP or over(s, end):
            break
        start = min(start, s)
    return start, end


def _subtract(pieces: list[Range], taken: list[Range]) -> list[Range]:
    """`pieces` without the bytes of `taken`."""
    out: list[Range] = []
    for start, end in pieces:
        for s, e in sorted(taken):
            if e <= start or s >= end:
                continue
            if s > start:
                out.append((start, s))
            start = max(start, e)
            if start >= end:
                break
        if start < end:
            out.append((start, end))
    return out


def next_fetch_ranges(spans: Spans, budget_bytes: int, content_bytes: int = 0,
                      thumbnail_bytes: int = 0, scan_bytes: int = 0, metadata: bool = True,
                      last: bool = False, ahead: int = 0, multi: bool = False,
                      band: Range | None = None, band_leads: bool = True
                      ) -> list[Range] | None:
    """The ranges of the next request, sorted and disjoint; None when done or
    over `budget_bytes`.

    Without `multi`: `next_fetch`'s one range. With `multi` (the server takes
    several ranges in one request), while the metadata is unfinished, the
    same first range plus, as further ranges of the same request: the needed
    spans too far from it to share a range (past MERGE_GAP), then the
    windows where a TIFF's further page IFDs probably are (`tiff.windows`,
    up to MULTI_WINDOW_BYTES), then the top band (`band`, outside
    `budget_bytes`); at most MULTI_RANGES ranges and `budget_bytes` in all.
    An `ahead` window (the last follow-up's contiguous one) joins the first
    range as without `multi`, or is a range of its own."""
    one = next_fetch(spans, budget_bytes, content_bytes, thumbnail_bytes, scan_bytes,
                     metadata, last, ahead, band, band_leads)
    if one is None:
        return None
    out = [one]
    if not multi:
        return out
    todo = needed(spans) if metadata else []
    if not todo:
        return out
    if last and ahead > 0:
        todo = clean(spans, todo + _ahead(spans, min(ahead, budget_bytes)))
    piece = _band_piece(spans, band)

    def size(ranges: list[Range]) -> int:
        return sum(e - s - _overlap(s, e, piece) for s, e in ranges)

    def grow(pieces: list[Range]) -> None:
        nonlocal out
        for part in _subtract(pieces, out):
            grown = join_ranges([*out, part], PART_GAP)
            if len(grown) > MULTI_RANGES or size(grown) > budget_bytes:
                break
            out = grown

    grow(todo)
    _, format_parser = parser(spans)
    if format_parser is not None and format_parser.windows is not None:
        left = min(MULTI_WINDOW_BYTES, budget_bytes - size(out))
        none: list[Range] = []
        grow(clean(spans, guard("windows", none, format_parser.windows, spans, left,
                                MULTI_RANGES)))
    if piece is not None:
        grow([piece])
    return out
