"""HEIF/HEIC/AVIF (ISO base media file format): what to fetch, facts, coded data.

The `meta` box indexes every item: `iinf` names the Exif item, `iloc` gives
its absolute extent, `iprp` holds the primary item's `ispe` (dimensions),
`colr` (ICC) and `pixi` (bit depth).  `meta` usually follows `ftyp`, but some
writers put it after `mdat`, and the Exif item itself may sit at the end of
the file.  We hop over top-level boxes by their sizes (`bmff_boxes`), ask for
the whole `meta` box (parsed by `bmff_meta`), then for the Exif item.

Whether the file is HEIF or AVIF is the brand table's to say
(`signatures.brand_format`), not this parser's.
"""

from __future__ import annotations

import struct

from imgprint.spans import Block, Range, Spans

from .bmff_boxes import Box, top_boxes
from .bmff_meta import Meta, parse_meta
from .exif_walk import exif_needed

#: Largest `meta` box read.
MAX_META = 1 << 20
#: Bytes asked for at a top-level box header past the bytes held.
HOP_WINDOW = 65536
#: Bytes of the Exif item asked for at once (its IFDs, not a MakerNote's bulk).
EXIF_FIRST = 65536


def _meta_box(spans: Spans) -> tuple[Box | None, int | None]:
    """The top-level `meta` box, else where the box walk stalled."""
    boxes, stuck = top_boxes(spans)
    for box in boxes:
        if box[0] == b"meta":
            return box, None
    return None, stuck


def _meta(spans: Spans) -> Meta | None:
    """The parsed `meta` box, None unless it is held (up to MAX_META)."""
    box, _ = _meta_box(spans)
    if box is None:
        return None
    _, pos, _, size = box
    data = spans.get(pos, pos + min(size, MAX_META))
    if data is None:
        return None
    # Planning, facts, EXIF and content all need it: parsed once per bytes held.
    return spans.memo(("bmff_meta", pos), lambda: parse_meta(data, pos))


def _exif_item(spans: Spans, meta: Meta) -> tuple[int, int] | None:
    """(absolute start, length) of the Exif item's first extent."""
    for item_id, (item_type, _) in meta.items.items():
        if item_type == b"Exif" and item_id in meta.locs:
            method, extents = meta.locs[item_id]
            if not extents:
                return None
            start, length = extents[0]
            base = meta.extent_base(method)
            if base is None:
                return None
            start += base
            if spans.size is not None:
                if start >= spans.size:
                    return None
                # Length 0 means "to the end of the file".
                length = min(length or spans.size - start, spans.size - start)
            return start, length
    return None


def exif_offset(spans: Spans) -> int | None:
    """TIFF header of the Exif item: after its 4-byte header offset field."""
    meta = _meta(spans)
    if meta is None:
        return None
    item = _exif_item(spans, meta)
    if item is None:
        return None
    start, _ = item
    head = spans.get(start, start + 4)
    if head is None:
        return None
    skip = struct.unpack(">I", head)[0]
    if skip > 1 << 16:
        return None
    return start + 4 + skip


def needed(spans: Spans) -> list[Range]:
    """Top-level box headers up to `meta`, all of `meta`, the Exif item and its IFDs."""
    if spans.get(4, 8) != b"ftyp":
        return []
    box, stuck = _meta_box(spans)
    if box is None:
        return [] if stuck is None else [(stuck, stuck + HOP_WINDOW)]
    _, pos, _, size = box
    missing = spans.missing(pos, pos + min(size, MAX_META))
    if missing:
        return missing
    meta = _meta(spans)
    item = _exif_item(spans, meta) if meta is not None else None
    if item is None:
        return []
    start, length = item
    out = spans.missing(start, start + min(length, EXIF_FIRST))
    off = exif_offset(spans)
    if off is not None:
        out.extend(exif_needed(spans, off))
    return out


