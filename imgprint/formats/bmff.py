"""HEIF/HEIC/AVIF (ISO base media file format): ftyp, meta, iinf/iloc.

The `meta` box indexes every item: `iinf` names the Exif item, `iloc` gives
its absolute extent, `iprp` holds the primary item's `ispe` (dimensions),
`colr` (ICC) and `pixi` (bit depth).  `meta` usually follows `ftyp`, but some
writers put it after `mdat`, and the Exif item itself may sit at the end of
the file.  We hop over top-level boxes by their sizes, ask for the whole
`meta` box, then for the Exif item.
"""

from __future__ import annotations

import struct

from . import tiff
from .spans import Spans

MAX_BOXES = 1000
MAX_META = 1 << 20
HOP_WINDOW = 65536
EXIF_FIRST = 65536

_AVIF_BRANDS = (b"avif", b"avis")


def _box_header(spans: Spans, pos: int, end: int | None) -> tuple[bytes, int, int] | None:
    """(type, header length, total size) of the box at pos; None if unheld or junk."""
    head = spans.get(pos, pos + 8)
    if head is None:
        return None
    size, btype = struct.unpack(">I4s", head)
    hlen = 8
    if size == 1:
        big = spans.get(pos + 8, pos + 16)
        if big is None:
            return None
        size, hlen = struct.unpack(">Q", big)[0], 16
    elif size == 0:
        if end is None:
            return None
        size = end - pos
    if size < hlen:
        return btype, hlen, -1
    return btype, hlen, size


def top_boxes(spans: Spans) -> tuple[list[tuple[bytes, int, int, int]], int | None]:
    """Top-level boxes (type, offset, header length, size) and where the walk stalled."""
    boxes: list[tuple[bytes, int, int, int]] = []
    pos = 0
    end = spans.size
    for _ in range(MAX_BOXES):
        if end is not None and pos + 8 > end:
            return boxes, None
        hdr = _box_header(spans, pos, end)
        if hdr is None:
            return boxes, pos
        btype, hlen, size = hdr
        if size < 0:
            return boxes, None
        boxes.append((btype, pos, hlen, size))
        pos += size
    return boxes, None


def _children(data: bytes, start: int, limit: int = 10_000) -> list[tuple[bytes, int, int, int]]:
    """Child boxes inside `data` from `start`: (type, offset, header length, size)."""
    out = []
    pos = start
    while pos + 8 <= len(data) and len(out) < limit:
        size, btype = struct.unpack(">I4s", data[pos : pos + 8])
        hlen = 8
        if size == 1 and pos + 16 <= len(data):
            size, hlen = struct.unpack(">Q", data[pos + 8 : pos + 16])[0], 16
        elif size == 0:
            size = len(data) - pos
        if size < hlen or pos + size > len(data):
            break
        out.append((btype, pos, hlen, size))
        pos += size
    return out


class Meta:
    """What we need out of a `meta` box."""

    def __init__(self) -> None:
        self.primary: int | None = None
        self.items: dict[int, tuple[bytes, bytes]] = {}  # id -> (type, content type)
        self.locs: dict[int, tuple[int, list[tuple[int, int]]]] = {}  # id -> (method, extents)
        self.props: list[tuple[bytes, bytes]] = []  # (type, payload)
        self.assoc: dict[int, list[int]] = {}  # item id -> 1-based property indexes
        self.idat_start: int | None = None
        self.refs: dict[tuple[bytes, int], list[int]] = {}  # (type, from id) -> to ids


def _cstr(data: bytes, pos: int) -> tuple[bytes, int]:
    end = data.find(b"\0", pos)
    if end < 0:
        return data[pos:], len(data)
    return data[pos:end], end + 1


def parse_meta(data: bytes, file_pos: int) -> Meta:
    """Parse a whole `meta` box (data includes its header) found at file_pos."""
    meta = Meta()
    hdr = _children(data, 0, 1)
    if not hdr:
        return meta
    _, _, hlen, _ = hdr[0]
    for btype, pos, blen, size in _children(data, hlen + 4):
        body = data[pos + blen : pos + size]
        try:
            if btype == b"pitm" and len(body) >= 6:
                meta.primary = (struct.unpack(">H", body[4:6])[0] if body[0] == 0
                                else struct.unpack(">I", body[4:8])[0])
            elif btype == b"iinf":
                _parse_iinf(body, meta)
            elif btype == b"iloc":
                _parse_iloc(body, meta)
            elif btype == b"iprp":
                _parse_iprp(body, meta)
            elif btype == b"idat":
                meta.idat_start = file_pos + pos + blen
            elif btype == b"iref":
                _parse_iref(body, meta)
        except (struct.error, IndexError, ValueError):
            continue
    return meta


def _parse_iinf(body: bytes, meta: Meta) -> None:
    start = 6 if body[0] == 0 else 8
    for btype, pos, blen, size in _children(body, start):
        if btype != b"infe":
            continue
        infe = body[pos + blen : pos + size]
        version = infe[0]
        if version < 2:
            continue
        if version == 2:
            item_id, p = struct.unpack(">H", infe[4:6])[0], 8
        else:
            item_id, p = struct.unpack(">I", infe[4:8])[0], 10
        item_type = infe[p : p + 4]
        _name, p = _cstr(infe, p + 4)
        content_type = _cstr(infe, p)[0] if item_type == b"mime" else b""
        meta.items[item_id] = (item_type, content_type)


