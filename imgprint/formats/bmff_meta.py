"""The HEIF `meta` box: items (iinf), their locations (iloc), properties
(iprp: ipco, ipma), references (iref) and the primary item (pitm).

Parsed from the bytes of a whole `meta` box.  A child box that is truncated
or malformed is skipped, keeping what the others say.

Bounded in steps and items whatever the box says: at most ``MAX_ENTRIES``
items in `iloc` and `ipma`, ``MAX_EXTENTS`` extents over the whole `iloc`
(extents of field size 0 take no bytes, so the box's length bounds nothing)
and ``MAX_ITEM_EXTENTS`` kept per item; ``MAX_ASSOCIATIONS`` property
associations over the whole `ipma`.
"""

from __future__ import annotations

import struct

from .bmff_boxes import children

#: Items read from `iloc` and `ipma`.
MAX_ENTRIES = 10_000
#: Extents read over the whole `iloc`; extents kept per item.
MAX_EXTENTS = 20_000
MAX_ITEM_EXTENTS = 64
#: Property associations read over the whole `ipma`.
MAX_ASSOCIATIONS = 20_000


class Meta:
    """What we need out of a `meta` box."""

    def __init__(self) -> None:
        self.primary: int | None = None
        self.items: dict[int, tuple[bytes, bytes]] = {}  # id -> (type, content type)
        self.locs: dict[int, tuple[int, list[tuple[int, int]]]] = {}  # id -> (method, extents)
        self.props: list[tuple[bytes, bytes]] = []  # (type, payload)
        self.prop_at: list[int] = []  # absolute file offset of each payload
        self.assoc: dict[int, list[int]] = {}  # item id -> 1-based property indexes
        self.idat_start: int | None = None
        self.refs: dict[tuple[bytes, int], list[int]] = {}  # (type, from id) -> to ids

    def extent_base(self, method: int) -> int | None:
        """What an item's extent offsets count from, by its iloc construction
        method: the file (0) or the `idat` box (1); None when that is unknown
        or the method (2: offsets into other items) is not followed."""
        if method == 0:
            return 0
        if method == 1:
            return self.idat_start
        return None


def parse_meta(data: bytes, file_pos: int) -> Meta:
    """Parse a whole `meta` box (data includes its header) found at file_pos."""
    meta = Meta()
    hdr = children(data, 0, 1)
    if not hdr:
        return meta
    _, _, hlen, _ = hdr[0]
    # `meta` is a full box: version and flags (4 bytes) before its children.
    for btype, pos, blen, size in children(data, hlen + 4):
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
                _parse_iprp(body, meta, file_pos + pos + blen)
            elif btype == b"idat":
                meta.idat_start = file_pos + pos + blen
            elif btype == b"iref":
                _parse_iref(body, meta)
        except (struct.error, IndexError, ValueError):
            continue
    return meta


def _cstr(data: bytes, pos: int) -> tuple[bytes, int]:
    """The NUL-terminated string at `pos` and the position after it."""
    end = data.find(b"\0", pos)
    if end < 0:
        return data[pos:], len(data)
    return data[pos:end], end + 1


def _parse_iinf(body: bytes, meta: Meta) -> None:
    start = 6 if body[0] == 0 else 8
    for btype, pos, blen, size in children(body, start):
        if btype != b"infe":
            continue
        infe = body[pos + blen : pos + size]
        version = infe[0]
        if version < 2:
            continue  # no item type before version 2
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

    steps = MAX_EXTENTS
    for _ in range(min(count, MAX_ENTRIES)):
        # Field sizes in the header may only be 0, 4 or 8; counts and ids are fixed.
        item_id = num(2) if version < 2 else num(4)
        method = num(2) & 15 if version in (1, 2) else 0
        num(2)  # data_reference_index
        base = num(base_size)
        extents: list[tuple[int, int]] = []
        meta.locs[item_id] = (method, extents)
        for _ in range(num(2)):
            steps -= 1
            if steps < 0:
                return
            if version in (1, 2) and idx_size:
                num(idx_size)
            extent = (base + num(off_size), num(len_size))
            if len(extents) < MAX_ITEM_EXTENTS:
                extents.append(extent)


def _parse_iref(body: bytes, meta: Meta) -> None:
    wide = body[0] != 0
    n = 4 if wide else 2
    for btype, pos, blen, size in children(body, 4):
        ref = body[pos + blen : pos + size]
        if len(ref) < 2 * n + 2:
            continue
        src = int.from_bytes(ref[:n], "big")
        count = int.from_bytes(ref[n : n + 2], "big")
        to = [int.from_bytes(ref[n + 2 + i * n : n + 2 + (i + 1) * n], "big")
              for i in range(min(count, (len(ref) - n - 2) // n))]
        meta.refs.setdefault((btype, src), to)


def _parse_iprp(body: bytes, meta: Meta, at: int) -> None:
    """`iprp` whose body starts at file offset `at`: properties and associations."""
    for btype, pos, blen, size in children(body, 0):
        inner = body[pos + blen : pos + size]
        if btype == b"ipco":
            for ptype, ppos, plen, psize in children(inner, 0):
                meta.props.append((ptype, inner[ppos + plen : ppos + psize]))
                meta.prop_at.append(at + pos + blen + ppos + plen)
        elif btype == b"ipma":
            _parse_ipma(inner, meta)


def _parse_ipma(inner: bytes, meta: Meta) -> None:
    version, flags = inner[0], int.from_bytes(inner[1:4], "big")
    p = 4
    count, p = struct.unpack(">I", inner[p : p + 4])[0], p + 4
    steps = MAX_ASSOCIATIONS
    for _ in range(min(count, MAX_ENTRIES)):
        if version < 1:
            item_id, p = struct.unpack(">H", inner[p : p + 2])[0], p + 2
        else:
            item_id, p = struct.unpack(">I", inner[p : p + 4])[0], p + 4
        n, p = inner[p], p + 1
        steps -= n
        if steps < 0:
            return
        idx = []
        for _ in range(n):
            # Flag 1: 15-bit property indexes, else 7-bit (the top bit is "essential").
            if flags & 1:
                idx.append(struct.unpack(">H", inner[p : p + 2])[0] & 0x7FFF)
                p += 2
            else:
                idx.append(inner[p] & 0x7F)
                p += 1
        meta.assoc.setdefault(item_id, idx)
