"""Byte-level image format parsers over sparse data.

The crawler holds a prefix of a remote image (and maybe a few more ranges)
in a `Spans`.  These functions tell which further byte ranges hold metadata
(`needed`, `next_fetch`) and read what is there (`exif_tags`, `facts`).
`content_spans`/`content_hash` locate and hash the coded image data without
any metadata container; `thumbnail_span` and `first_scan_bytes` find the small
images the perceptual hash is computed from; `wanted` lists what of those is
still missing, which `next_fetch` adds to the metadata spans it asks for.
They never touch the network, never loop unboundedly, never ask for bytes
outside the file, and raise nothing but `FormatError` (from `exif_tags`).
"""

from __future__ import annotations

import hashlib
import logging

from . import bmff, gif, jpeg, png, tiff, webp
from .spans import Spans
from .tiff import FormatError

__all__ = ["FormatError", "Spans", "content_hash", "content_spans", "exif_tags", "facts",
           "first_scan_bytes", "needed", "next_fetch", "sniff", "thumbnail_span", "wanted"]

log = logging.getLogger(__name__)

#: Largest single span `needed` reports.
MAX_SPAN = 1 << 20
#: Needed spans closer than this are fetched as one Range (a gap costs bytes,
#: a request costs a round trip).
MERGE_GAP = 16384
#: Raise parser bugs instead of swallowing them (tests turn this on).
STRICT = False

_MODULES = {"jpeg": jpeg, "png": png, "gif": gif, "webp": webp, "tiff": tiff,
            "heif": bmff, "avif": bmff}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs",
                b"mif1", b"msf1", b"mif2", b"miaf"}
_AVIF_BRANDS = {b"avif", b"avis"}


def sniff(head: bytes) -> str | None:
    """Format name from the first bytes of a file, or None."""
    if head[:2] == b"\xff\xd8":
        return "jpeg"
    if head[:8] == png.SIGNATURE:
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):
        return "tiff"
    if head[:2] in (b"II", b"MM"):
        # A damaged TIFF magic number: exifread still reads such files, so do we.
        return "tiff"
    if head[4:8] == b"ftyp":
        major = head[8:12]
        compat = {head[i : i + 4] for i in range(16, min(len(head), 64) - 3, 4)}
        if major in _AVIF_BRANDS or (major not in (b"heic", b"heix") and compat & _AVIF_BRANDS
                                     and major in _HEIF_BRANDS):
            return "avif"
        if major in _HEIF_BRANDS or compat & _HEIF_BRANDS:
            return "heif"
    return None


def _module(spans: Spans):
    fmt = sniff(spans.get_partial(0, 64))
    return fmt, _MODULES.get(fmt) if fmt else None


def _guard(what: str, default, func, *args):
    try:
        return func(*args)
    except FormatError:
        raise
    except Exception:
        if STRICT:
            raise
        log.debug("%s failed", what, exc_info=True)
        return default