def _parse_iloc(body: bytes, meta: Meta) -> None:
    version = body[0]
    off_size, len_size = body[4] >> 4, body[4] & 15
    base_size, idx_size = body[5] >> 4, body[5] & 15
    p = 6
    if version < 2:
        count, p = struct.unpack(">H", body[p : p + 2])[0], p + 2
    else:
        count, p = struct.unpack(">I", body[p : p + 4])[0], p + 4

    def num(n: int) -> int:
        nonlocal p
        if n not in (0, 2, 4, 8):
            raise ValueError(n)
        v = int.from_bytes(body[p : p + n], "big") if n else 0
        if p + n > len(body):
            raise IndexError
        p += n
        return v

    for _ in range(min(count, 10_000)):
        # Field sizes in the header may only be 0, 4 or 8; counts and ids are fixed.
        item_id = num(2) if version < 2 else num(4)
        method = num(2) & 15 if version in (1, 2) else 0
        num(2)  # data_reference_index
        base = num(base_size)
        extents = []
        for _ in range(min(num(2), 1000)):
            if version in (1, 2) and idx_size:
                num(idx_size)
            extents.append((base + num(off_size), num(len_size)))
        meta.locs[item_id] = (method, extents)


def _parse_iref(body: bytes, meta: Meta) -> None:
    wide = body[0] != 0
    n = 4 if wide else 2
    for btype, pos, blen, size in _children(body, 4):
        ref = body[pos + blen : pos + size]
        if len(ref) < 2 * n + 2:
            continue
        src = int.from_bytes(ref[:n], "big")
        count = int.from_bytes(ref[n : n + 2], "big")
        to = [int.from_bytes(ref[n + 2 + i * n : n + 2 + (i + 1) * n], "big")
              for i in range(min(count, (len(ref) - n - 2) // n))]
        meta.refs.setdefault((btype, src), to)


def _parse_iprp(body: bytes, meta: Meta) -> None:
    for btype, pos, blen, size in _children(body, 0):
        inner = body[pos + blen : pos + size]
        if btype == b"ipco":
            for ptype, ppos, plen, psize in _children(inner, 0):
                meta.props.append((ptype, inner[ppos + plen : ppos + psize]))
        elif btype == b"ipma":
            version, flags = inner[0], int.from_bytes(inner[1:4], "big")
            p = 4
            count, p = struct.unpack(">I", inner[p : p + 4])[0], p + 4
            for _ in range(min(count, 10_000)):
                if version < 1:
                    item_id, p = struct.unpack(">H", inner[p : p + 2])[0], p + 2
                else:
                    item_id, p = struct.unpack(">I", inner[p : p + 4])[0], p + 4
                n, p = inner[p], p + 1
                idx = []
                for _ in range(n):
                    if flags & 1:
                        idx.append(struct.unpack(">H", inner[p : p + 2])[0] & 0x7FFF)
                        p += 2
                    else:
                        idx.append(inner[p] & 0x7F)
                        p += 1
                meta.assoc.setdefault(item_id, idx)


def _meta_box(spans: Spans) -> tuple[tuple[bytes, int, int, int] | None, int | None]:
    boxes, stuck = top_boxes(spans)
    for box in boxes:
        if box[0] == b"meta":
            return box, None
    return None, stuck


def _meta(spans: Spans) -> Meta | None:
    box, _ = _meta_box(spans)
    if box is None:
        return None
    _, pos, _, size = box
    data = spans.get(pos, pos + min(size, MAX_META))
    if data is None:
        return None
    return parse_meta(data, pos)


def _exif_item(spans: Spans, meta: Meta) -> tuple[int, int] | None:
    """(absolute start, length) of the Exif item's first extent."""
    for item_id, (item_type, _) in meta.items.items():
        if item_type == b"Exif" and item_id in meta.locs:
            method, extents = meta.locs[item_id]
            if not extents:
                return None
            start, length = extents[0]
            if method == 1:
                if meta.idat_start is None:
                    return None
                start += meta.idat_start
            elif method != 0:
                return None
            if spans.size is not None:
                if start >= spans.size:
                    return None
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


def needed(spans: Spans) -> list[tuple[int, int]]:
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
        out.extend(tiff.exif_needed(spans, off))
    return out


def facts(spans: Spans) -> dict:
    """Primary item's ispe size, pixi depth, colr ICC, alpha auxiliary, XMP item."""
    brand = spans.get(8, 12) or b""
    compat = spans.get_partial(16, 64)
    fmt = "avif" if brand in _AVIF_BRANDS or (brand == b"mif1" and b"avif" in compat) else "heif"
    out: dict = {"format": fmt, "density": None}
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
    alpha = False
    for ptype, payload in meta.props:
        if ptype == b"auxC" and (b"alpha" in payload or b"auxid:1\0" in payload):
            alpha = True
    out["has_transparency"] = alpha
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


def content_spans(spans: Spans, k: int) -> list[tuple[int, int]] | None:
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
    if method == 1:
        if meta.idat_start is None:
            return None
        shift = meta.idat_start
    elif method == 0:
        shift = 0
    else:
        return None
    out: list[tuple[int, int]] = []
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
