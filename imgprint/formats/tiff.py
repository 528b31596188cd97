"""TIFF: the EXIF engine shared by every format, plus TIFF-file facts.

EXIF is a TIFF structure wherever it lives, and exifread reads it by seeking
around the TIFF blob.  Rather than re-implement exifread's walk to learn which
bytes it touches, we run exifread itself over a sparse view of the file in
which the gaps read as zeros, and record the reads that fell into gaps.
Zeros stop the walk where data is missing (an IFD with 0 entries), so each
round of fetching reveals the next layer; reads are widened to windows so a
layer usually comes in one request.  Because the view is the file itself,
shifted to the TIFF header, the tags equal exifread's over the whole file.
"""

from __future__ import annotations

import struct
from typing import Any

import exifread

from ..exif import ExifError, tag_strings
from .spans import SpanReader, Spans

#: Upper bound on reads exifread may do in one run; a hostile IFD can ask for
#: 65535 entries x 1000 values each.
MAX_READS = 20_000
#: Cap on any single span asked for.
MAX_SPAN = 1 << 20
#: A read into a gap is widened to this many bytes: IFDs and their values
#: tend to sit together, so one window usually covers a whole layer.
WINDOW = 2048

class FormatError(Exception):
    """Corrupt image data that exifread could not get through."""


class _TooManyReads(Exception):
    pass


class _Recorder:
    """Collects the absolute ranges exifread reads, bounded in count."""

    def __init__(self, spans: Spans) -> None:
        self.spans = spans
        self.reads = 0
        self.gaps: list[tuple[int, int]] = []

    def __call__(self, start: int, end: int) -> None:
        self.reads += 1
        if self.reads > MAX_READS:
            raise _TooManyReads
        end = min(end, start + MAX_SPAN)
        if not self.spans.has(start, end):
            self.gaps.extend(self.spans.missing(start, end))


def _run(spans: Spans, base: int, recorder: _Recorder | None) -> dict:
    reader = SpanReader(spans, base, on_read=recorder)
    return exifread.process_file(reader, details=False, extract_thumbnail=False)


def is_tiff_header(head: bytes) -> bool:
    """What exifread takes for a TIFF stream: byte order mark only."""
    return head[:2] in (b"II", b"MM")


def _walk(spans: Spans, base: int) -> tuple[dict | Exception, list[tuple[int, int]]]:
    """One exifread run from the TIFF header at `base`: its tags (or the error
    that stopped it) and the absolute ranges it read that are not held."""
    def run():
        rec = _Recorder(spans)
        try:
            result: dict | Exception = _run(spans, base, rec)
        except Exception as err:  # noqa: BLE001 - exifread raises anything on bad data
            result = err
        return result, rec.gaps
    return spans.memo(("exif_walk", base), run)


def exif_needed(spans: Spans, base: int, window: int = WINDOW) -> list[tuple[int, int]]:
    """Absolute ranges exifread would read, from a TIFF header at `base`, not yet held."""
    if not spans.has(base, base + 8):
        return [(base, base + window)]
    out = []
    for s, e in _walk(spans, base)[1]:
        # Values sit on both sides of the IFD that points at them.
        e = max(e, s + window)
        s = max(base, s - window // 4)
        out.append((s, min(e, s + MAX_SPAN)))
    return out


def exif_tags_at(spans: Spans, base: int) -> dict[str, str]:
    """exifread's tags (details=False) of the TIFF blob at `base`, as strings."""
    tags = _walk(spans, base)[0]
    if isinstance(tags, _TooManyReads):
        raise FormatError(f"EXIF at {base} needs more than {MAX_READS} reads") from tags
    if isinstance(tags, Exception):
        raise FormatError(f"exifread failed on EXIF at {base}: {tags!r}") from tags
    try:
        return tag_strings(tags)
    except ExifError as err:
        raise FormatError(str(err)) from err


# --- a small IFD reader of our own, for facts -------------------------------

_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8,
               13: 4, 16: 8, 17: 8, 18: 8}


