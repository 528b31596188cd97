"""WebP: RIFF chunk walk.

Simple files (VP8/VP8L alone) have no metadata.  Extended files announce
ICC/EXIF/XMP/animation in the VP8X flags; EXIF and XMP come after the image
data. Once the walk reaches pixels, a still image's remaining bytes (its
metadata chunks) are fetched whole when they are few; otherwise the file's
tail, chained backwards from the RIFF end, and the chunk header where the
forward walk stopped while the flagged EXIF is not found (a camera's 60 KB
EXIF before its XMP is in no tail worth fetching). Blocks: XMP and ICCP chunk
data; flagged chunks never found are reported unread (`expected`).
"""

from __future__ import annotations

import re
import struct

from imgprint.spans import Block, Range, Spans

from .chunks import Chunk, chain_back, coded_needed
from .exif_walk import exif_needed

MAX_CHUNKS = 100_000
HOP_WINDOW = 4096
TAIL = 8192
#: Bytes after a still image's bitstream fetched whole (they are its metadata
#: chunks): a camera's EXIF (60 KB) and XMP come in one request.
REST_ALL = 128 * 1024
_IMAGE = (b"VP8 ", b"VP8L", b"ANMF", b"ALPH")
#: Where a FourCC (ASCII letters, digits, spaces) starts, for the backward search.
_FOURCC = re.compile(rb"(?=[0-9A-Za-z ]{4})")


def _is_fourcc(t: bytes) -> bool:
    """Four ASCII letters, digits or spaces: anything else is not a chunk header."""
    return len(t) == 4 and all(48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c == 32
                               for c in t)


def _end(spans: Spans) -> int | None:
    """End of the RIFF data (clipped to the file), else the file size if known."""
    head = spans.get(4, 8)
    if head is None:
        return spans.size
    riff_end = 8 + struct.unpack("<I", head)[0]
    return min(riff_end, spans.size) if spans.size is not None else riff_end


def walk(spans: Spans) -> tuple[list[Chunk], int | None]:
    """Chunks (fourcc, offset, size) from offset 12; where the walk stopped for bytes."""
    chunks: list[Chunk] = []
    end = _end(spans)
    pos = 12
    for _ in range(MAX_CHUNKS):
        if end is not None and pos + 8 > end:
            return chunks, None
        head = spans.get(pos, pos + 8)
        if head is None:
            return chunks, pos
        if not _is_fourcc(head[:4]):
            return chunks, None
        size = struct.unpack("<I", head[4:])[0]
        chunks.append((head[:4], pos, size))
        pos += 8 + size + (size & 1)
    return chunks, None


def _ends_at(head: bytes, p: int, end: int) -> Chunk | None:
    # fourcc (4), size (4, little-endian), data, a pad byte when the size is odd
    size = int.from_bytes(head[4:8], "little")
    if p + 8 + size + (size & 1) == end and _is_fourcc(head[:4]):
        return head[:4], p, size
    return None


def tail_chunks(spans: Spans, floor: int) -> tuple[list[Chunk], bool]:
    """Chunks chained backwards from the RIFF end through the held tail."""
    end = _end(spans)
    if end is None:
        return [], False
    return chain_back(spans, end, floor, 8, _ends_at, frozenset(_IMAGE), _FOURCC, 0)


def _flags(spans: Spans) -> int | None:
    """The VP8X feature flags (ICC 0x20, alpha 0x10, EXIF 8, XMP 4, animation 2)."""
    head = spans.get(12, 21)
    if head is None or head[:4] != b"VP8X":
        return None
    return head[8]


def _all_chunks(spans: Spans) -> tuple[list[Chunk], bool, int | None]:
    """The chunks seen from the front and the back; whether none can be missing;
    where the forward walk stopped (memoised: planning, blocks and facts ask)."""
    return spans.memo("webp_chunks", lambda: _find_all_chunks(spans))


