"""JPEG coded data: the content-hash spans and the first progressive scan.

The content hash covers what decoding needs (tables, frame and scan headers)
and the start of the scan data, never APPn or COM segments.  The perceptual
hash of a progressive JPEG can be computed from its first scan alone (a DC
image at 1/8 scale), which is a small part of the file: these functions find
it, say what of it is missing, and cut it out as a JPEG of its own.
"""

from __future__ import annotations

from imgprint.spans import Range, Spans

from .jpeg import CODED_MARKERS, PROGRESSIVE, SOF_MARKERS, walk

#: Bytes asked for past a segment header the walk has not reached, besides the
#: `k` bytes of scan data: the tables, frame and scan headers after the last
#: APPn are about 1 KB, so the walk usually reaches SOS and its `k` bytes in
#: that one range; where another APPn follows (ICC, XMP, MPF, depth maps), its
#: length is then known and the next range is exact. Measured over the corpus
#: site's 253 images of at least 20,480 bytes (2 follow-ups + 1 for the hash
#: inputs, 16 KiB merge gap): 1,024 bytes: 1.14 MB of follow-ups, 180 content
#: hashes; 2,048: 1.20 MB, 181; 4,096: 1.32 MB, 181. The earlier window of
#: max(8 KiB, offset) + k: 2.37 MB for 177 hashes.
CONTENT_HOP = 2048
#: A first scan is too coarse at 1/8 scale for the perceptual hash below this
#: side (the perceptual hash's MIN_SCAN_SIDE).
MIN_SCAN_SIDE = 256

#: (first SOS offset, scan data start, index of the SOF segment in `walk`)
FirstScan = tuple[int, int, int]


def content_spans(spans: Spans, k: int) -> list[Range] | None:
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


def content_needed(spans: Spans, k: int) -> list[Range]:
    """A window at the segment the walk stopped at, else the missing spans."""
    if spans.get(0, 2) != b"\xff\xd8":
        return []
    _, stuck = walk(spans)
    if stuck is not None:
        return [(stuck, stuck + CONTENT_HOP + k)]
    return content_spans(spans, k) or []


def first_scan(spans: Spans) -> FirstScan | None:
    """Where the first scan of a progressive JPEG is; None for anything else."""
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


def scan_want(spans: Spans, found: FirstScan, max_bytes: int) -> Range | None:
    """The next piece of the first scan `found` to fetch, if any is missing within
    `max_bytes` and the image is large enough for its first scan to be used."""
    _, start, sof = found
    data = spans.get_partial(start, start + max_bytes)
    if scan_end(data) is not None or len(data) >= max_bytes:
        return None
    segs, _ = walk(spans)
    head = spans.get(segs[sof][1] + 5, segs[sof][1] + 9) or b"\0\0\0\0"
    height, width = int.from_bytes(head[:2], "big"), int.from_bytes(head[2:], "big")
    if min(width, height) < MIN_SCAN_SIDE:
        return None
    # A DC-only first scan costs about 5 bits per 8x8 luma block (chroma
    # subsampled); ask for a little more than that, then double.
    estimate = max(8192, (width // 8 + 1) * (height // 8 + 1) * 3 // 4, 2 * len(data))
    return start + len(data), start + min(max_bytes, estimate)


def _decoding_headers(spans: Spans) -> list[bytes] | None:
    """SOI and the segments a decoder needs before the scan data (tables, frame,
    restart interval, scan header, and APP14, which says how to convert
    colours), in file order; None unless all of them are held."""
    segs, _ = walk(spans)
    parts = [b"\xff\xd8"]
    for marker, pos, length in segs:
        if marker in CODED_MARKERS or marker == 0xEE:
            seg = spans.get(pos, pos + 2 + length)
            if seg is None:
                return None
            parts.append(seg)
    return parts


def first_scan_jpeg(spans: Spans, found: FirstScan, max_bytes: int) -> bytes | None:
    """The first scan `found` as a JPEG of its own: tables, frame and scan headers
    (and APP14, which says how to convert colours), the scan data and EOI; None
    unless all of it is held within `max_bytes` of scan data."""
    _, start, _ = found
    # Two bytes more: the marker that ends a scan of exactly `max_bytes`.
    data = spans.get_partial(start, start + max_bytes + 2)
    end = scan_end(data)
    if end is None or end > max_bytes:
        return None
    parts = _decoding_headers(spans)
    if parts is None:
        return None
    return b"".join([*parts, data[:end], b"\xff\xd9"])


# --- the top band (perceptual hash of a baseline JPEG) --------------------------

#: Huffman-coded sequential frames: their rows come in file order, so the first
#: bytes of the scan decode to the top of the picture.
SEQUENTIAL = {0xC0, 0xC1}


def _sequential_scan(spans: Spans) -> tuple[int, int, int] | None:
    """(scan data start, width, height) of a sequential JPEG whose header walk
    reached its first scan; None for anything else (progressive, lossless,
    arithmetic, not reached yet)."""
    if spans.get(0, 2) != b"\xff\xd8":
        return None
    segs, stuck = walk(spans)
    if stuck is not None or not segs or segs[-1][0] != 0xDA:
        return None
    sof = next((s for s in segs if s[0] in SOF_MARKERS), None)
    if sof is None or sof[0] not in SEQUENTIAL:
        return None
    head = spans.get(sof[1] + 5, sof[1] + 9)
    if head is None:
        return None
    height, width = int.from_bytes(head[:2], "big"), int.from_bytes(head[2:], "big")
    _, sos, length = segs[-1]
    return sos + 2 + length, width, height


def band_jpeg(spans: Spans, max_bytes: int) -> tuple[bytes, int, int] | None:
    """A sequential JPEG's decoding headers (tables, frame, restart interval, scan
    header and APP14, which says how to convert colours) and the scan data held
    contiguously from its start, at most `max_bytes` of it, as one JPEG without
    EOI: its first rows decode. (data, width, height); None for anything else."""
    found = _sequential_scan(spans)
    if found is None:
        return None
    start, width, height = found
    data = spans.get_partial(start, start + max_bytes)
    if not data:
        return None
    parts = _decoding_headers(spans)
    if parts is None:
        return None
    return b"".join([*parts, data]), width, height


def band_span(spans: Spans) -> tuple[int, int, int] | None:
    """(first byte to fetch, where bytes start to follow rows, end of the coded
    data) for the top band of a sequential JPEG: its scan data, to the end of
    the file; None when not sequential or the scan is not reached."""
    found = _sequential_scan(spans)
    if found is None or spans.size is None:
        return None
    return found[0], found[0], spans.size


def band_guess(spans: Spans) -> tuple[int, int, int] | None:
    """Where the top band of a JPEG whose header walk has not reached its scan
    probably is: from where the walk stopped (the tables and frame header that
    follow the last APPn are about 1 KB) to the end of the file, as
    (start, start, end); None once the walk is done, or when a frame header
    already seen is not sequential."""
    if spans.get(0, 2) != b"\xff\xd8" or spans.size is None:
        return None
    segs, stuck = walk(spans)
    if stuck is None or any(s[0] in SOF_MARKERS and s[0] not in SEQUENTIAL for s in segs):
        return None
    return stuck, stuck, spans.size
