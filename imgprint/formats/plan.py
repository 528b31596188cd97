"""Planning fetches: which byte ranges are still needed, and the next Range.

Each parser lists what it lacks; here those lists are clipped to the file,
capped, stripped of what is held and merged, and `next_fetch` turns them into
one Range request within the byte budget.  Metadata comes first; what the
fingerprints hash (`wanted`) rides along or follows.
"""

from __future__ import annotations

from .content import content_spans, scan_want, thumbnail_span
from .dispatch import guard, parser
from .spans import MAX_SPAN, Range, Spans

#: Needed spans closer than this are fetched as one Range (a gap costs bytes,
#: a request costs a round trip).
MERGE_GAP = 16384


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
    pieces.sort()
    merged: list[Range] = []
    for start, end in pieces:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def needed(spans: Spans) -> list[Range]:
    """Absolute half-open ranges still missing that hold metadata; [] when done."""
    def compute() -> list[Range]:
        _, found = parser(spans)
        if found is None:
            return []
        return clean(spans, guard("needed", [], found.needed, spans))
    # A copy: callers may change the list, the memo must not change with it.
    return list(spans.memo("needed", compute))


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


def next_fetch(spans: Spans, budget_bytes: int, content_bytes: int = 0,
               thumbnail_bytes: int = 0, scan_bytes: int = 0) -> Range | None:
    """The one Range to ask for next, or None when done or over `budget_bytes`.

    Metadata (`needed`) comes first; the spans of `wanted` (coded data,
    thumbnail, first progressive scan) ride along when they are close to it,
    and are asked for on their own once the metadata is complete."""
    todo = needed(spans)
    extra = (wanted(spans, content_bytes, thumbnail_bytes, scan_bytes)
             if content_bytes or thumbnail_bytes or scan_bytes else [])
    if todo:
        start, end = todo[0]
        if end - start > budget_bytes:
            return None
    elif extra:
        # Hash inputs are worth a partial fetch: a window may only look ahead.
        start, end = extra[0]
        end = min(end, start + budget_bytes)
        if end <= start:
            return None
    else:
        return None
    for s, e in sorted(todo[1:] + extra):
        if e <= end:
            continue
        if s - end > MERGE_GAP or e - start > budget_bytes:
            break
        end = max(end, e)
    return start, end
