"""Byte-level image format parsers over sparse data.

The crawler holds a prefix of a remote image (and maybe a few more ranges)
in a `Spans`.  These functions tell which further byte ranges hold metadata
(`needed`, `next_fetch`) and read what is there (`exif_tags`, `facts`).
They never touch the network, never loop unboundedly, never ask for bytes
outside the file, and raise nothing but `FormatError` (from `exif_tags`).
"""

from __future__ import annotations

import logging

from . import bmff, gif, jpeg, png, tiff, webp
from .spans import Spans
from .tiff import FormatError

__all__ = ["FormatError", "Spans", "exif_tags", "facts", "needed", "next_fetch", "sniff"]

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
    _, mod = _module(spans)
    if mod is None:
        return []
    raw = _guard("needed", [], mod.needed, spans)
    return _clean(spans, raw)


def next_fetch(spans: Spans, budget_bytes: int) -> tuple[int, int] | None:
    """The one Range to ask for next, or None when done or over `budget_bytes`."""
    todo = needed(spans)
    if not todo:
        return None
    start, end = todo[0]
    if end - start > budget_bytes:
        return None
    for s, e in todo[1:]:
        if s - end > MERGE_GAP or e - start > budget_bytes:
            break
        end = e
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
