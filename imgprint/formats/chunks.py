"""What the chunked formats (PNG, RIFF/WebP) share: the backward walk from
the end of the file, and what a coded-data walk asks for.

Metadata chunks may follow the image data (PNG ``eXIf`` after ``IDAT``, WebP
``EXIF`` at the end of the RIFF). With the file's tail held, a chunk that ends
exactly where the next one starts can be found by trying each start position:
its length field must land on that boundary.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from imgprint.spans import Range, Spans

Chunk = tuple[bytes, int, int]  # (type, offset of the chunk, data length)
# (8 header bytes at p, p, end) -> the chunk if one at p ends exactly at `end`
Matcher = Callable[[bytes, int, int], Chunk | None]

MAX_CHUNKS = 256
MAX_STEPS = 200_000


def chain_back(
    spans: Spans, end: int, floor: int, header: int, match: Matcher, image_types: frozenset[bytes],
    type_pattern: re.Pattern[bytes] | None = None, type_at: int = 0,
) -> tuple[list[Chunk], bool]:
    """Chunks chained backwards from ``end`` through the held block that ends there.

    Returns them in file order, and whether the chain reached image data (or
    ``floor``, where a forward walk stopped) so nothing in between is unseen.
    ``header`` is the smallest chunk size (the search starts ``header`` bytes
    before each boundary). ``type_pattern`` (a lookahead for a chunk type that
    ``match`` requires ``type_at`` bytes into a header) lets the search visit
    only the positions where a type could start, with the same answer and the
    same bound on the positions it counts as searched.
    """
    if not spans.has(end - 1, end):
        return [], False
    lo = next((s for s, e in spans.ranges() if s <= end - 1 < e), end)
    lo = max(lo, floor)
    block = spans.get(lo, end) or b""
    starts = None
    if type_pattern is not None:
        # Candidate header positions, highest first.
        starts = [lo + m.start() - type_at for m in type_pattern.finditer(block)][::-1]
    found: list[Chunk] = []
    steps = 0
    while len(found) < MAX_CHUNKS:
        if end <= floor:
            return found[::-1], True
        hit = None
        top = end - header
        if starts is None:
            p = top
            while p >= lo and steps < MAX_STEPS:
                steps += 1
                hit = match(block[p - lo : p - lo + 8], p, end)
                if hit:
                    break
                p -= 1
        else:
            for p in starts:
                if p > top or p < lo:
                    continue
                if steps + (top - p + 1) > MAX_STEPS:
                    break  # the byte-by-byte search would have given up before p
                hit = match(block[p - lo : p - lo + 8], p, end)
                if hit:
                    steps += top - p + 1
                    break
        if hit is None:
            return found[::-1], False
        found.append(hit)
        if hit[0] in image_types:
            return found[::-1], True
        end = hit[1]
    return found[::-1], False


def coded_needed(found: list[Range], stuck: int | None, k: int) -> list[Range]:
    """What a coded-data walk that found `found` still needs: where it stopped
    for want of a chunk header, that header and `k` bytes behind it (the data
    wanted usually starts right there); else the spans it found."""
    if stuck is not None:
        return [(stuck, stuck + 8 + k)]
    return found
