"""Text metadata: PNG tEXt/zTXt/iTXt/tIME, JPEG and GIF comments, EXIF UserComment.

Pure functions over one block's bytes; none raises.

* ``decode_text``: UTF-8 when the bytes are valid UTF-8, else cp1252 (what
  Windows software writes when it says "Latin-1"; its five undefined bytes fall
  back to Latin-1). Only the first ``4 * cap`` bytes are ever decoded.
* ``comment_text`` (JPEG COM, GIF comment extension): NULs removed, trailing
  whitespace stripped; empty, or more than a quarter control characters
  (binary junk some cameras write), gives None.
* ``user_comment`` (EXIF 0x9286): the 8-byte character code picks the
  decoding. ``UNICODE`` is UCS-2 in the TIFF's byte order, which this block
  does not carry: a BOM decides; else both orders are tried and the one with
  more Latin-1-range characters and fewer non-printables wins (ASCII text read
  in the wrong order turns into CJK ideographs such as U+4100), little-endian
  on a tie (most cameras write Intel TIFF). ``JIS`` is tried as ISO-2022-JP,
  Shift_JIS, then EUC-JP. All-blank comments (spaces or NULs, which cameras
  write) give None.
* ``png_time``: tIME as ``YYYY-MM-DDTHH:MM:SSZ``: the PNG spec says UTC, so
  the ``Z`` says it; impossible dates give None (second 60, a leap second, is
  kept).
* ``png_text_chunk``: keyword and text of tEXt/zTXt/iTXt, inflating at most
  ``limit`` bytes (a zlib bomb costs ``limit`` bytes of memory, no more).
"""

from __future__ import annotations

import codecs
import zlib
from typing import NamedTuple

from imgprint.record_caps import cap_text

MAX_KEYWORD = 79


def decode_text(data: bytes, limit: int | None = None) -> str:
    """UTF-8 if valid, else cp1252, else Latin-1; only the first ``limit`` bytes.

    When the cut at ``limit`` splits a UTF-8 sequence, the partial one is dropped.
    """
    cut = limit is not None and len(data) > limit
    if cut:
        data = data[:limit]
    try:
        return codecs.getincrementaldecoder("utf-8")().decode(data, final=not cut)
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _junk(text: str) -> bool:
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\t\n\r" or 0x7F <= ord(c) < 0xA0)
    return controls * 4 > len(text)


def comment_text(data: bytes, cap: int = 2000) -> str | None:
    """One comment's text (see the module docstring), cut to ``cap`` characters."""
    text = decode_text(data, 4 * cap).replace("\0", "").rstrip()
    if not text or _junk(text):
        return None
    return cap_text(text, cap)


def _ucs2(body: bytes) -> str:
    body = body[:len(body) & ~1]
    if body[:2] in (b"\xfe\xff", b"\xff\xfe"):
        return body[2:].decode("utf-16-be" if body[:2] == b"\xfe\xff" else "utf-16-le", "replace")
    best, best_score = "", None
    for codec in ("utf-16-le", "utf-16-be"):
        text = body.decode(codec, "replace").rstrip("\0")
        latin = sum(1 for c in text if 0 < ord(c) < 0x100)
        bad = sum(1 for c in text if not c.isprintable() and c not in "\t\n\r")
        score = latin - 2 * bad
        if best_score is None or score > best_score:
            best, best_score = text, score
    return best


def _jis(body: bytes) -> str:
    for codec in ("iso2022_jp", "shift_jis", "euc_jp"):
        try:
            return body.decode(codec)
        except UnicodeDecodeError:
            continue
    return body.decode("latin-1")


def user_comment(data: bytes, cap: int = 2000) -> str | None:
    """EXIF UserComment's text (see the module docstring), or None when blank or junk."""
    code, body = data[:8], data[8:8 + 4 * cap]
    limit = 4 * cap
    if code == b"UNICODE\0":
        text = _ucs2(body)
    elif code == b"JIS\0\0\0\0\0":
        text = _jis(body)
    elif code in (b"ASCII\0\0\0", b"\0" * 8):
        text = decode_text(data[8:], limit)
    else:  # no character code: some writers put the text first
        text = decode_text(data, limit)
    text = text.replace("\0", "").strip()
    if not text or _junk(text):
        return None
    return cap_text(text, cap)


def png_time(data: bytes) -> str | None:
    """tIME (7 bytes) as ``YYYY-MM-DDTHH:MM:SSZ``, or None when impossible."""
    if len(data) != 7:
        return None
    year = int.from_bytes(data[:2], "big")
    month, day, hour, minute, second = data[2:7]
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    if not (year >= 1 and 1 <= month <= 12 and 1 <= day <= days[month - 1]
            and hour < 24 and minute < 60 and second <= 60):
        return None
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}Z"


class PngText(NamedTuple):
    keyword: str
    #: The text's bytes (inflated, at most ``limit``): Latin-1, or UTF-8 when ``utf8``.
    data: bytes
    utf8: bool


def png_keyword(data: bytes) -> str | None:
    """The keyword of a tEXt/zTXt/iTXt chunk (1-79 Latin-1 bytes before a NUL)."""
    end = data.find(b"\0", 0, MAX_KEYWORD + 1)
    return data[:end].decode("latin-1") if end >= 1 else None


def inflate(stream: bytes, limit: int) -> bytes:
    """At most ``limit`` bytes of a zlib stream (what came out before an error)."""
    out = zlib.decompressobj()
    try:
        return out.decompress(stream, limit)
    except zlib.error:
        return b""


def png_text_chunk(kind: str, data: bytes, limit: int) -> PngText | None:
    """Keyword and text of a ``png_text``/``png_ztxt``/``png_itxt`` chunk, or None if malformed."""
    keyword = png_keyword(data)
    if keyword is None:
        return None
    rest = data[len(keyword) + 1:]
    if kind == "png_text":
        return PngText(keyword, rest[:limit], False)
    if kind == "png_ztxt":
        return PngText(keyword, inflate(rest[1:], limit), False) if rest[:1] == b"\0" else None
    if kind != "png_itxt" or len(rest) < 2:
        return None
    compressed, method = rest[0], rest[1]
    lang_end = rest.find(b"\0", 2)
    name_end = rest.find(b"\0", lang_end + 1) if lang_end >= 0 else -1
    if name_end < 0:
        return None
    text = rest[name_end + 1:]
    if compressed:
        return PngText(keyword, inflate(text, limit), True) if method == 0 else None
    return PngText(keyword, text[:limit], True)


def png_text_value(chunk: PngText, cap: int = 2000) -> str:
    """A chunk's text as a string, cut to ``cap`` characters."""
    raw = chunk.data[:4 * cap]
    if chunk.utf8:
        final = len(chunk.data) <= 4 * cap
        text = codecs.getincrementaldecoder("utf-8")("replace").decode(raw, final=final)
    else:
        text = raw.decode("latin-1")
    return cap_text(text.replace("\0", ""), cap)


def raw_profile(text: bytes, limit: int) -> bytes:
    """The bytes of an ImageMagick "Raw profile type X" dump (``\\nX\\n  LEN\\nHEX…``).

    At most ``limit`` bytes; the hex stops at the first non-hex character.
    """
    lines = text.lstrip(b"\n").split(b"\n", 2)
    if len(lines) < 3 or not lines[1].strip().isdigit():
        return b""
    size = min(int(lines[1].strip()[:12]), limit)
    digits = bytearray()
    for line in lines[2].split(b"\n"):
        digits += line.strip()
        if len(digits) >= 2 * size:
            break
    try:
        return bytes.fromhex(digits[:2 * size].decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return b""
