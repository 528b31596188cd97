"""JPEG: segment walk from SOI to SOS, what to fetch, header facts.

Everything we want sits in marker segments before the scan data: APP1 Exif
(at most 64 KB, but only its IFDs and values matter to exifread with
details=False, not the MakerNote bulk), APP1 XMP, APP2 ICC_PROFILE, APP0
JFIF density, DQT (quality), SOFn (dimensions, progressive).  Each segment
header gives the next one's position, so big APPn segments past the prefix
cost one round trip per hop; we ask for a window after each hop so the small
tables that usually close the header section come along. A run of chunks
whose headers say where it ends (a FLIR FFF stream, an ExtendedXMP depth map,
a big ICC profile: `jpeg_runs`) is skipped instead, once its end is confirmed.

The coded data (content hash, first progressive scan) is `jpeg_coded`'s, the
quality estimate `jpeg_quality`'s.
"""

from __future__ import annotations

import struct

from imgprint.spans import Range, Spans

from . import jpeg_runs
from .exif_walk import exif_needed
from .jpeg_quality import quality, read_dqt
from .tiff_ifd import exif_density

#: Bound on segments walked (a real file has a few dozen at most).
MAX_SEGMENTS = 1000
#: Bytes asked for at a segment header past the bytes held.
HOP_WINDOW = 2048

SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
PROGRESSIVE = {0xC2, 0xC6, 0xCA, 0xCE}
#: Segments that decoding needs: quantisation and Huffman tables, frame header,
#: restart interval, arithmetic conditioning, and the scan header itself.
CODED_MARKERS = SOF_MARKERS | {0xC4, 0xCC, 0xDB, 0xDD, 0xDA}
_XMP_ID = b"http://ns.adobe.com/xap/1.0/\0"

#: (marker, offset of its 0xFF, length field)
Segment = tuple[int, int, int]


def walk(spans: Spans) -> tuple[list[Segment], int | None]:
    """Segments up to SOS; and where the walk stopped for want of bytes (None
    when it reached SOS/EOI or ran out of file).

    Like libjpeg's next_marker, bytes that are not a marker are skipped, so a
    wrong length field costs a resync rather than the rest of the header.
    A run of chunks whose headers say where it ends (FLIR, ExtendedXMP, ICC:
    `jpeg_runs`) is skipped once per walk: its chunks past the walk are not
    listed (`predicted` lists them), and until the prediction is confirmed the
    walk stops at the predicted place, so the next fetch goes there.
    Planning, facts and the coded data all walk: once per bytes held (the list
    is shared: callers only read it)."""
    segs, stuck, _ = _walked(spans)
    return segs, stuck


def predicted(spans: Spans) -> list[Segment]:
    """The chunks the walk skipped by prediction (`jpeg_runs`): their headers
    are not held, their lengths are predicted."""
    return _walked(spans)[2]


def _walked(spans: Spans) -> tuple[list[Segment], int | None, list[Segment]]:
    return spans.memo("jpeg_walk", lambda: _walk(spans))


def _walk(spans: Spans) -> tuple[list[Segment], int | None, list[Segment]]:
    segs: list[Segment] = []
    skipped: list[Segment] = []
    jumped = False
    pos = 2
    end = spans.size
    resyncs = 0
    for _ in range(MAX_SEGMENTS * 4):
        if end is not None and pos + 4 > end:
            return segs, None, skipped
        head = spans.get(pos, pos + 4)
        if head is None:
            if jumped:  # one run skipped per walk
                return segs, pos, skipped
            run = jpeg_runs.predict(spans, segs, pos)
            confirmed, goes_on = jpeg_runs.resolve(spans, run) if run else (False, pos)
            if run is None or not confirmed:
                return segs, goes_on, skipped
            skipped, jumped = jpeg_runs.skipped(run, goes_on), True
            pos = goes_on
            continue
        if head[0] != 0xFF or head[1] == 0x00:
            # Resync on the next 0xFF within the bytes held.
            block = spans.get_partial(pos + 1, pos + 65536)
            nxt = block.find(b"\xff")
            resyncs += 1
            if nxt < 0 or resyncs > 64:
                stop = (pos + 1 + len(block)) if len(block) < 65535 else None
                return segs, stop, skipped
            pos += 1 + nxt
            continue
        step = _step(head, segs, pos)
        if step is None:
            return segs, None, skipped
        pos += step
    return segs, None, skipped


def _step(head: bytes, segs: list[Segment], pos: int) -> int | None:
    """Bytes from the marker at `pos` (`head`: its first 4) to the next one,
    the segment added to `segs`; None where the walk ends (EOI, SOS, a bad
    length, `MAX_SEGMENTS`)."""
    marker = head[1]
    if marker == 0xFF:  # fill byte
        return 1
    if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
        return 2  # standalone markers: no length field
    if marker == 0xD9:
        return None
    length = struct.unpack(">H", head[2:4])[0]
    if length < 2:
        return None
    segs.append((marker, pos, length))
    if marker == 0xDA or len(segs) >= MAX_SEGMENTS:
        return None
    return 2 + length


