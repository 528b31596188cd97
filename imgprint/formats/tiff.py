"""TIFF files: what exifread's walk needs, IFD0 facts, and strip 0.

A TIFF file is its own EXIF blob, so metadata planning and tags are the
shared exifread engine (`exif_walk`) from offset 0, every page's IFD
included; the facts and the coded data come from our IFD reader
(`tiff_ifd`), the blocks (XMP, IPTC, Photoshop, ICC) from `tiff_blocks`.
Each page's IFD is found from the one before, a request per page: `ahead`
lets the last follow-up speculate on the rest of the chain.
"""

from __future__ import annotations

import struct

from imgprint.spans import Range, Spans

from .exif_walk import WINDOW, exif_needed
from .tiff_ifd import IFD, TYPE_SIZES, density_from, header, ifd0, read_ifd

#: Bound on the IFD chain walked to count pages.
MAX_IFDS = 1000
#: Bytes before an unheld IFD that a speculative window starts at (`ahead`).
LOOK_BACK = 4096
#: Bytes added on each side of a predicted IFD window (`windows`), and most
#: bytes the uncertainty of a prediction may add on each side.
WINDOW_SLACK = 64
MAX_WINDOW_SLACK = 1024
#: A chain is regular enough to predict when its strides differ from their
#: mean by at most this many bytes (pages of like size, values of like length).
MAX_SPREAD = 256
#: Distances between IFDs known before a stride is trusted: one is no pattern.
MIN_STEPS = 2


def exif_offset(spans: Spans) -> int | None:
    """Offset of the TIFF header exifread parses: the file start."""
    head = spans.get(0, 2)
    # What exifread takes for a TIFF stream: the byte order mark only.
    return 0 if head is not None and head[:2] in (b"II", b"MM") else None


def needed(spans: Spans) -> list[Range]:
    """Ranges exifread's IFD walk (IFD0, chain, Exif/GPS/Interop) still needs."""
    if exif_offset(spans) is None:
        return []
    hdr = header(spans)
    out = exif_needed(spans, 0)
    if hdr is not None and hdr[2]:
        # BigTIFF: exifread misreads it; our facts need the real IFD0.
        endian, off, _ = hdr
        head = spans.get(off, off + 8)
        if head is None:
            out.append((off, off + WINDOW))
        else:
            n = min(struct.unpack(endian + "Q", head)[0], 4096)
            out.extend(spans.missing(off, off + 8 + 20 * n))
    return out


def chain(spans: Spans) -> tuple[list[int], int | None]:
    """Offsets of the IFDs of the page chain whose entries are held, and the
    first one that is not (None: the chain is held to its end, loops, or
    leaves the file)."""
    hdr = header(spans)
    if hdr is None or hdr[2]:
        return [], None
    endian, off, _ = hdr
    held: list[int] = []
    seen: set[int] = set()
    while off and off not in seen and len(seen) < MAX_IFDS:
        seen.add(off)
        head = spans.get(off, off + 2)
        if head is None:
            return held, off
        n = min(struct.unpack(endian + "H", head)[0], 4096)
        if spans.size is not None and off + 6 + 12 * n > spans.size:
            return held, None  # cut by the end of the file: nothing more to fetch
        nxt = spans.get(off + 2 + 12 * n, off + 6 + 12 * n)
        if nxt is None or not spans.has(off, off + 2 + 12 * n):
            return held, off
        held.append(off)
        off = struct.unpack(endian + "I", nxt)[0]
    return held, None


def ahead(spans: Spans, limit: int) -> list[Range]:
    """On the last follow-up, the window from the first unheld IFD of the page
    chain to the end of the file, if that is at most `limit` bytes
    (`plan.next_fetch`): pages are written in order, so the rest of the chain
    lies forward of it, but where is unknown until each IFD is read.

    No window when the chain's stride (the mean distance between the IFDs
    seen) says the unheld IFD is the last: the bytes after it are its pixels."""
    held, gap = chain(spans)
    if gap is None or spans.size is None or not held:
        return []
    stride = (gap - min(held)) / len(held)
    if stride <= 0 or gap + stride > spans.size:
        return []
    # Values sit before their IFD (libtiff writes them first): up to LOOK_BACK.
    start = max(0, gap - LOOK_BACK)
    return [(start, min(spans.size, start + limit))]


def _layout(spans: Spans, endian: str, off: int) -> Range:
    """Where an IFD's entries and its out-of-line values lie relative to its
    offset (values within LOOK_BACK of it): the template of a predicted one."""
    head = spans.get(off, off + 2)
    n = min(struct.unpack(endian + "H", head)[0], 4096) if head else 0
    lo, hi = 0, 6 + 12 * n
    raw = spans.get(off + 2, off + 2 + 12 * n) or b""
    for i in range(0, len(raw), 12):
        _, typ, count, value = struct.unpack(endian + "HHII", raw[i:i + 12])
        size = TYPE_SIZES.get(typ, 0) * count
        if size <= 4:
            continue
        rel = value - off
        if -LOOK_BACK <= rel and rel + size <= hi + LOOK_BACK:
            lo, hi = min(lo, rel), max(hi, rel + size)
    return lo, hi