def _item_span(spans: Spans, meta: Meta, item_id: int) -> Range | None:
    """Absolute range of an item held in one extent (or contiguous ones)."""
    method, extents = meta.locs.get(item_id, (0, []))
    base = meta.extent_base(method)
    if base is None or not extents:
        return None
    start = base + extents[0][0]
    end = start
    for off, length in extents:
        if base + off != end or length == 0:
            return None  # scattered (or "to the end of the file"): not one block
        end += length
    if spans.size is not None and end > spans.size:
        return None
    return start, end


def blocks(spans: Spans) -> list[Block]:
    """The XMP item (mime application/rdf+xml) and the ICC profile of `colr`."""
    if spans.get(4, 8) != b"ftyp":
        return []
    meta = _meta(spans)
    if meta is None:
        return []
    out: list[Block] = []
    for item_id, (item_type, ctype) in meta.items.items():
        if item_type == b"mime" and ctype.strip() == b"application/rdf+xml":
            span = _item_span(spans, meta, item_id)
            if span is not None:
                out.append(("xmp", *span))
    for (ptype, payload), at in zip(meta.props, meta.prop_at, strict=False):
        if ptype == b"colr" and payload[:4] in (b"prof", b"rICC"):
            out.append(("icc", at + 4, at + len(payload)))
            break
    return out


def facts(spans: Spans) -> dict:
    """Primary item's ispe size, pixi depth, colr ICC, alpha auxiliary, XMP item."""
    out: dict = {"density": None}
    meta = _meta(spans)
    if meta is None:
        return out
    props = meta.assoc.get(meta.primary, []) if meta.primary is not None else []
    icc = False
    for idx in props:
        if not 1 <= idx <= len(meta.props):
            continue
        ptype, payload = meta.props[idx - 1]
        if ptype == b"ispe" and len(payload) >= 12 and "width" not in out:
            out["width"], out["height"] = struct.unpack(">II", payload[4:12])
        elif ptype == b"pixi" and len(payload) >= 6:
            out["bit_depth"] = payload[5]
        elif ptype == b"colr" and payload[:4] in (b"prof", b"rICC"):
            icc = True
    out["has_color_profile"] = icc
    # An alpha plane is an auxiliary item of its own, its auxC property not
    # the primary's: look at every property.
    out["has_transparency"] = any(
        ptype == b"auxC" and (b"alpha" in payload or b"auxid:1\0" in payload)
        for ptype, payload in meta.props)
    out["has_xmp"] = any(t == b"mime" and b"rdf+xml" in ct for t, ct in meta.items.values())
    return out


# --- coded data ---------------------------------------------------------------


def _coded_item(meta: Meta) -> int | None:
    """The primary item, or for a derived one (grid, overlay) its first input tile."""
    item = meta.primary
    for _ in range(4):
        if item is None or meta.items.get(item, (b"", b""))[0] not in (b"grid", b"iovl", b"iden"):
            return item
        to = meta.refs.get((b"dimg", item))
        item = to[0] if to else None
    return item


def content_spans(spans: Spans, k: int) -> list[Range] | None:
    """The first `k` bytes of the primary item's coded data (of the first tile
    for a grid image), located through `iloc`; None until `meta` is held.

    The Exif and XMP items, `meta` itself and the box layout are left out, so
    moving or rewriting metadata items does not change these bytes."""
    if spans.get(4, 8) != b"ftyp":
        return None
    meta = _meta(spans)
    if meta is None:
        return None
    item = _coded_item(meta)
    if item is None or item not in meta.locs:
        return None
    method, extents = meta.locs[item]
    shift = meta.extent_base(method)
    if shift is None:
        return None
    out: list[Range] = []
    left = k
    for start, length in extents:
        start += shift
        if length == 0:
            if spans.size is None:
                return None
            length = spans.size - start
        take = min(length, left)
        if take <= 0 or (spans.size is not None and start + take > spans.size):
            break
        out.append((start, start + take))
        left -= take
        if not left:
            break
    return out or None
