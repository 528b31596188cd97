"""A small TIFF IFD reader of our own, for facts and for locating data.

exifread answers "which tags" (`exif_walk`); the facts (size, depth, density),
the first strip and the EXIF thumbnail need a few values read directly, from
whatever part of the IFDs is held, without running exifread again.
"""

from __future__ import annotations

import struct

from imgprint.spans import Range, Spans

#: Bytes per value of each TIFF field type.
TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8,
              13: 4, 16: 8, 17: 8, 18: 8}
#: struct codes of the numeric field types (rationals and bytes are read apart).
_STRUCT_CODES = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i", 11: "f", 12: "d",
                 13: "I", 16: "Q", 17: "q", 18: "Q"}
#: Tags of IFD1 that locate the EXIF JPEG thumbnail.
_THUMB_OFFSET, _THUMB_LENGTH = 0x201, 0x202


class IFD:
    """Entries of one IFD: tag -> (type, count, value-or-offset bytes)."""

    def __init__(self, spans: Spans, base: int, endian: str) -> None:
        self.spans = spans
        self.base = base
        self.endian = endian
        self.entries: dict[int, tuple[int, int, bytes]] = {}
        self.next_offset = 0

    def _offset(self, raw: bytes) -> int:
        """The offset (from the TIFF header) that an out-of-line value field holds."""
        off: int = struct.unpack(self.endian + "I", raw)[0]
        return off

    def values(self, tag: int, limit: int = 64) -> list | None:
        """Numeric values of `tag` (rationals as floats), None if absent or unheld."""
        entry = self.entries.get(tag)
        if entry is None:
            return None
        typ, count, raw = entry
        size = TYPE_SIZES.get(typ)
        if size is None or count < 1:
            return None
        count = min(count, limit)
        nbytes = size * count
        data: bytes | None
        if nbytes <= 4:
            data = raw[:nbytes]
        else:
            off = self._offset(raw)
            data = self.spans.get(self.base + off, self.base + off + nbytes)
            if data is None:
                return None
        try:
            if typ in (5, 10):
                nums = struct.unpack(self.endian + ("I" if typ == 5 else "i") * 2 * count, data)
                return [a / b if b else 0.0 for a, b in zip(nums[::2], nums[1::2], strict=True)]
            if typ in (2, 7):
                return list(data)
            return list(struct.unpack(self.endian + _STRUCT_CODES[typ] * count, data))
        except (struct.error, KeyError):
            return None

    def value(self, tag: int) -> int | float | None:
        """The first value of `tag`, None if absent or unheld."""
        vals = self.values(tag, 1)
        return vals[0] if vals else None

    def first_value_span(self, tag: int) -> Range | None:
        """Absolute span of the first value of `tag` when it is stored out of line."""
        entry = self.entries.get(tag)
        if entry is None:
            return None
        typ, count, raw = entry
        size = TYPE_SIZES.get(typ)
        if size is None or size * count <= 4:
            return None
        off = self._offset(raw)
        return self.base + off, self.base + off + size


def header(spans: Spans, base: int = 0) -> tuple[str, int, bool] | None:
    """(struct endian, first IFD offset, is BigTIFF) of the TIFF header at `base`."""
    head = spans.get(base, base + 16) or spans.get(base, base + 8)
    if head is None or head[:2] not in (b"II", b"MM"):
        return None
    endian = "<" if head[:2] == b"II" else ">"
    magic = struct.unpack(endian + "H", head[2:4])[0]
    if magic == 43 and len(head) >= 16:
        return endian, struct.unpack(endian + "Q", head[8:16])[0], True
    return endian, struct.unpack(endian + "I", head[4:8])[0], False