def windows(spans: Spans, limit: int, count: int) -> list[Range]:
    """Small windows where the IFDs after the first unheld one of the page chain
    probably are, at most `count` of them and `limit` bytes in all, nearest
    first (`plan.next_fetch_ranges`, one multi-range request).

    The chain's stride (the mean distance between the IFDs known) predicts
    each position; a window is the last held IFD's layout (its entries and the
    values within LOOK_BACK of it) moved there, widened by the stride's
    spread times the pages ahead. Nothing trusts a window: the chain walk
    reads an IFD only at the offset its predecessor gives, so a wrong
    prediction costs its bytes and nothing else."""
    held, gap = chain(spans)
    hdr = header(spans)
    if gap is None or spans.size is None or not held or hdr is None or count <= 0:
        return []
    offs = [*held, gap]
    steps = [b - a for a, b in zip(offs, offs[1:], strict=False)]
    if len(steps) < MIN_STEPS or min(steps) <= 0:
        return []  # pages written backwards or interleaved: no stride
    stride = sum(steps) / len(steps)
    spread = max(abs(s - stride) for s in steps)
    if spread > MAX_SPREAD:
        return []  # pages of unlike sizes (compressed): no telling where the next is
    lo, hi = _layout(spans, hdr[0], held[-1])
    out: list[Range] = []
    for k in range(1, MAX_IFDS):
        at = int(gap + k * stride)
        if at + 6 > spans.size:
            break
        slack = WINDOW_SLACK + min(int(k * spread), MAX_WINDOW_SLACK)
        start, end = max(0, at + lo - slack), min(spans.size, at + hi + slack)
        grown = [*out[:-1], (out[-1][0], end)] if out and start <= out[-1][1] else [
            *out, (start, end)]
        if len(grown) > count or sum(e - s for s, e in grown) > limit:
            break
        out = grown
    return out


def _ifd0_facts(ifd: IFD) -> dict:
    """Size, depth, ICC/XMP presence, extra alpha samples and density from IFD0."""
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


def _pages(spans: Spans, first: IFD, off: int) -> int | None:
    """Number of IFDs chained from IFD0 at `off`; None unless the chain is held to its end."""
    n = 1
    endian = first.endian
    nxt, seen = first.next_offset, {off}
    while nxt and nxt not in seen and n < MAX_IFDS:
        seen.add(nxt)
        ifd = read_ifd(spans, 0, nxt, endian)
        if ifd is None:
            break
        n += 1
        nxt = ifd.next_offset
    return n if not nxt else None


def facts(spans: Spans) -> dict:
    """Width, height, bit depth, ICC/XMP presence, alpha, density, pages from IFD0."""
    out: dict = {}
    ifd, off, big = ifd0(spans)
    if ifd is None:
        return out
    out.update(_ifd0_facts(ifd))
    # A BigTIFF's chain is not followed: its IFD0 alone is one page.
    frames = 1 if big else _pages(spans, ifd, off)
    if frames is not None:
        out["frames"] = frames
    return out


# --- coded data ---------------------------------------------------------------


def _strip0(spans: Spans) -> tuple[tuple[int, int] | None, Range | None]:
    """((offset, byte count) of strip or tile 0, None); else (None, the span of an
    out-of-line offset or count value still needed, or None)."""
    ifd, _, _ = ifd0(spans)
    if ifd is None:
        return None, None
    for offsets, counts in ((273, 279), (324, 325)):
        if offsets in ifd.entries:
            off, n = ifd.value(offsets), ifd.value(counts)
            if off is None:
                return None, ifd.first_value_span(offsets)
            if n is None:
                return None, ifd.first_value_span(counts)
            return (int(off), int(n)), None
    return None, None


def content_spans(spans: Spans, k: int) -> list[Range] | None:
    """The first `k` bytes of strip 0 (or tile 0) of IFD0; None until IFD0 and the
    first StripOffsets/StripByteCounts values are held.

    Tags, EXIF and XMP live in IFDs and values that are left out, so editing them
    does not change these bytes (an editor that moves the strips is fine too)."""
    if exif_offset(spans) is None:
        return None
    strip, _ = _strip0(spans)
    if strip is None or strip[1] <= 0:
        return None
    off, n = strip
    end = off + min(n, k)
    if spans.size is not None and end > spans.size:
        return None
    return [(off, end)]


def content_needed(spans: Spans, k: int) -> list[Range]:
    """Out-of-line first strip offset/count values, then the strip bytes."""
    if exif_offset(spans) is None:
        return []
    strip, need = _strip0(spans)
    if strip is None:
        return [need] if need is not None else []
    return content_spans(spans, k) or []
