"""ISO base media file format boxes: headers, the top-level walk, children.

A box is a 32-bit size (1: a 64-bit size follows the type; 0: to the end of
the enclosing space), a four-character type and a body.  Top-level boxes are
walked over the sparse file, hopping by their sizes; boxes inside a box we
hold whole (`meta`) are walked over its bytes.
"""

from __future__ import annotations

import struct

from imgprint.spans import Spans

#: (type, offset, header length, total size)
Box = tuple[bytes, int, int, int]

#: Bound on top-level boxes walked.
MAX_BOXES = 1000


def _box_header(spans: Spans, pos: int, end: int | None) -> tuple[bytes, int, int] | None:
    """(type, header length, total size) of the box at pos; None if unheld or junk."""
    head = spans.get(pos, pos + 8)
    if head is None:
        return None
    size, btype = struct.unpack(">I4s", head)
    hlen = 8
    if size == 1:
        big = spans.get(pos + 8, pos + 16)
        if big is None:
            return None
        size, hlen = struct.unpack(">Q", big)[0], 16
    elif size == 0:
        if end is None:
            return None
        size = end - pos
    if size < hlen:
        return btype, hlen, -1
    return btype, hlen, size


def top_boxes(spans: Spans) -> tuple[list[Box], int | None]:
    """Top-level boxes and where the walk stalled for want of bytes (None: it
    reached the end of the file or junk)."""
    boxes: list[Box] = []
    pos = 0
    end = spans.size
    for _ in range(MAX_BOXES):
        if end is not None and pos + 8 > end:
            return boxes, None
        hdr = _box_header(spans, pos, end)
        if hdr is None:
            return boxes, pos
        btype, hlen, size = hdr
        if size < 0:
            return boxes, None
        boxes.append((btype, pos, hlen, size))
        pos += size
    return boxes, None


def children(data: bytes, start: int, limit: int = 10_000) -> list[Box]:
    """Child boxes inside `data` from `start` (offsets into `data`)."""
    out: list[Box] = []
    pos = start
    while pos + 8 <= len(data) and len(out) < limit:
        size, btype = struct.unpack(">I4s", data[pos : pos + 8])
        hlen = 8
        if size == 1 and pos + 16 <= len(data):
            size, hlen = struct.unpack(">Q", data[pos + 8 : pos + 16])[0], 16
        elif size == 0:
            size = len(data) - pos
        if size < hlen or pos + size > len(data):
            break
        out.append((btype, pos, hlen, size))
        pos += size
    return out
