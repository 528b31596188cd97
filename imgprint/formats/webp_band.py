"""WebP: the top band the perceptual hash decodes (``imgprint.formats.picture``):
the chunks a still image's pixels need and its bitstream held from the start,
as one RIFF file cut short, which libwebp's incremental decoder decodes row by
row; and where those bytes are."""

from __future__ import annotations

import struct

from imgprint.spans import Spans

from .chunks import Chunk
from .webp import facts, walk


def _band_chunks(spans: Spans) -> tuple[list[Chunk], Chunk] | None:
    """The chunks a still image's pixels need before its VP8/VP8L chunk (VP8X,
    ALPH), and that chunk; None for an animation or when not reached."""
    if spans.get(0, 4) != b"RIFF" or spans.get(8, 12) != b"WEBP":
        return None
    chunks, _ = walk(spans)
    before: list[Chunk] = []
    for chunk in chunks:
        if chunk[0] == b"ANMF":
            return None
        if chunk[0] in (b"VP8 ", b"VP8L"):
            return before, chunk
        if chunk[0] in (b"VP8X", b"ALPH"):
            before.append(chunk)
    return None


def band_webp(spans: Spans, max_bytes: int) -> tuple[bytes, int, int] | None:
    """A still WebP's VP8X (its flags but alpha cleared) and ALPH chunks and the
    VP8/VP8L data held contiguously from its start, at most `max_bytes` of it, as
    one RIFF file cut short: libwebp's incremental decoder decodes its first
    rows. (data, width, height); None for anything else."""
    found = _band_chunks(spans)
    if found is None:
        return None
    before, (fourcc, pos, size) = found
    parts: list[bytes] = []
    for ctype, cpos, csize in before:
        data = spans.get(cpos + 8, cpos + 8 + csize)
        if data is None:
            return None
        if ctype == b"VP8X":
            data = bytes([data[0] & 0x10]) + data[1:]
        parts.append(ctype + struct.pack("<I", csize) + data + b"\0" * (csize & 1))
    coded = spans.get_partial(pos + 8, pos + 8 + min(size, max_bytes))
    facts_ = facts(spans)
    width, height = facts_.get("width"), facts_.get("height")
    if not coded or not isinstance(width, int) or not isinstance(height, int):
        return None
    head = b"".join(parts) + fourcc + struct.pack("<I", size)
    riff = 4 + len(head) + size + (size & 1)
    return b"RIFF" + struct.pack("<I", riff) + b"WEBP" + head + coded, width, height


def band_span(spans: Spans) -> tuple[int, int, int] | None:
    """(first byte to fetch, where bytes start to follow rows, end of the image
    data) for the top band of a still WebP: from its ALPH or VP8/VP8L chunk on.
    A lossy (VP8) bitstream's first partition holds the modes of every
    macroblock and comes whole before the rows' coefficients: rows follow
    from its end. None when animated or not reached yet."""
    found = _band_chunks(spans)
    if found is None:
        return None
    before, (fourcc, pos, size) = found
    start = next((cpos for ctype, cpos, _ in before if ctype == b"ALPH"), pos)
    lead = pos + 8
    if fourcc == b"VP8 ":
        tag = spans.get(pos + 8, pos + 11)
        if tag is None:
            return None
        lead += 10 + (int.from_bytes(tag, "little") >> 5)  # first_part_size, 19 bits
    end = pos + 8 + size
    if spans.size is not None:
        end = min(end, spans.size)
    return start, min(lead, end), end