def _clean(spans: Spans, raw: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Clip to the file, cap, drop what is held, merge overlaps; sorted."""
    limit = spans.size
    pieces: list[tuple[int, int]] = []
    for start, end in raw:
        start = max(int(start), 0)
        end = min(int(end), start + MAX_SPAN)
        if limit is not None:
            end = min(end, limit)
        if end <= start:
            continue
        pieces.extend(spans.missing(start, end))
    pieces.sort()
    merged: list[tuple[int, int]] = []
    for start, end in pieces:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def needed(spans: Spans) -> list[tuple[int, int]]:
    """Absolute half-open ranges still missing that hold metadata; [] when done."""
    def compute() -> list[tuple[int, int]]:
        _, mod = _module(spans)
        if mod is None:
            return []
        return _clean(spans, _guard("needed", [], mod.needed, spans))
    return list(spans.memo("needed", compute))


def next_fetch(spans: Spans, budget_bytes: int, content_bytes: int = 0,
               thumbnail_bytes: int = 0, scan_bytes: int = 0) -> tuple[int, int] | None:
    """The one Range to ask for next, or None when done or over `budget_bytes`.

    Metadata (`needed`) comes first; the spans of `wanted` (coded data,
    thumbnail, first progressive scan) ride along when they are close to it,
    and are asked for on their own once the metadata is complete."""
    todo = needed(spans)
    extra = (wanted(spans, content_bytes, thumbnail_bytes, scan_bytes)
             if content_bytes or thumbnail_bytes or scan_bytes else [])
    if todo:
        start, end = todo[0]
        if end - start > budget_bytes:
            return None
    elif extra:
        # Hash inputs are worth a partial fetch: a window may only look ahead.
        start, end = extra[0]
        end = min(end, start + budget_bytes)
        if end <= start:
            return None
    else:
        return None
    for s, e in sorted(todo[1:] + extra):
        if e <= end:
            continue
        if s - end > MERGE_GAP or e - start > budget_bytes:
            break
        end = max(end, e)
    return start, end


def exif_tags(spans: Spans) -> dict[str, str]:
    """exifread's tags (details=False, no thumbnails) over the EXIF we hold."""
    _, mod = _module(spans)
    if mod is None:
        return {}
    off = _guard("exif_offset", None, mod.exif_offset, spans)
    if off is None:
        return {}
    return tiff.exif_tags_at(spans, off)


def facts(spans: Spans) -> dict:
    """Header facts: format, width, height, bit_depth, ICC, alpha, density, ..."""
    fmt, mod = _module(spans)
    if mod is None:
        return {}
    out = _guard("facts", {"format": fmt}, mod.facts, spans)
    out.setdefault("format", fmt)
    return out


# --- coded data, thumbnails ---------------------------------------------------


def content_spans(spans: Spans, k: int) -> list[tuple[int, int]] | None:
    """The spans of the coded image data whose bytes make `content_hash`: the
    format's decoding headers and the first `k` bytes of image data, no metadata
    container; None when the format has none or the structure is not held yet."""
    _, mod = _module(spans)
    func = getattr(mod, "content_spans", None)
    if func is None or k <= 0:
        return None
    return _guard("content_spans", None, func, spans, k)


def content_hash(spans: Spans, k: int) -> str | None:
    """SHA-256 (hex) over the bytes of `content_spans`, concatenated; None unless
    they are all held."""
    todo = content_spans(spans, k)
    if not todo:
        return None
    digest = hashlib.sha256()
    for start, end in todo:
        data = spans.get(start, end)
        if data is None:
            return None
        digest.update(data)
    return digest.hexdigest()


def thumbnail_span(spans: Spans, max_bytes: int) -> tuple[int, int] | None:
    """Where the EXIF JPEG thumbnail (IFD1) is, if the EXIF structure we hold says."""
    _, mod = _module(spans)
    if mod is None:
        return None
    off = _guard("exif_offset", None, mod.exif_offset, spans)
    if off is None:
        return None
    return _guard("thumbnail_span", None, tiff.thumbnail_span, spans, off, max_bytes)


def _first_scan(spans: Spans):
    """`jpeg.first_scan` of a progressive JPEG; None for anything else."""
    if sniff(spans.get_partial(0, 64)) != "jpeg":
        return None
    return _guard("first_scan", None, jpeg.first_scan, spans)


def _scan_want(spans: Spans, max_bytes: int) -> tuple[int, int] | None:
    """The next piece of a progressive JPEG's first scan to fetch, if any."""
    found = _first_scan(spans)
    if found is None:
        return None
    _, start, sof = found
    data = spans.get_partial(start, start + max_bytes)
    if jpeg.scan_end(data) is not None or len(data) >= max_bytes:
        return None
    segs, _ = jpeg.walk(spans)
    head = spans.get(segs[sof][1] + 5, segs[sof][1] + 9) or b"\0\0\0\0"
    height, width = int.from_bytes(head[:2], "big"), int.from_bytes(head[2:], "big")
    if min(width, height) < 256:
        return None  # too coarse at 1/8 scale for phash (imgprint.phash.MIN_SCAN_SIDE)
    # A DC-only first scan costs about 5 bits per 8x8 luma block (chroma
    # subsampled); ask for a little more than that, then double.
    estimate = max(8192, (width // 8 + 1) * (height // 8 + 1) * 3 // 4, 2 * len(data))
    return start + len(data), start + min(max_bytes, estimate)


def first_scan_bytes(spans: Spans, max_bytes: int) -> bytes | None:
    """A self-contained JPEG holding only the first scan of a progressive JPEG:
    its tables, frame and scan headers (and APP14, which says how to convert
    colours), the first scan's data and EOI; None unless all of it is held
    within `max_bytes` of scan data."""
    found = _first_scan(spans)
    if found is None:
        return None
    _, start, _ = found
    data = spans.get_partial(start, start + max_bytes + 2)
    end = jpeg.scan_end(data)
    if end is None or end > max_bytes:
        return None
    segs, _ = jpeg.walk(spans)
    parts = [b"\xff\xd8"]
    for marker, pos, length in segs:
        if marker in jpeg.CODED_MARKERS or marker == 0xEE:
            seg = spans.get(pos, pos + 2 + length)
            if seg is None:
                return None
            parts.append(seg)
    parts += [data[:end], b"\xff\xd9"]
    return b"".join(parts)


def wanted(spans: Spans, content_bytes: int = 0, thumbnail_bytes: int = 0,
           scan_bytes: int = 0) -> list[tuple[int, int]]:
    """Ranges still missing for the content hash (its first `content_bytes` of
    coded data), the EXIF thumbnail (up to `thumbnail_bytes`) and the first scan
    of a progressive JPEG (up to `scan_bytes`); sorted, merged, clipped."""
    fmt, mod = _module(spans)
    if mod is None:
        return []
    raw: list[tuple[int, int]] = []
    if content_bytes > 0:
        need = getattr(mod, "content_needed", None)
        if need is not None:
            raw += _guard("content_needed", [], need, spans, content_bytes)
        else:
            raw += content_spans(spans, content_bytes) or []
    if thumbnail_bytes > 0:
        thumb = thumbnail_span(spans, thumbnail_bytes)
        if thumb is not None:
            raw.append(thumb)
    if scan_bytes > 0 and fmt == "jpeg":
        scan = _guard("scan_want", None, _scan_want, spans, scan_bytes)
        if scan is not None:
            raw.append(scan)
    return _clean(spans, raw)
