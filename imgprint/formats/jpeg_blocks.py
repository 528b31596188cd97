"""JPEG metadata blocks: XMP and ExtendedXMP (APP1), ICC chunks (APP2),
Photoshop IRBs (APP13) and comments (COM), from the segment walk.

A segment is told apart by the identifier at the start of its payload, which
`jpeg.needed` fetches for every APPn segment it walks over; the payload after
the identifier is the block (`imgprint.formats.blocks` lists what each kind
holds). The walk stops at SOS, where metadata-extractor stops too.
"""

from __future__ import annotations

from imgprint.spans import Block, Spans

from .jpeg import walk

#: (marker, identifier, kind): the payload after the identifier is the block.
IDENTIFIERS: tuple[tuple[int, bytes, str], ...] = (
    (0xE1, b"http://ns.adobe.com/xap/1.0/\0", "xmp"),
    (0xE1, b"http://ns.adobe.com/xmp/extension/\0", "xmp_extended"),
    (0xE2, b"ICC_PROFILE\0", "icc_jpeg"),
    (0xED, b"Photoshop 3.0\0", "photoshop"),
)
#: Payload bytes that tell a segment's identifier (the longest is 35).
ID_BYTES = max(len(ident) for _, ident, _ in IDENTIFIERS)
COM = 0xFE


def blocks(spans: Spans) -> list[Block]:
    """Blocks of the segments walked so far whose identifier is held."""
    segs, _ = walk(spans)
    out: list[Block] = []
    for marker, pos, length in segs:
        start, end = pos + 4, pos + 2 + length
        if marker == COM:
            out.append(("comment", start, end))
            continue
        head = None
        for mark, ident, kind in IDENTIFIERS:
            if mark != marker or end - start < len(ident):
                continue
            head = head if head is not None else spans.get_partial(start, start + ID_BYTES)
            if head.startswith(ident):
                out.append((kind, start + len(ident), end))
                break
    return out