def _payload(spans: Spans, seg: Segment, n: int | None = None) -> bytes | None:
    """The first `n` bytes (all by default) of a segment's payload, if held."""
    _, pos, length = seg
    want = length - 2 if n is None else min(n, length - 2)
    return spans.get(pos + 4, pos + 4 + want)


def exif_offset(spans: Spans) -> int | None:
    """TIFF header of the first APP1 Exif segment (exifread's choice of segment)."""
    segs, _ = walk(spans)
    for seg in segs:
        if seg[0] == 0xE1 and _payload(spans, seg, 4) == b"Exif" and seg[2] >= 16:
            return seg[1] + 10
    return None


def needed(spans: Spans) -> list[Range]:
    """Segment headers, small tables and Exif IFD data not yet held."""
    if spans.get(0, 2) != b"\xff\xd8":
        return []
    segs, stuck = walk(spans)
    out: list[Range] = []
    for marker, pos, length in segs:
        if marker in SOF_MARKERS or marker in (0xDB, 0xE0, 0xEE):
            out.extend(spans.missing(pos, pos + 2 + min(length, 1024)))
        elif 0xE1 <= marker <= 0xEF and not _is_flir(spans, marker, pos):
            # Enough of every APPn to tell what it is (Exif, XMP, ExtendedXMP,
            # ICC_PROFILE, Photoshop: `jpeg_blocks`); a FLIR chunk's 12 bytes
            # (`jpeg_vendor`) tell already.
            out.extend(spans.missing(pos, pos + min(2 + length, 4 + 36)))
    off = exif_offset(spans)
    app1 = next((seg for seg in segs if seg[1] + 10 == off), None)
    # A conforming Exif segment holds every byte its IFDs point at, so a held
    # segment needs no exifread walk to plan with (offsets pointing outside it
    # are broken, and fetching them would fetch garbage).
    if off is not None and not (app1 and spans.has(app1[1], app1[1] + 2 + app1[2])):
        out.extend(exif_needed(spans, off))
    if stuck is not None:
        out.append((stuck, stuck + HOP_WINDOW))
    return out


def _is_flir(spans: Spans, marker: int, pos: int) -> bool:
    return marker == 0xE1 and spans.get(pos + 4, pos + 9) == b"FLIR\0"


def _jfif_density(payload: bytes | None) -> list[int] | None:
    """[x, y] dots per inch from an APP0 JFIF payload's first 12 bytes, if it says."""
    if payload is None or len(payload) != 12 or payload[:5] != b"JFIF\0":
        return None
    unit, x, y = payload[7], *struct.unpack(">HH", payload[8:12])
    if unit == 1 and x and y:
        return [x, y]
    if unit == 2 and x and y:
        return [round(x * 2.54), round(y * 2.54)]
    return None


def facts(spans: Spans) -> dict:
    """Dimensions, precision, progressive, quality, ICC/XMP presence, density."""
    out: dict = {"has_transparency": False}
    segs, stuck = walk(spans)
    tables: dict[int, list[int]] = {}
    icc = xmp = saw_sof = False
    density = None
    for seg in segs:
        marker = seg[0]
        if marker in SOF_MARKERS and not saw_sof:
            p = _payload(spans, seg, 6)
            if p is not None and len(p) == 6:
                saw_sof = True
                out["bit_depth"] = p[0]
                out["height"], out["width"] = struct.unpack(">HH", p[1:5])
                out["progressive"] = marker in PROGRESSIVE
        elif marker == 0xDB:
            p = _payload(spans, seg)
            if p is not None:
                read_dqt(p, tables)
        elif marker == 0xE2:
            icc = icc or _payload(spans, seg, 12) == b"ICC_PROFILE\0"
        elif marker == 0xE1:
            xmp = xmp or _payload(spans, seg, len(_XMP_ID)) == _XMP_ID
        elif marker == 0xE0:
            density = _jfif_density(_payload(spans, seg, 12)) or density
    # Absence is only known once the walk has seen every segment.
    complete = stuck is None
    if complete or icc:
        out["has_color_profile"] = icc
    if complete or xmp:
        out["has_xmp"] = xmp
    q = quality(tables) if tables else None
    if q is not None:
        out["quality"] = q
    if density is None:
        # No JFIF density: fall back on the X/YResolution of the EXIF IFD0.
        off = exif_offset(spans)
        density = exif_density(spans, off) if off is not None else None
    out["density"] = density
    return out