def _find_all_chunks(spans: Spans) -> tuple[list[Chunk], bool, int | None]:
    chunks, stuck = walk(spans)
    if stuck is None:
        return chunks, True, None
    if any(c[0] in _IMAGE for c in chunks):
        tail, ok = tail_chunks(spans, stuck)
        return chunks + tail, ok, stuck
    return chunks, False, stuck


def exif_offset(spans: Spans) -> int | None:
    """TIFF header inside the EXIF chunk (after an optional 'Exif\\0\\0')."""
    flags = _flags(spans)
    if flags is None or not flags & 8:
        return None
    chunks, _, _ = _all_chunks(spans)
    for fourcc, pos, _size in chunks:
        if fourcc == b"EXIF":
            head = spans.get(pos + 8, pos + 14)
            if head is None:
                return None
            return pos + 14 if head == b"Exif\0\0" else pos + 8
    return None


def _after_image(spans: Spans, chunks: list[Chunk], stuck: int, end: int,
                 flags: int) -> list[Range]:
    """What to fetch once the forward walk is past the image data at `stuck`.

    A still image has nothing but metadata chunks (EXIF, XMP) after its
    bitstream: up to `REST_ALL` bytes of them are fetched in one request.
    Otherwise the tail (chained backwards from the RIFF end) and, while the
    flagged EXIF chunk has not been found, the chunk header at `stuck`: a
    camera's 60 KB EXIF before its XMP lies outside any tail worth fetching."""
    # Right past the bitstream itself (not an ALPH chunk that precedes it).
    before = max((c for c in chunks if c[1] < stuck), key=lambda c: c[1], default=None)
    bitstream = before is not None and before[0] in (b"VP8 ", b"VP8L")
    if not flags & 2 and bitstream and end - stuck <= REST_ALL:
        return [(stuck, end)]
    out: list[Range] = []
    start = max(stuck, end - TAIL)
    if not spans.has(start, end):
        out.append((start, end))
    if flags & 8 and not any(c[0] == b"EXIF" for c in chunks):
        out.append((stuck, stuck + HOP_WINDOW))
    return out


def needed(spans: Spans) -> list[Range]:
    """VP8X/first chunk, and for EXIF/XMP-flagged files the chunks up to EXIF
    and the EXIF IFDs, wherever the EXIF chunk lies."""
    if spans.get(0, 4) != b"RIFF" or spans.get(8, 12) != b"WEBP":
        return []
    out = spans.missing(12, 12 + 30)
    flags = _flags(spans)
    if flags is None or not flags & (8 | 4):
        return out
    chunks, ok, stuck = _all_chunks(spans)
    end = _end(spans)
    if not ok and stuck is not None:
        if any(c[0] in _IMAGE for c in chunks) and end is not None:
            out.extend(_after_image(spans, chunks, stuck, end, flags))
        else:
            out.append((stuck, stuck + HOP_WINDOW))
    for fourcc, pos, _size in chunks:
        if fourcc == b"EXIF":
            out.extend(spans.missing(pos + 8, pos + 14))
            off = exif_offset(spans)
            if off is not None:
                out.extend(exif_needed(spans, off))
    return out


#: Chunks that are metadata blocks, and their kinds (`imgprint.formats.blocks`).
BLOCK_CHUNKS = {b"XMP ": "xmp", b"ICCP": "icc"}
#: VP8X flags of the chunks the file announces, and what to call them unread.
FLAGGED = ((0x20, b"ICCP", "icc"), (8, b"EXIF", "exif"), (4, b"XMP ", "xmp"))


def blocks(spans: Spans) -> list[Block]:
    """XMP and ICCP chunk data of the chunks seen from the front and the back."""
    if spans.get(0, 4) != b"RIFF" or spans.get(8, 12) != b"WEBP":
        return []
    chunks, _, _ = _all_chunks(spans)
    return [(BLOCK_CHUNKS[fourcc], pos + 8, pos + 8 + size)
            for fourcc, pos, size in chunks if fourcc in BLOCK_CHUNKS]


