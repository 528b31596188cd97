"""PNG: chunk walk, with a look at the file's tail for chunks after IDAT.

IHDR, iCCP, tRNS, pHYs and acTL must precede IDAT, but eXIf and iTXt XMP
may follow it (ImageMagick writes eXIf after the pixels).  Walking past a
long run of IDAT chunks costs a round trip per chunk, so once the walk is in
image data we fetch the last few KB and chain chunks backwards from IEND.
"""

from __future__ import annotations

import re
import struct
import zlib

from imgprint.spans import Block, Range, Spans

from .chunks import Chunk, chain_back, coded_needed

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_CHUNKS = 10_000
HOP_WINDOW = 4096
TAIL = 4096
_XMP_KEY = b"XML:com.adobe.xmp\0"
#: Where a chunk type (four ASCII letters) starts, for the backward search.
_TYPE = re.compile(rb"(?=[A-Za-z]{4})")


def _is_type(t: bytes) -> bool:
    """Four ASCII letters: anything else is not a chunk header."""
    return len(t) == 4 and all(65 <= c <= 90 or 97 <= c <= 122 for c in t)


def walk(spans: Spans) -> tuple[list[Chunk], int | None, bool]:
    """Chunks (type, offset, data length) from the signature on; where the walk
    stopped for want of bytes; and whether image data was entered."""
    chunks: list[Chunk] = []
    pos = 8
    in_idat = False
    for _ in range(MAX_CHUNKS):
        if spans.size is not None and pos + 8 > spans.size:
            return chunks, None, in_idat
        head = spans.get(pos, pos + 8)
        if head is None:
            return chunks, pos, in_idat
        length = struct.unpack(">I", head[:4])[0]
        ctype = head[4:8]
        if not _is_type(ctype) or length > 0x7FFFFFFF:
            return chunks, None, in_idat
        chunks.append((ctype, pos, length))
        in_idat = in_idat or ctype in (b"IDAT", b"fdAT")
        if ctype == b"IEND":
            return chunks, None, in_idat
        pos += 12 + length
    return chunks, None, in_idat


def _ends_at(head: bytes, p: int, end: int) -> Chunk | None:
    # length (4, big-endian), type (4), data, CRC (4)
    if p + 12 + int.from_bytes(head[:4], "big") == end and _is_type(head[4:8]):
        return head[4:8], p, end - p - 12
    return None


def tail_chunks(spans: Spans, floor: int) -> tuple[list[Chunk], bool]:
    """Chunks chained backwards from the end of the file through the held tail.

    Returns them in file order and whether the chain reached image data (or
    `floor`, where the forward walk stopped) so nothing between is unseen."""
    if spans.size is None:
        return [], False
    return chain_back(spans, spans.size, floor, 12, _ends_at, frozenset({b"IDAT", b"fdAT"}),
                      _TYPE, 4)


def _all_chunks(spans: Spans) -> tuple[list[Chunk], bool]:
    """The chunks seen from the front and the back; whether none can be missing."""
    # EXIF, facts and planning all ask; the backward search is the costly part.
    return spans.memo("png_chunks", lambda: _find_all_chunks(spans))


def _find_all_chunks(spans: Spans) -> tuple[list[Chunk], bool]:
    chunks, stuck, in_idat = walk(spans)
    if stuck is None:
        return chunks, True
    if in_idat and spans.size is not None:
        tail, ok = tail_chunks(spans, stuck)
        # The tail was fetched once: what it does not chain up to is pixel data.
        ok = ok or (spans.has(max(stuck, spans.size - TAIL), spans.size) and bool(tail))
        return chunks + tail, ok
    return chunks, False


def exif_offset(spans: Spans) -> int | None:
    """Start of the first eXIf chunk's data (a raw TIFF blob)."""
    chunks, _ = _all_chunks(spans)
    for ctype, pos, _length in chunks:
        if ctype == b"eXIf":
            return pos + 8
    return None


