"""GIF: logical screen descriptor and a block walk over the bytes held.

GIF carries no EXIF, so it never asks for more bytes: dimensions and the
global colour table are in the first 13 bytes; transparency, XMP, ICC and the
frame count are read from whatever blocks the held bytes cover.
"""

from __future__ import annotations

import struct

from .spans import Range, Spans

MAX_BLOCKS = 100_000


def needed(spans: Spans) -> list[Range]:
    """Nothing beyond the header matters enough for a follow-up request."""
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


def _extension(spans: Spans, pos: int, seen: set[str]) -> int | None:
    """Note what the extension block at `pos` says; the position after it."""
    label = spans.get(pos + 1, pos + 2)
    if label is None:
        return None
    if label == b"\xf9":
        gce = spans.get(pos + 2, pos + 4)
        if gce is not None and gce[0] >= 1 and gce[1] & 1:
            seen.add("transparent")
    elif label == b"\xff":
        app = spans.get(pos + 3, pos + 14)
        if app == b"XMP DataXMP":
            seen.add("xmp")
        elif app == b"ICCRGBG1012":
            seen.add("icc")
    return _skip_sub_blocks(spans, pos + 2)


def _blocks(spans: Spans, pos: int) -> tuple[int, set[str], bool]:
    """Walk the blocks from `pos`: frames counted, what the extensions said
    ("transparent", "xmp", "icc"), and whether the walk reached the end."""
    frames = 0
    seen: set[str] = set()
    for _ in range(MAX_BLOCKS):
        intro = spans.get(pos, pos + 1)
        if intro is None:
            break
        if intro == b"\x3b":  # trailer
            return frames, seen, True
        if intro == b"\x21":
            nxt = _extension(spans, pos, seen)
        elif intro == b"\x2c":
            desc = spans.get(pos + 1, pos + 10)
            if desc is None:
                break
            frames += 1
            pos += 10 + _colour_table(desc[8])
            nxt = _skip_sub_blocks(spans, pos + 1)  # after the LZW code size byte
        else:
            return frames, seen, True  # junk after the data: decoders stop here too
        if nxt is None:
            break
        pos = nxt
    return frames, seen, False


def facts(spans: Spans) -> dict:
    """Screen size, colour depth, transparency, frames (when all held), XMP/ICC."""
    out: dict = {"density": None}
    head = spans.get(0, 13)
    if head is None or head[:3] != b"GIF":
        return out
    w, h, packed = struct.unpack("<HHB", head[6:11])
    out.update(width=w, height=h, bit_depth=(packed & 7) + 1)
    frames, seen, complete = _blocks(spans, 13 + _colour_table(packed))
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