class IFD:
    """Entries of one IFD: tag -> (type, count, value-or-offset bytes)."""

    def __init__(self, spans: Spans, base: int, endian: str) -> None:
        self.spans = spans
        self.base = base
        self.endian = endian
        self.entries: dict[int, tuple[int, int, bytes]] = {}
        self.next_offset = 0

    def values(self, tag: int, limit: int = 64) -> list | None:
        """Numeric values of `tag` (rationals as floats), None if absent or unheld."""
        entry = self.entries.get(tag)
        if entry is None:
            return None
        typ, count, raw = entry
        size = _TYPE_SIZES.get(typ)
        if size is None or count < 1:
            return None
        count = min(count, limit)
        nbytes = size * count
        if nbytes <= 4:
            data = raw[:nbytes]
        else:
            off = struct.unpack(self.endian + "I", raw)[0]
            data = self.spans.get(self.base + off, self.base + off + nbytes)
            if data is None:
                return None
        fmt = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i", 11: "f", 12: "d",
               13: "I", 16: "Q", 17: "q", 18: "Q"}
        try:
            if typ in (5, 10):
                nums = struct.unpack(self.endian + ("I" if typ == 5 else "i") * 2 * count, data)
                return [a / b if b else 0.0 for a, b in zip(nums[::2], nums[1::2], strict=True)]
            if typ in (2, 7):
                return list(data)
            return list(struct.unpack(self.endian + fmt[typ] * count, data))
        except (struct.error, KeyError):
            return None

    def value(self, tag: int):
        vals = self.values(tag, 1)
        return vals[0] if vals else None


def read_ifd(spans: Spans, base: int, offset: int, endian: str) -> IFD | None:
    """Parse the IFD at `base + offset` if its entries are held (classic TIFF only)."""
    head = spans.get(base + offset, base + offset + 2)
    if head is None:
        return None
    (n,) = struct.unpack(endian + "H", head)
    n = min(n, 4096)
    body = spans.get(base + offset + 2, base + offset + 2 + 12 * n + 4)
    if body is None:
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
        size = _TYPE_SIZES.get(typ, 1) * count
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


def ifd0_facts(ifd: IFD) -> dict:
    """Facts carried by a TIFF IFD0 (also used for EXIF-only fallbacks)."""
    out: dict = {}
    w, h = ifd.value(256), ifd.value(257)
    if isinstance(w, int) and isinstance(h, int):
        out["width"], out["height"] = w, h
    bits = ifd.values(258, 8)
    if bits:
        out["bit_depth"] = int(bits[0])
    out["has_color_profile"] = 34675 in ifd.entries
    out["has_xmp"] = 700 in ifd.entries
    extra = ifd.values(338, 8)
    out["has_transparency"] = bool(extra and any(v in (1, 2) for v in extra))
    dens = density_from(ifd)
    if dens is not None:
        out["density"] = dens
    return out


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


# --- TIFF files ---------------------------------------------------------------


def exif_offset(spans: Spans) -> int | None:
    """Offset of the TIFF header exifread parses: the file start."""
    head = spans.get(0, 2)
    return 0 if head is not None and is_tiff_header(head) else None


def needed(spans: Spans) -> list[tuple[int, int]]:
    """Ranges exifread's IFD walk (IFD0, chain, Exif/GPS/Interop) still needs."""
    if exif_offset(spans) is None:
        return []
    hdr = header(spans)
    out = exif_needed(spans, 0)
    if hdr is not None and hdr[2]:
        # BigTIFF: exifread misreads it; our facts need the real IFD0.
        off = hdr[1]
        if spans.get(off, off + 8) is None:
            out.append((off, off + WINDOW))
        else:
            n = min(struct.unpack(hdr[0] + "Q", spans.get(off, off + 8))[0], 4096)
            out.extend(spans.missing(off, off + 8 + 20 * n))
    return out