def read_ifd(spans: Spans, base: int, offset: int, endian: str) -> IFD | None:
    """Parse the IFD at `base + offset` if its entries are held (classic TIFF only)."""
    head = spans.get(base + offset, base + offset + 2)
    if head is None:
        return None
    (n,) = struct.unpack(endian + "H", head)
    n = min(n, 4096)
    body = spans.get(base + offset + 2, base + offset + 2 + 12 * n + 4)
    if body is None:
        # The entries without the next-IFD offset still give the facts.
        body = spans.get(base + offset + 2, base + offset + 2 + 12 * n)
        if body is None:
            return None
        body += b"\0\0\0\0"
    ifd = IFD(spans, base, endian)
    for i in range(n):
        tag, typ, count = struct.unpack(endian + "HHI", body[12 * i : 12 * i + 8])
        ifd.entries.setdefault(tag, (typ, count, body[12 * i + 8 : 12 * i + 12]))
    ifd.next_offset = struct.unpack(endian + "I", body[12 * n : 12 * n + 4])[0]
    return ifd


def read_bigtiff_ifd0(spans: Spans, offset: int, endian: str) -> IFD | None:
    """IFD0 of a BigTIFF, re-packed as classic entries where values fit inline."""
    head = spans.get(offset, offset + 8)
    if head is None:
        return None
    n = min(struct.unpack(endian + "Q", head)[0], 4096)
    body = spans.get(offset + 8, offset + 8 + 20 * n)
    if body is None:
        return None
    ifd = IFD(spans, 0, endian)
    for i in range(n):
        tag, typ, count = struct.unpack(endian + "HHQ", body[20 * i : 20 * i + 12])
        raw = body[20 * i + 12 : 20 * i + 20]
        size = TYPE_SIZES.get(typ, 1) * count
        if size <= 4:
            ifd.entries.setdefault(tag, (typ, count, raw[:4]))
        elif size <= 8:
            # Inline in BigTIFF but not in classic: keep it readable via a fake offset.
            ifd.entries.setdefault(tag, (typ, min(count, 1), raw[:4]))
        else:
            (off,) = struct.unpack(endian + "Q", raw)
            if off < 1 << 32:
                ifd.entries.setdefault(tag, (typ, count, struct.pack(endian + "I", off)))
    return ifd


def ifd0(spans: Spans) -> tuple[IFD | None, int, bool]:
    """IFD0 of a TIFF file (None unless its entries are held), its offset, and
    whether the file is a BigTIFF; (None, 0, False) without a TIFF header."""
    hdr = header(spans)
    if hdr is None:
        return None, 0, False
    endian, off, big = hdr
    ifd = read_bigtiff_ifd0(spans, off, endian) if big else read_ifd(spans, 0, off, endian)
    return ifd, off, big


def density_from(ifd: IFD) -> list[int] | None:
    """[x, y] dots per inch from X/YResolution and ResolutionUnit, if present."""
    x, y = ifd.value(282), ifd.value(283)
    if not x or not y:
        return None
    unit = ifd.value(296) or 2
    if unit == 3:
        x, y = x * 2.54, y * 2.54
    elif unit != 2:
        return None
    return [round(x), round(y)]


def exif_density(spans: Spans, base: int) -> list[int] | None:
    """`density_from` the IFD0 of the (classic) TIFF blob at `base`, if held."""
    hdr = header(spans, base)
    if hdr is None or hdr[2]:
        return None
    ifd = read_ifd(spans, base, hdr[1], hdr[0])
    return density_from(ifd) if ifd is not None else None


def thumbnail_span(spans: Spans, base: int, max_bytes: int) -> Range | None:
    """Absolute span of the JPEG thumbnail IFD1 points at (JPEGInterchangeFormat,
    JPEGInterchangeFormatLength) in the TIFF blob at `base`; None if there is none,
    it is longer than `max_bytes`, or IFD0/IFD1 are not held."""
    hdr = header(spans, base)
    if hdr is None or hdr[2]:
        return None
    endian, off, _ = hdr
    first = read_ifd(spans, base, off, endian)
    if first is None or not first.next_offset or first.next_offset == off:
        return None
    second = read_ifd(spans, base, first.next_offset, endian)
    if second is None:
        return None
    start, length = second.value(_THUMB_OFFSET), second.value(_THUMB_LENGTH)
    if not isinstance(start, int) or not isinstance(length, int) or not 0 < length <= max_bytes:
        return None
    start += base
    if spans.size is not None and start + length > spans.size:
        return None
    return start, start + length
