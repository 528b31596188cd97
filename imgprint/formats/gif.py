"""GIF: logical screen descriptor and a block walk over the bytes held.

GIF carries no EXIF, so it never asks for more bytes: dimensions and the
global colour table are in the first 13 bytes; transparency, XMP, ICC and the
frame count are read from whatever blocks the held bytes cover.
"""

from __future__ import annotations

import struct

from .spans import Spans

MAX_BLOCKS = 100_000


def needed(spans: Spans) -> list[tuple[int, int]]:
    """Nothing beyond the header matters enough for a follow-up request."""
    return [] if spans.has(0, 13) or spans.size is not None and spans.size < 13 else [(0, 13)]


def exif_offset(spans: Spans) -> int | None:
    return None


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


def facts(spans: Spans) -> dict:
    """Screen size, colour depth, transparency, frames (when all held), XMP/ICC."""
    out: dict = {"format": "gif", "density": None}
    head = spans.get(0, 13)
    if head is None or head[:3] != b"GIF":
        return out
    w, h, packed = struct.unpack("<HHB", head[6:11])
    out.update(width=w, height=h, bit_depth=(packed & 7) + 1)
    pos = 13 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0)
    frames = 0
    transparent = xmp = icc = False
    complete = False
    for _ in range(MAX_BLOCKS):
        intro = spans.get(pos, pos + 1)
        if intro is None:
            break
        if intro == b"\x3b":
            complete = True
            break
        if intro == b"\x21":
            label = spans.get(pos + 1, pos + 2)
            if label is None:
                break
            if label == b"\xf9":
                gce = spans.get(pos + 2, pos + 4)
                if gce is not None and gce[0] >= 1 and gce[1] & 1:
                    transparent = True
            elif label == b"\xff":
                app = spans.get(pos + 3, pos + 14)
                if app == b"XMP DataXMP":
                    xmp = True
                elif app == b"ICCRGBG1012":
                    icc = True
            nxt = _skip_sub_blocks(spans, pos + 2)
        elif intro == b"\x2c":
            desc = spans.get(pos + 1, pos + 10)
            if desc is None:
                break
            frames += 1
            lpacked = desc[8]
            pos += 10 + (3 << ((lpacked & 7) + 1) if lpacked & 0x80 else 0)
            nxt = _skip_sub_blocks(spans, pos + 1)  # after the LZW code size byte
        else:
            complete = True  # junk after the data: decoders stop here too
            break
        if nxt is None:
            break
        pos = nxt
    out["has_transparency"] = transparent
    if complete:
        out["frames"] = frames
        out["has_xmp"] = xmp
        out["has_color_profile"] = icc
    else:
        if xmp:
            out["has_xmp"] = True
        if icc:
            out["has_color_profile"] = True
    return out