def needed(spans: Spans) -> list[Range]:
    """Chunk headers not yet seen; the file tail once the walk is in image data."""
    if spans.get(0, 8) != SIGNATURE:
        return []
    chunks, stuck, in_idat = walk(spans)
    out: list[Range] = []
    if stuck is not None:
        if in_idat and spans.size is not None:
            # One look at the tail; a chunk too big for it is taken for pixels.
            tail, _ok = tail_chunks(spans, stuck)
            start = max(stuck, spans.size - TAIL)
            if spans.size - stuck > 12 and not spans.has(start, spans.size):
                out.append((start, spans.size))
            chunks = chunks + tail
        else:
            out.append((stuck, stuck + HOP_WINDOW))
    for ctype, pos, length in chunks:
        if ctype == b"eXIf":
            out.extend(spans.missing(pos + 8, pos + 8 + min(length, 1 << 20)))
            break
    for ctype, pos, length in chunks:
        if ctype in (b"IHDR", b"pHYs", b"acTL", b"tRNS"):
            out.extend(spans.missing(pos + 8, pos + 8 + min(length, 16)))
        elif ctype == b"iTXt":
            out.extend(spans.missing(pos + 8, pos + 8 + min(length, len(_XMP_KEY))))
    return out


#: Chunks that are metadata blocks, and their kinds (`imgprint.formats.blocks`).
BLOCK_CHUNKS = {b"tEXt": "png_text", b"zTXt": "png_ztxt", b"iTXt": "png_itxt",
                b"tIME": "png_time", b"iCCP": "icc_zlib"}


def blocks(spans: Spans) -> list[Block]:
    """Text, time and ICC chunks seen from the front and the back: their data."""
    if spans.get(0, 8) != SIGNATURE:
        return []
    chunks, _ = _all_chunks(spans)
    return [(BLOCK_CHUNKS[ctype], pos + 8, pos + 8 + length)
            for ctype, pos, length in chunks if ctype in BLOCK_CHUNKS]


def facts(spans: Spans) -> dict:
    """IHDR dimensions/depth, alpha or tRNS, iCCP, pHYs density, acTL frames, XMP."""
    out: dict = {}
    chunks, complete = _all_chunks(spans)
    ihdr = spans.get(16, 29)
    if ihdr is not None and spans.get(12, 16) == b"IHDR":
        w, h, depth, color = struct.unpack(">IIBB", ihdr[:10])
        out.update(width=w, height=h, bit_depth=depth)
        alpha = color in (4, 6)
    else:
        alpha = False
    types = {c[0] for c in chunks}
    out["has_transparency"] = alpha or b"tRNS" in types
    out["has_color_profile"] = b"iCCP" in types
    out["density"] = None
    xmp = False
    for ctype, pos, length in chunks:
        if ctype == b"pHYs" and length >= 9:
            p = spans.get(pos + 8, pos + 17)
            if p is not None:
                x, y, unit = struct.unpack(">IIB", p)
                if unit == 1:
                    out["density"] = [round(x * 0.0254), round(y * 0.0254)]
        elif ctype == b"acTL" and length >= 8:
            p = spans.get(pos + 8, pos + 12)
            if p is not None:
                out["frames"] = struct.unpack(">I", p)[0]
        elif ctype == b"iTXt":
            xmp = xmp or spans.get(pos + 8, pos + 8 + len(_XMP_KEY)) == _XMP_KEY
    if "frames" not in out and b"IDAT" in types:
        out["frames"] = 1
    # Absence is only known once every chunk has been seen.
    if complete or xmp:
        out["has_xmp"] = xmp
    return out


# --- coded data ---------------------------------------------------------------


def _coded_walk(spans: Spans, k: int) -> tuple[list[Range], int | None, bool]:
    """IHDR/PLTE data and the first `k` bytes of IDAT data across chunks; where a
    missing chunk header stopped the walk; whether it reached enough IDAT data."""
    chunks, stuck, _ = walk(spans)
    out: list[Range] = []
    got = 0
    for ctype, pos, length in chunks:
        if ctype in (b"IHDR", b"PLTE"):
            out.append((pos + 8, pos + 8 + length))
        elif ctype == b"IDAT":
            take = min(length, k - got)
            if take > 0:
                out.append((pos + 8, pos + 8 + take))
                got += take
            if got >= k:
                return out, None, True
        elif got:
            return out, None, True  # image data ended before k bytes
    if stuck is not None:
        return out, stuck, False
    return out, None, got > 0