def expected(spans: Spans) -> list[str]:
    """Kinds the VP8X flags announce that no chunk seen holds, while some
    chunks are unseen (a walk that saw every chunk proves the flag wrong)."""
    flags = _flags(spans)
    if flags is None:
        return []
    chunks, ok, _ = _all_chunks(spans)
    if ok:
        return []
    types = {c[0] for c in chunks}
    return [kind for flag, fourcc, kind in FLAGGED if flags & flag and fourcc not in types]


def facts(spans: Spans) -> dict:
    """Canvas or frame size, alpha, ICC/XMP flags, animation frames where cheap."""
    out: dict = {"density": None}
    first = spans.get(12, 12 + 30)
    if first is None:
        first = spans.get_partial(12, 12 + 30)
    fourcc = first[:4]
    data = first[8:]
    if fourcc == b"VP8X" and len(data) >= 10:
        flags = data[0]
        out["width"] = 1 + int.from_bytes(data[4:7], "little")
        out["height"] = 1 + int.from_bytes(data[7:10], "little")
        out["has_transparency"] = bool(flags & 0x10)
        out["has_color_profile"] = bool(flags & 0x20)
        out["has_xmp"] = bool(flags & 0x04)
        chunks, complete, _ = _all_chunks(spans)
        if flags & 0x02:
            if complete:
                out["frames"] = sum(1 for c in chunks if c[0] == b"ANMF")
        else:
            out["frames"] = 1
        out["bit_depth"] = 8
    elif fourcc == b"VP8 " and len(data) >= 10 and data[3:6] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", data[6:10])
        out.update(width=w & 0x3FFF, height=h & 0x3FFF, has_transparency=False,
                   has_color_profile=False, has_xmp=False, frames=1, bit_depth=8)
    elif fourcc == b"VP8L" and len(data) >= 5 and data[0] == 0x2F:
        bits = int.from_bytes(data[1:5], "little")
        out.update(width=(bits & 0x3FFF) + 1, height=((bits >> 14) & 0x3FFF) + 1,
                   has_transparency=bool(bits >> 28 & 1), has_color_profile=False,
                   has_xmp=False, frames=1, bit_depth=8)
    return out


# --- coded data ---------------------------------------------------------------


def _coded_walk(spans: Spans, k: int) -> tuple[list[Range], int | None, bool]:
    """Canvas size and the start of each bitstream chunk up to the first VP8/VP8L
    (or the first frame's); where a missing chunk header stopped the walk; and
    whether the bitstream was reached."""
    chunks, stuck = walk(spans)
    out: list[Range] = []
    for fourcc, pos, size in chunks:
        data = pos + 8
        if fourcc == b"VP8X":
            # Canvas size only: the flag byte changes when EXIF/XMP are added.
            out.append((data + 4, data + 10))
        elif fourcc == b"ALPH":
            out.append((data, data + min(size, k)))
        elif fourcc in (b"VP8 ", b"VP8L", b"ANMF"):
            out.append((data, data + min(size, k)))
            return out, None, True
    return out, stuck, False


def content_spans(spans: Spans, k: int) -> list[Range] | None:
    """The first `k` bytes of the ALPH and VP8/VP8L (or first ANMF) chunk data, plus
    the VP8X canvas size; None until the walk has reached the bitstream.

    ICCP, EXIF and XMP chunks and the VP8X flags are left out."""
    if spans.get(0, 4) != b"RIFF" or spans.get(8, 12) != b"WEBP":
        return None
    out, _, reached = _coded_walk(spans, k)
    return out if reached else None


def content_needed(spans: Spans, k: int) -> list[Range]:
    """The next chunk header (and the data behind it) the coded-data walk lacks."""
    if spans.get(0, 4) != b"RIFF" or spans.get(8, 12) != b"WEBP":
        return []
    out, stuck, _ = _coded_walk(spans, k)
    return coded_needed(out, stuck, k)