def facts(spans: Spans) -> dict:
    """Width, height, bit depth, ICC/XMP presence, alpha, density from IFD0."""
    out: dict = {"format": "tiff"}
    hdr = header(spans)
    if hdr is None:
        return out
    endian, off, big = hdr
    ifd = read_bigtiff_ifd0(spans, off, endian) if big else read_ifd(spans, 0, off, endian)
    if ifd is None:
        return out
    out.update(ifd0_facts(ifd))
    n = 1
    nxt, seen = ifd.next_offset, {off}
    while not big and nxt and nxt not in seen and n < 1000:
        seen.add(nxt)
        nifd = read_ifd(spans, 0, nxt, endian)
        if nifd is None:
            break
        n += 1
        nxt = nifd.next_offset
    if big or not nxt:
        out["frames"] = n
    return out


# --- coded data ---------------------------------------------------------------


def _first_value_at(ifd: IFD, tag: int) -> tuple[int, int] | None:
    """Absolute span of the first value of `tag` when it is stored out of line."""
    entry = ifd.entries.get(tag)
    if entry is None:
        return None
    typ, count, raw = entry
    size = _TYPE_SIZES.get(typ)
    if size is None or size * count <= 4:
        return None
    off = struct.unpack(ifd.endian + "I", raw)[0]
    return ifd.base + off, ifd.base + off + size


def _ifd0(spans: Spans) -> IFD | None:
    hdr = header(spans)
    if hdr is None:
        return None
    endian, off, big = hdr
    return read_bigtiff_ifd0(spans, off, endian) if big else read_ifd(spans, 0, off, endian)


def _strip0(spans: Spans) -> tuple[int | None, Any]:
    """(offset, byte count) of strip or tile 0; else (None, span still needed)."""
    ifd = _ifd0(spans)
    if ifd is None:
        return None, None
    for offsets, counts in ((273, 279), (324, 325)):
        if offsets in ifd.entries:
            off, n = ifd.value(offsets), ifd.value(counts)
            if off is None:
                return None, _first_value_at(ifd, offsets)
            if n is None:
                return None, _first_value_at(ifd, counts)
            return int(off), int(n)
    return None, None


def content_spans(spans: Spans, k: int) -> list[tuple[int, int]] | None:
    """The first `k` bytes of strip 0 (or tile 0) of IFD0; None until IFD0 and the
    first StripOffsets/StripByteCounts values are held.

    Tags, EXIF and XMP live in IFDs and values that are left out, so editing them
    does not change these bytes (an editor that moves the strips is fine too)."""
    if exif_offset(spans) is None:
        return None
    off, n = _strip0(spans)
    if off is None or n is None or n <= 0:
        return None
    end = off + min(n, k)
    if spans.size is not None and end > spans.size:
        return None
    return [(off, end)]


def content_needed(spans: Spans, k: int) -> list[tuple[int, int]]:
    """Out-of-line first strip offset/count values, then the strip bytes."""
    if exif_offset(spans) is None:
        return []
    off, n = _strip0(spans)
    if off is None:
        return [n] if n is not None else []
    return content_spans(spans, k) or []


def thumbnail_span(spans: Spans, base: int, max_bytes: int) -> tuple[int, int] | None:
    """Absolute span of the JPEG thumbnail IFD1 points at (JPEGInterchangeFormat,
    JPEGInterchangeFormatLength) in the TIFF blob at `base`; None if there is none,
    it is longer than `max_bytes`, or IFD0/IFD1 are not held."""
    hdr = header(spans, base)
    if hdr is None or hdr[2]:
        return None
    endian, off, _ = hdr
    ifd0 = read_ifd(spans, base, off, endian)
    if ifd0 is None or not ifd0.next_offset or ifd0.next_offset == off:
        return None
    ifd1 = read_ifd(spans, base, ifd0.next_offset, endian)
    if ifd1 is None:
        return None
    start, length = ifd1.value(0x201), ifd1.value(0x202)
    if not isinstance(start, int) or not isinstance(length, int) or not 0 < length <= max_bytes:
        return None
    start += base
    if spans.size is not None and start + length > spans.size:
        return None
    return start, start + length
