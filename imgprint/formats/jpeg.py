"""JPEG: segment walk from SOI to SOS.

Everything we want sits in marker segments before the scan data: APP1 Exif
(at most 64 KB, but only its IFDs and values matter to exifread with
details=False, not the MakerNote bulk), APP1 XMP, APP2 ICC_PROFILE, APP0
JFIF density, DQT (quality), SOFn (dimensions, progressive).  Each segment
header gives the next one's position, so big APPn segments past the prefix
cost one round trip per hop; we ask for a window after each hop so the small
tables that usually close the header section come along.
"""

from __future__ import annotations

import struct

from . import tiff
from .spans import Spans

#: Bound on segments walked (a real file has a few dozen at most).
MAX_SEGMENTS = 1000
#: Bytes asked for at a segment header past the bytes held.
HOP_WINDOW = 2048

SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
PROGRESSIVE = {0xC2, 0xC6, 0xCA, 0xCE}
_XMP_ID = b"http://ns.adobe.com/xap/1.0/\0"

ZIGZAG = [0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48,
          41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15,
          23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63]


def walk(spans: Spans) -> tuple[list[tuple[int, int, int]], int | None]:
    """Segments (marker, offset, length field) up to SOS; and where the walk stopped
    for want of bytes (None when it reached SOS/EOI or ran out of file).

    Like libjpeg's next_marker, bytes that are not a marker are skipped, so a
    wrong length field costs a resync rather than the rest of the header."""
    segs: list[tuple[int, int, int]] = []
    pos = 2
    end = spans.size
    skipped = 0
    for _ in range(MAX_SEGMENTS * 4):
        if end is not None and pos + 4 > end:
            return segs, None
        head = spans.get(pos, pos + 4)
        if head is None:
            return segs, pos
        if head[0] != 0xFF or head[1] == 0x00:
            # Resync on the next 0xFF within the bytes held.
            block = spans.get_partial(pos + 1, pos + 65536)
            nxt = block.find(b"\xff")
            skipped += 1
            if nxt < 0 or skipped > 64:
                return segs, (pos + 1 + len(block)) if len(block) < 65535 else None
            pos += 1 + nxt
            continue
        marker = head[1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker == 0xD9:
            return segs, None
        length = struct.unpack(">H", head[2:4])[0]
        if length < 2:
            return segs, None
        segs.append((marker, pos, length))
        if marker == 0xDA or len(segs) >= MAX_SEGMENTS:
            return segs, None
        pos += 2 + length
    return segs, None


def _payload(spans: Spans, seg: tuple[int, int, int], n: int | None = None) -> bytes | None:
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


def needed(spans: Spans) -> list[tuple[int, int]]:
    """Segment headers, small tables and Exif IFD data not yet held."""
    if spans.get(0, 2) != b"\xff\xd8":
        return []
    segs, stuck = walk(spans)
    out: list[tuple[int, int]] = []
    for marker, pos, length in segs:
        if marker in SOF_MARKERS or marker in (0xDB, 0xE0, 0xEE):
            out.extend(spans.missing(pos, pos + 2 + min(length, 1024)))
        elif 0xE1 <= marker <= 0xEF:
            # Enough of every APPn to tell what it is (Exif, XMP, ICC_PROFILE).
            out.extend(spans.missing(pos, pos + min(2 + length, 4 + 34)))
    off = exif_offset(spans)
    app1 = next((seg for seg in segs if seg[1] + 10 == off), None)
    # A conforming Exif segment holds every byte its IFDs point at, so a held
    # segment needs no exifread walk to plan with (offsets pointing outside it
    # are broken, and fetching them would fetch garbage).
    if off is not None and not (app1 and spans.has(app1[1], app1[1] + 2 + app1[2])):
        out.extend(tiff.exif_needed(spans, off))
    if stuck is not None:
        out.append((stuck, stuck + HOP_WINDOW))
    return out


def quality(tables: dict[int, list[int]]) -> int | None:
    """ImageMagick's JPEG quality estimate (coders/jpeg.c, JPEGSetImageQuality)."""
    if 0 not in tables:
        return None
    total = sum(sum(t) for i, t in tables.items() if i < 4)
    q0 = tables[0]
    if 1 in tables:
        q1 = tables[1]
        hashes, sums = _HASH2, _SUMS2
        qvalue = q0[2] + q0[53] + q1[0] + q1[63]
    else:
        hashes, sums = _HASH1, _SUMS1
        qvalue = q0[2] + q0[53]
    for i in range(100):
        if qvalue < hashes[i] and total < sums[i]:
            continue
        if (qvalue <= hashes[i] and total <= sums[i]) or i >= 50:
            return i + 1
        return None
    return None


def _dqt(data: bytes, tables: dict[int, list[int]]) -> None:
    i = 0
    while i < len(data) and len(tables) < 16:
        pq, tq = data[i] >> 4, data[i] & 15
        n = 128 if pq else 64
        body = data[i + 1 : i + 1 + n]
        if len(body) < n:
            return
        vals = list(struct.unpack(">64H", body)) if pq else list(body)
        natural = [0] * 64
        for k, v in enumerate(vals):
            natural[ZIGZAG[k]] = v  # libjpeg keeps tables in natural order
        tables[tq] = natural
        i += 1 + n


def facts(spans: Spans) -> dict:
    """Dimensions, precision, progressive, quality, ICC/XMP presence, density."""
    out: dict = {"format": "jpeg", "has_transparency": False}
    segs, stuck = walk(spans)
    tables: dict[int, list[int]] = {}
    icc = xmp = False
    jfif_density = None
    saw_sof = False
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
                _dqt(p, tables)
        elif marker == 0xE2:
            icc = icc or _payload(spans, seg, 12) == b"ICC_PROFILE\0"
        elif marker == 0xE1:
            xmp = xmp or _payload(spans, seg, len(_XMP_ID)) == _XMP_ID
        elif marker == 0xE0:
            p = _payload(spans, seg, 12)
            if p is not None and len(p) == 12 and p[:5] == b"JFIF\0":
                unit, x, y = p[7], *struct.unpack(">HH", p[8:12])
                if unit == 1 and x and y:
                    jfif_density = [x, y]
                elif unit == 2 and x and y:
                    jfif_density = [round(x * 2.54), round(y * 2.54)]
    complete = stuck is None
    if complete or icc:
        out["has_color_profile"] = icc
    if complete or xmp:
        out["has_xmp"] = xmp
    if tables:
        q = quality(tables)
        if q is not None:
            out["quality"] = q
    density = jfif_density
    if density is None:
        off = exif_offset(spans)
        hdr = tiff.header(spans, off) if off is not None else None
        if hdr is not None and not hdr[2]:
            ifd = tiff.read_ifd(spans, off, hdr[1], hdr[0])
            if ifd is not None:
                density = tiff.density_from(ifd)
    out["density"] = density
    return out


_HASH2 = [
    1020, 1015, 932, 848, 780, 735, 702, 679, 660, 645, 632, 623, 613, 607, 600, 594, 589,
    585, 581, 571, 555, 542, 529, 514, 494, 474, 457, 439, 424, 410, 397, 386, 373, 364, 351,
    341, 334, 324, 317, 309, 299, 294, 287, 279, 274, 267, 262, 257, 251, 247, 243, 237, 232,
    227, 222, 217, 213, 207, 202, 198, 192, 188, 183, 177, 173, 168, 163, 157, 153, 148, 143,
    139, 132, 128, 125, 119, 115, 108, 104, 99, 94, 90, 84, 79, 74, 70, 64, 59, 55, 49, 45,
    40, 34, 30, 25, 20, 15, 11, 6, 4, 0,
]
_SUMS2 = [
    32640, 32635, 32266, 31495, 30665, 29804, 29146, 28599, 28104, 27670, 27225, 26725, 26210,
    25716, 25240, 24789, 24373, 23946, 23572, 22846, 21801, 20842, 19949, 19121, 18386, 17651,
    16998, 16349, 15800, 15247, 14783, 14321, 13859, 13535, 13081, 12702, 12423, 12056, 11779,
    11513, 11135, 10955, 10676, 10392, 10208, 9928, 9747, 9564, 9369, 9193, 9017, 8822, 8639,
    8458, 8270, 8084, 7896, 7710, 7527, 7347, 7156, 6977, 6788, 6607, 6422, 6236, 6054, 5867,
    5684, 5495, 5305, 5128, 4945, 4751, 4638, 4442, 4248, 4065, 3888, 3698, 3509, 3326, 3139,
    2957, 2775, 2586, 2405, 2216, 2037, 1846, 1666, 1483, 1297, 1109, 927, 735, 554, 375, 201,
    128, 0,
]
_HASH1 = [
    510, 505, 422, 380, 355, 338, 326, 318, 311, 305, 300, 297, 293, 291, 288, 286, 284, 283,
    281, 280, 279, 278, 277, 273, 262, 251, 243, 233, 225, 218, 211, 205, 198, 193, 186, 181,
    177, 172, 168, 164, 158, 156, 152, 148, 145, 142, 139, 136, 133, 131, 129, 126, 123, 120,
    118, 115, 113, 110, 107, 105, 102, 100, 97, 94, 92, 89, 87, 83, 81, 79, 76, 74, 70, 68,
    66, 63, 61, 57, 55, 52, 50, 48, 44, 42, 39, 37, 34, 31, 29, 26, 24, 21, 18, 16, 13, 11, 8,
    6, 3, 2, 0,
]
_SUMS1 = [
    16320, 16315, 15946, 15277, 14655, 14073, 13623, 13230, 12859, 12560, 12240, 11861, 11456,
    11081, 10714, 10360, 10027, 9679, 9368, 9056, 8680, 8331, 7995, 7668, 7376, 7084, 6823,
    6562, 6345, 6125, 5939, 5756, 5571, 5421, 5240, 5086, 4976, 4829, 4719, 4616, 4463, 4393,
    4280, 4166, 4092, 3980, 3909, 3835, 3755, 3688, 3621, 3541, 3467, 3396, 3323, 3247, 3170,
    3096, 3021, 2952, 2874, 2804, 2727, 2657, 2583, 2509, 2437, 2362, 2290, 2211, 2136, 2068,
    1996, 1915, 1858, 1773, 1692, 1620, 1552, 1477, 1398, 1326, 1251, 1179, 1109, 1031, 961,
    884, 814, 736, 667, 592, 518, 441, 369, 292, 221, 151, 86, 64, 0,
]


# --- coded data ---------------------------------------------------------------

#: Segments that decoding needs: quantisation and Huffman tables, frame header,
#: restart interval, arithmetic conditioning, and the scan header itself.
CODED_MARKERS = SOF_MARKERS | {0xC4, 0xCC, 0xDB, 0xDD, 0xDA}


def content_spans(spans: Spans, k: int) -> list[tuple[int, int]] | None:
    """Table/frame/scan-header segments up to the first SOS, then `k` bytes of scan
    data; None until the segment walk has reached SOS.

    APPn and COM segments are left out, so editing, stripping or reordering them
    (EXIF, XMP, ICC, comments) leaves these spans' bytes unchanged."""
    if spans.get(0, 2) != b"\xff\xd8":
        return None
    segs, stuck = walk(spans)
    if stuck is not None or not segs or segs[-1][0] != 0xDA:
        return None
    out = [(pos, pos + 2 + length) for marker, pos, length in segs if marker in CODED_MARKERS]
    _, sos, length = segs[-1]
    start = sos + 2 + length
    end = start + k
    if spans.size is not None:
        end = min(end, spans.size)
    if end > start:
        out.append((start, end))
    return out


def first_scan(spans: Spans) -> tuple[int, int, int] | None:
    """(first SOS offset, scan data start, SOF index) of a progressive JPEG, else None."""
    segs, stuck = walk(spans)
    if stuck is not None or not segs or segs[-1][0] != 0xDA:
        return None
    sof = next((i for i, s in enumerate(segs) if s[0] in SOF_MARKERS), None)
    if sof is None or segs[sof][0] not in PROGRESSIVE:
        return None
    _, sos, length = segs[-1]
    return sos, sos + 2 + length, sof


def scan_end(data: bytes) -> int | None:
    """Offset in `data` (entropy-coded bytes) of the marker that ends the scan."""
    i = 0
    while True:
        i = data.find(b"\xff", i)
        if i < 0 or i + 1 >= len(data):
            return None
        nxt = data[i + 1]
        # 0xFF00 is a stuffed byte, RSTn continue the scan, 0xFF runs are fill.
        if nxt == 0x00 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:
            i += 1
            continue
        return i


#: Bytes asked for at a segment header past the bytes held when the coded data
#: is wanted too: the tables before the scan are about 1 KB, but APPn runs
#: (ICC, MPF, depth maps) may sit in between, and the longer the run walked so
#: far, the longer the rest tends to be, so the window grows with it. Measured
#: (bench/fingerprint_eval.py; corpus site): fixed 8 KB windows, content_sha256
#: recall 95 % on exact copies, 15.7 KB per image, 4.36 MB for the site; at least
#: 8 KB and growing, 98 %, 19.0 KB, 5.31 MB; at least 32 KB and growing, 98 %,
#: about 21 KB, 5.88 MB.
CONTENT_HOP = 8192


def content_needed(spans: Spans, k: int) -> list[tuple[int, int]]:
    """A window at the segment the walk stopped at, else the missing spans."""
    if spans.get(0, 2) != b"\xff\xd8":
        return []
    _, stuck = walk(spans)
    if stuck is not None:
        return [(stuck, stuck + max(CONTENT_HOP, stuck) + k)]
    return content_spans(spans, k) or []
