"""GIF: logical screen descriptor and a block walk over the bytes held.

GIF carries no EXIF: dimensions and the global colour table are in the first
13 bytes; transparency, XMP, ICC, comments and the frame count are read from
whatever blocks the held bytes cover. The walk cannot hop over image data
(its sub-block chain has a length byte every 255 bytes), so the only bytes it
asks for beyond the header are the rest of an XMP or comment extension that
starts in the held bytes and runs past them (up to the kind's cap).

Blocks (`imgprint.formats.blocks`): "xmp" is the raw bytes after the
"XMP DataXMP" identifier up to the chain's terminator: the packet and the
magic trailer that lets decoders skip it (the packet's own bytes read as
sub-block lengths, so joining sub-blocks would cut it); "comment" is a
comment extension's sub-blocks joined.
"""

from __future__ import annotations

import struct

from imgprint.spans import Block, Range, Spans

from .caps import CAPS

MAX_BLOCKS = 100_000


def needed(spans: Spans) -> list[Range]:
    """The header; an XMP or comment extension running past the held bytes is
    a block, planned by `imgprint.formats.blocks` up to its kind's cap."""
    return [] if spans.has(0, 13) or spans.size is not None and spans.size < 13 else [(0, 13)]


def _skip_sub_blocks(spans: Spans, pos: int) -> int | None:
    """Position after a sub-block chain, None if it runs into a gap."""
    for _ in range(MAX_BLOCKS):
        n = spans.get(pos, pos + 1)
        if n is None:
            return None
        if n[0] == 0:
            return pos + 1
        pos += 1 + n[0]
    return None


def _colour_table(packed: int) -> int:
    """Bytes of the colour table a descriptor's packed field announces."""
    return 3 << ((packed & 7) + 1) if packed & 0x80 else 0


def _extension(spans: Spans, pos: int, seen: set[str], found: list[Block]) -> int | None:
    """Note what the extension block at `pos` says, and the blocks it is; the
    position after it (None when its chain runs into a gap)."""
    label = spans.get(pos + 1, pos + 2)
    if label is None:
        return None
    kind = None
    if label == b"\xf9":
        gce = spans.get(pos + 2, pos + 4)
        if gce is not None and gce[0] >= 1 and gce[1] & 1:
            seen.add("transparent")
    elif label == b"\xfe":
        kind, start = "comment", pos + 2
    elif label == b"\xff":
        app = spans.get(pos + 3, pos + 14)
        if app == b"XMP DataXMP":
            seen.add("xmp")
            kind, start = "xmp", pos + 14
        elif app == b"ICCRGBG1012":
            seen.add("icc")
    nxt = _skip_sub_blocks(spans, pos + 2)
    if kind is not None:
        # An open chain: the block runs to its cap for now (`blocks` fetches
        # that far; `block_data` gives nothing until the terminator is held).
        end = nxt - 1 if nxt is not None else min(start + CAPS[kind], spans.extent())
        found.append((kind, start, max(start, end)))
    return nxt


Walk = tuple[int, set[str], bool, list[Block]]


def _blocks(spans: Spans, pos: int) -> Walk:
    """Walk the blocks from `pos`: frames counted, what the extensions said
    ("transparent", "xmp", "icc"), whether the walk reached the end, and the
    metadata blocks (memoised: facts, planning and blocks ask)."""
    return spans.memo(("gif_walk", pos), lambda: _walk(spans, pos))


def _walk(spans: Spans, pos: int) -> Walk:
    frames = 0
    seen: set[str] = set()
    found: list[Block] = []
    for _ in range(MAX_BLOCKS):
        intro = spans.get(pos, pos + 1)
        if intro is None:
            break
        if intro == b"\x3b":  # trailer
            return frames, seen, True, found
        if intro == b"\x21":
            nxt = _extension(spans, pos, seen, found)
        elif intro == b"\x2c":
            desc = spans.get(pos + 1, pos + 10)
            if desc is None:
                break
            frames += 1
            pos += 10 + _colour_table(desc[8])
            nxt = _skip_sub_blocks(spans, pos + 1)  # after the LZW code size byte
        else:
            return frames, seen, True, found  # junk after the data: decoders stop here too
        if nxt is None:
            break
        pos = nxt
    return frames, seen, False, found


def _start(spans: Spans) -> int | None:
    """Where the blocks start: after the header and the global colour table."""
    head = spans.get(0, 13)
    if head is None or head[:3] != b"GIF":
        return None
    return 13 + _colour_table(head[10])


def blocks(spans: Spans) -> list[Block]:
    """XMP and comment extensions met by the walk over the held bytes."""
    start = _start(spans)
    return [] if start is None else _blocks(spans, start)[3]


def block_data(spans: Spans, block: Block, want: int) -> bytes | None:
    """XMP raw up to its terminator; a comment's sub-blocks joined (up to
    `want`); None until the chain's terminator (or `want`) is held."""
    kind, start, end = block
    if kind == "xmp":
        data = spans.get(start, end + 1)
        return data[:-1] if data is not None and data[-1:] == b"\0" else None
    out = bytearray()
    pos = start
    for _ in range(MAX_BLOCKS):
        if pos >= want:
            return bytes(out)
        n = spans.get(pos, pos + 1)
        if n is None:
            return None
        if n[0] == 0:
            return bytes(out)
        data = spans.get_partial(pos + 1, min(pos + 1 + n[0], want))
        if len(data) < min(n[0], want - pos - 1):
            return None
        out += data
        pos += 1 + n[0]
    return bytes(out)


def facts(spans: Spans) -> dict:
    """Screen size, colour depth, transparency, frames (when all held), XMP/ICC."""
    out: dict = {"density": None}
    head = spans.get(0, 13)
    if head is None or head[:3] != b"GIF":
        return out
    w, h, packed = struct.unpack("<HHB", head[6:11])
    out.update(width=w, height=h, bit_depth=(packed & 7) + 1)
    frames, seen, complete, _ = _blocks(spans, 13 + _colour_table(packed))
    out["has_transparency"] = "transparent" in seen
    if complete:
        # Counts and absences are only known once every block has been seen.
        out["frames"] = frames
        out["has_xmp"] = "xmp" in seen
        out["has_color_profile"] = "icc" in seen
    else:
        if "xmp" in seen:
            out["has_xmp"] = True
        if "icc" in seen:
            out["has_color_profile"] = True
    return out