def content_spans(spans: Spans, k: int) -> list[Range] | None:
    """IHDR and PLTE chunk data and the first `k` bytes of the zlib stream in IDAT
    (across chunks); None until the chunk walk has got that far.

    Ancillary chunks (eXIf, iTXt, tEXt, iCCP, pHYs, tIME...) are left out, and
    chunk boundaries do not matter: only the data bytes are taken."""
    if spans.get(0, 8) != SIGNATURE:
        return None
    out, stuck, ok = _coded_walk(spans, k)
    return out if stuck is None and ok else None


def content_needed(spans: Spans, k: int) -> list[Range]:
    """The next chunk header (and the data behind it) the coded-data walk lacks."""
    if spans.get(0, 8) != SIGNATURE:
        return []
    out, stuck, _ = _coded_walk(spans, k)
    return coded_needed(out, stuck, k)


# --- the top band (perceptual hash) --------------------------------------------

#: Chunks a decoder of the pixels needs besides IHDR and IDAT.
_BAND_CHUNKS = (b"PLTE", b"tRNS")


def _chunk(ctype: bytes, data: bytes) -> bytes:
    return (len(data).to_bytes(4, "big") + ctype + data
            + (zlib.crc32(ctype + data) & 0xFFFFFFFF).to_bytes(4, "big"))


def _idat_start(chunks: list[Chunk]) -> int | None:
    return next((pos for ctype, pos, _ in chunks if ctype == b"IDAT"), None)


def band_png(spans: Spans, max_bytes: int) -> tuple[bytes, int, int] | None:
    """A non-interlaced PNG's IHDR, PLTE and tRNS, and the zlib stream held
    contiguously from the first IDAT (across IDAT chunks), at most `max_bytes`
    of it, as one PNG without IEND: its first rows decode. (data, width,
    height); None for anything else (interlaced, APNG frames, not reached)."""
    if spans.get(0, 8) != SIGNATURE:
        return None
    chunks, _, _ = walk(spans)
    ihdr = spans.get(16, 29) if chunks and chunks[0][0] == b"IHDR" else None
    if ihdr is None or ihdr[12] != 0:
        return None
    parts = [SIGNATURE, _chunk(b"IHDR", ihdr)]
    stream: list[bytes] = []
    got = 0
    for ctype, pos, length in chunks:
        if ctype in _BAND_CHUNKS and not stream:
            data = spans.get(pos + 8, pos + 8 + length)
            if data is None:
                return None
            parts.append(_chunk(ctype, data))
        elif ctype == b"IDAT":
            data = spans.get_partial(pos + 8, pos + 8 + min(length, max_bytes - got))
            stream.append(data)
            got += len(data)
            if len(data) < length or got >= max_bytes:
                break
        elif stream:
            break
    if not got:
        return None
    parts.append(_chunk(b"IDAT", b"".join(stream)))
    return b"".join(parts), int.from_bytes(ihdr[:4], "big"), int.from_bytes(ihdr[4:8], "big")


def band_span(spans: Spans) -> tuple[int, int, int] | None:
    """(first byte to fetch, where bytes start to follow rows, end of the file)
    for the top band of a non-interlaced PNG: from the first IDAT chunk on;
    None when interlaced or the first IDAT is not reached yet
    (`content_needed` walks there)."""
    if spans.get(0, 8) != SIGNATURE or spans.size is None:
        return None
    ihdr = spans.get(16, 29)
    if ihdr is None or ihdr[12] != 0:
        return None
    chunks, _, _ = walk(spans)
    start = _idat_start(chunks)
    return None if start is None else (start, start, spans.size)
