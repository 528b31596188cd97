"""Metadata blocks in TIFF structures: IFD0's XMP, IPTC, Photoshop and ICC
tags, and the EXIF UserComment of any container.

A tag's value is located from its IFD entry alone (type, count, offset or
inline field), so the block's range is known as soon as the entries are held;
its bytes are planned like any other block (`imgprint.formats.blocks`).
exifread with ``details=False`` skips UserComment (and XMP), so the EXIF walk
never plans them: they are found here.
"""

from __future__ import annotations

import struct

from imgprint.spans import Block, Range, Spans

from .tiff_ifd import TYPE_SIZES, header

#: IFD0 tags holding blocks, and their kinds.
TIFF_TAGS = {700: "xmp", 33723: "iptc", 34377: "photoshop", 34675: "icc"}
#: Exif sub-IFD pointer (in IFD0) and UserComment (in the Exif IFD).
EXIF_IFD, USER_COMMENT = 0x8769, 0x9286
#: Entries read per IFD (the format allows 65,535; real IFDs hold a few dozen).
MAX_ENTRIES = 4096


def _entries(spans: Spans, base: int, offset: int, endian: str,
             big: bool) -> list[tuple[int, int, int, int]] | None:
    """(tag, type, count, absolute entry position) of the IFD at `base+offset`,
    None unless its entry count and entries are held."""
    count_len, entry_len = (8, 20) if big else (2, 12)
    pos = base + offset
    head = spans.get(pos, pos + count_len)
    if head is None:
        return None
    n = min(struct.unpack(endian + ("Q" if big else "H"), head)[0], MAX_ENTRIES)
    body = spans.get(pos + count_len, pos + count_len + entry_len * n)
    if body is None:
        return None
    fmt = endian + ("HHQ" if big else "HHI")
    head_len = struct.calcsize(fmt)
    out = []
    for i in range(n):
        tag, typ, count = struct.unpack(fmt, body[entry_len * i : entry_len * i + head_len])
        out.append((tag, typ, count, pos + count_len + entry_len * i))
    return out


def _value_span(spans: Spans, base: int, endian: str, big: bool,
                entry: tuple[int, int, int, int]) -> Range | None:
    """Absolute range of an entry's value bytes (inline or out of line)."""
    _, typ, count, pos = entry
    # A type no reader knows reads as bytes (as ExifTool does), so a block
    # with a damaged type is still found.
    size = TYPE_SIZES.get(typ, 1) * count
    if size <= 0:
        return None
    field = pos + (12 if big else 8)
    if size <= (8 if big else 4):
        return field, field + size
    raw = spans.get(field, field + (8 if big else 4))
    if raw is None:
        return None
    off = base + struct.unpack(endian + ("Q" if big else "I"), raw)[0]
    if spans.size is not None and off + size > spans.size:
        # Cut by the end of the file: what there is (nothing past it).
        return (off, spans.size) if off < spans.size else None
    return off, off + size


def tag_spans(spans: Spans, base: int, offset: int, endian: str, big: bool,
              tags: set[int] | dict[int, str]) -> dict[int, Range]:
    """Absolute value ranges of `tags` in the IFD at `base+offset` (the first
    entry of a tag wins, as exifread's)."""
    out: dict[int, Range] = {}
    for entry in _entries(spans, base, offset, endian, big) or []:
        if entry[0] in tags and entry[0] not in out:
            span = _value_span(spans, base, endian, big, entry)
            if span is not None:
                out[entry[0]] = span
    return out


def tiff_blocks(spans: Spans) -> list[Block]:
    """XMP (700), IPTC (33723), Photoshop (34377) and ICC (34675) of IFD0."""
    hdr = header(spans)
    if hdr is None:
        return []
    endian, offset, big = hdr
    found = tag_spans(spans, 0, offset, endian, big, TIFF_TAGS)
    return [(TIFF_TAGS[tag], start, end) for tag, (start, end) in found.items()]


def user_comment(spans: Spans, base: int) -> Block | None:
    """The UserComment value of the Exif IFD of the TIFF blob at `base`."""
    hdr = header(spans, base)
    if hdr is None or hdr[2]:
        return None
    endian, offset, _ = hdr
    pointer = tag_spans(spans, base, offset, endian, False, {EXIF_IFD}).get(EXIF_IFD)
    if pointer is None:
        return None
    raw = spans.get(*pointer)
    if raw is None or len(raw) < 4:
        return None
    sub = struct.unpack(endian + "I", raw[:4])[0]
    if not sub or sub == offset:
        return None
    span = tag_spans(spans, base, sub, endian, False, {USER_COMMENT}).get(USER_COMMENT)
    return ("user_comment", *span) if span is not None else None
