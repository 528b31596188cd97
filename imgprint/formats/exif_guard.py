"""Keep image content out of EXIF values: no tag may be read from pixel data.

An EXIF value stored out of line is wherever its offset says, and nothing
stops a file from pointing an ASCII tag at its own pixel strip: 3,500 such
tags tiled a TIFF's strip and put 166 KB of pixels into one feed line. So
before the tags become strings, every tag whose value bytes overlap the image
data that the same TIFF structure declares -- strips (StripOffsets/
StripByteCounts), tiles (TileOffsets/TileByteCounts) and the JPEG thumbnail
(JPEGInterchangeFormat/Length) of IFD0 and IFD1 -- is dropped, once such
values cover more than ``MAX_OVERLAP`` (128) bytes in more than ``MAX_STRAY``
(8) tags. Corrupt files have a few stray values over their pixels, which the
seed tool reported too and seed compatibility keeps; they are bounded by the
per-value cap (1,024 characters), so at most ~8 KB of a record can come from
image data that way, against 166 KB before. What is left
is capped per value and in total by ``imgprint.record_caps`` when the record
is built.
"""

from __future__ import annotations

from typing import Any

from imgprint.spans import Range, Spans

from .exif_walk import _walk
from .tiff_ifd import IFD, header, read_ifd

#: (offsets tag, byte counts tag) pairs that locate image data in an IFD.
_DATA_TAGS = ((273, 279), (324, 325), (0x201, 0x202))
#: Image data EXIF values may overlap before they are dropped: bytes in all
#: (the record's sample size), or stray tags (the corpus's mutated TIFFs have
#: up to 5, which the seed tool reported).
MAX_OVERLAP = 128
MAX_STRAY = 8
#: Strips or tiles read per IFD.
MAX_PIECES = 4096


def _pieces(ifd: IFD, base: int, size: int | None) -> list[Range]:
    """Image data pieces, without those that would run past the end of the
    file (not image data, but a corrupt or foreign tag)."""
    out: list[Range] = []
    for offsets_tag, counts_tag in _DATA_TAGS:
        offsets = ifd.values(offsets_tag, MAX_PIECES) or []
        counts = ifd.values(counts_tag, MAX_PIECES) or []
        for off, count in zip(offsets, counts, strict=False):
            if isinstance(off, int) and isinstance(count, int) and count > 0:
                if size is None or base + off + count <= size:
                    out.append((base + off, base + off + count))
    return out


def image_data_ranges(spans: Spans, base: int) -> list[Range]:
    """Absolute ranges of image data declared by IFD0 and IFD1 of the TIFF at `base`."""
    hdr = header(spans, base)
    if hdr is None or hdr[2]:
        return []
    endian, offset, _ = hdr
    out: list[Range] = []
    seen = set()
    for _ in range(2):  # IFD0, IFD1
        if not offset or offset in seen:
            break
        seen.add(offset)
        ifd = read_ifd(spans, base, offset, endian)
        if ifd is None:
            break
        out += _pieces(ifd, base, spans.size)
        offset = ifd.next_offset
    return out


def image_data_tags(spans: Spans, base: int, tags: dict[str, Any]) -> set[str]:
    """Names of exifread's `tags` whose value bytes overlap image data."""
    ranges = image_data_ranges(spans, base)
    if not ranges:
        return set()
    bad = set()
    overlap = 0
    for name, tag in tags.items():
        start = getattr(tag, "field_offset", None)
        length = getattr(tag, "field_length", 0) or 0
        if isinstance(start, int) and length > 4:
            lo, hi = base + start, base + start + length
            if any(lo < e and s < hi for s, e in ranges):
                bad.add(name)
                overlap += length
    # A few stray values over the pixels (corrupt files have them; exifread and
    # the seed tool report them) are kept: at most MAX_STRAY tags, each capped
    # at 1,024 characters in the record (imgprint.record_caps).
    return bad if overlap > MAX_OVERLAP and len(bad) > MAX_STRAY else set()


def without_image_data(spans: Spans, base: int, strings: dict[str, str]) -> dict[str, str]:
    """The tag strings of the EXIF at `base` without those read from image data."""
    # The walk exif_tags_at already ran (memoised per bytes held): its raw tags
    # carry each value's offset and length, which the strings have lost.
    raw: Any = _walk(spans, base)
    if isinstance(raw, tuple):  # (tags, gaps), as the walk returned it before exif_plan
        raw = raw[0]
    if not isinstance(raw, dict):
        return strings
    bad = image_data_tags(spans, base, raw)
    return {k: v for k, v in strings.items() if k not in bad}
