"""ICC profiles: header facts and the description, from a profile or its prefix.

Only three parts of a profile are read: the 128-byte header, the tag table
(a count at 128, then 12-byte ``signature, offset, size`` entries) and the
``desc`` (and, if held, ``cprt``) tag's data. The planner may hand over only a
prefix of the profile; ``icc_needed`` says how long a prefix is enough.

Shape of ``parse_icc``: ``{"description": "sRGB IEC61966-2.1", "color_space":
"RGB", "version": "2.1.0", "device_class": "mntr", "copyright": "…"}`` — the
4-character codes stripped of spaces (``mntr`` display, ``scnr`` input, ``prtr``
output, ``link``, ``spac``, ``abst``, ``nmcl``), each key present only when
read. Text tags: ``desc`` (ICC v2 textDescription: count, ASCII), ``mluc`` (v4:
UTF-16BE records; en-US preferred, else the first), ``text`` (ASCII).

Bounds: bytes without the ``acsp`` signature at 36 give ``{}`` (not a
profile); at most ``MAX_TAGS`` (200) table entries and ``MAX_RECORDS`` (100)
mluc records are looked at; text is read from at most ``4 * cap`` bytes of a
tag; offsets and sizes past the bytes held are ignored. Other helpers join a
profile split over JPEG APP2 segments and inflate PNG iCCP bounded.
"""

from __future__ import annotations

from collections.abc import Iterable

from imgprint.metadata.text import inflate
from imgprint.record_caps import cap_text

HEADER = 128
MAX_TAGS = 200
MAX_RECORDS = 100
#: A tag's bytes read at most (and asked for by ``icc_needed``).
MAX_TAG_BYTES = 16 * 1024
#: Asked for before the tag table is seen: the ``desc`` tag of every profile
#: in the corpus ends within 4 KiB (most within 500 bytes; Apple's display
#: profiles at about 3.7 KB, after their curves).
FIRST_GUESS = 4096
#: The largest profile prefix assembled or inflated (ICC data past the text
#: tags — curves, LUTs — is never read).
MAX_PROFILE = 1024 * 1024


def _u32(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos:pos + 4], "big")


def _code(data: bytes) -> str | None:
    text = data.decode("latin-1").strip(" \0")
    return text if text and text.isascii() and text.isprintable() else None


def _tags(data: bytes) -> dict[bytes, tuple[int, int]]:
    """The tag table held in ``data``: signature -> (offset, size); first entry wins."""
    count = min(_u32(data, HEADER), MAX_TAGS, max(0, (len(data) - HEADER - 4) // 12))
    table: dict[bytes, tuple[int, int]] = {}
    for i in range(count):
        entry = HEADER + 4 + 12 * i
        table.setdefault(data[entry:entry + 4], (_u32(data, entry + 4), _u32(data, entry + 8)))
    return table


def _mluc(tag: bytes, cap: int) -> str | None:
    count, size = _u32(tag, 8), _u32(tag, 12)
    if size < 12:
        return None
    chosen = None
    for i in range(min(count, MAX_RECORDS)):
        record = 16 + i * size
        if record + 12 > len(tag):
            break
        if chosen is None or tag[record:record + 4] == b"enUS":
            chosen = record
            if tag[record:record + 4] == b"enUS":
                break
    if chosen is None:
        return None
    length, offset = _u32(tag, chosen + 4), _u32(tag, chosen + 8)
    text = tag[offset:offset + min(length, 4 * cap)]
    return text[:len(text) & ~1].decode("utf-16-be", "replace")


def _desc(tag: bytes, cap: int) -> str:
    """ICC v2 textDescription: the ASCII text, or its Unicode twin when the "ASCII"
    holds 8-bit bytes (writers put Mac Roman there: ``lin\x8eaire`` for "linéaire")."""
    count = _u32(tag, 8)
    raw = tag[12:12 + min(count, 4 * cap)]
    if raw.isascii():
        return raw.decode("ascii")
    unicode = tag[12 + count:]
    length = min(_u32(unicode, 4), 2 * cap)
    wide = unicode[8:8 + 2 * length].decode("utf-16-be", "replace").split("\0", 1)[0]
    return wide if wide.strip() else raw.decode("latin-1")


def _text(data: bytes, entry: tuple[int, int] | None, cap: int) -> str | None:
    if entry is None:
        return None
    offset, size = entry
    tag = data[offset:offset + min(size, MAX_TAG_BYTES)]
    kind = tag[:4]
    if kind == b"desc":
        text: str | None = _desc(tag, cap)
    elif kind == b"mluc":
        text = _mluc(tag, cap)
    elif kind == b"text":
        text = tag[8:8 + 4 * cap].decode("latin-1")
    else:
        return None
    text = (text or "").split("\0", 1)[0].strip()
    return cap_text(text, cap) if text else None


def parse_icc(data: bytes, cap: int = 2000) -> dict[str, str]:
    """Header facts and texts of a profile (or its prefix); ``{}`` when not a profile."""
    if len(data) < HEADER or data[36:40] != b"acsp":
        return {}
    out: dict[str, str] = {}
    for key, code in (("color_space", data[16:20]), ("device_class", data[12:16])):
        value = _code(code)
        if value:
            out[key] = value
    out["version"] = f"{data[8]}.{data[9] >> 4}.{data[9] & 0xF}"
    table = _tags(data) if len(data) >= HEADER + 4 else {}
    for key, signature in (("description", b"desc"), ("copyright", b"cprt")):
        text = _text(data, table.get(signature), cap)
        if text:
            out[key] = text
    return out


def icc_needed(prefix: bytes, total_len: int) -> int | None:
    """How many bytes from the profile's start ``parse_icc`` wants, or None if ``prefix`` will do.

    ``prefix`` is the profile's first bytes as held (any length, maybe 0);
    ``total_len`` is the profile's length as the container declares it (the
    iCCP/APP2/tag size; ``len(prefix)`` when unknown). The answer is an end
    offset, never more than ``total_len``:

    * before the tag table is held: ``FIRST_GUESS`` (4 KiB) or the table's end,
      whichever is larger — one more request usually reaches ``desc`` too;
    * with the table: the end of the ``desc`` tag (at most ``MAX_TAG_BYTES``
      of it); ``cprt`` is read only if it happens to be held.

    None means no more bytes would help: the prefix already holds what is
    needed, the bytes are not a profile (no ``acsp``), or ``desc`` is absent
    or lies past ``total_len``. Asking again with the longer prefix is safe:
    the answer only moves forward or becomes None.
    """
    held = len(prefix)
    if held >= 40 and prefix[36:40] != b"acsp":
        return None
    if held < HEADER + 4:
        want = FIRST_GUESS
    else:
        count = min(_u32(prefix, HEADER), MAX_TAGS)
        table_end = HEADER + 4 + 12 * count
        if held < table_end:
            want = max(FIRST_GUESS, table_end)
        else:
            entry = _tags(prefix).get(b"desc")
            if entry is None or entry[0] >= total_len:
                return None
            want = entry[0] + min(entry[1], MAX_TAG_BYTES)
    want = min(want, total_len, MAX_PROFILE)
    return want if want > held else None


def join_jpeg_chunks(chunks: Iterable[bytes]) -> bytes:
    """A profile from JPEG APP2 ``ICC_PROFILE`` payloads (seq byte, count byte, data).

    Chunks are ordered by sequence number (a repeated number keeps the first);
    the result stops at ``MAX_PROFILE`` bytes.
    """
    by_seq: dict[int, bytes] = {}
    for chunk in chunks:
        if len(chunk) > 2:
            by_seq.setdefault(chunk[0], chunk[2:])
    out = bytearray()
    for seq in sorted(by_seq):
        out += by_seq[seq][:MAX_PROFILE - len(out)]
    return bytes(out)


def iccp_profile(data: bytes, limit: int = MAX_PROFILE) -> bytes:
    """The profile in a PNG iCCP chunk (name, NUL, method 0, zlib), inflated only as needed.

    First ``FIRST_GUESS`` bytes are inflated, then, if ``icc_needed`` asks,
    up to the end of ``desc`` (never more than ``limit``).
    """
    end = data.find(b"\0", 0, 80)
    if end < 1 or data[end + 1:end + 2] != b"\0":
        return b""
    stream = data[end + 2:]
    profile = inflate(stream, FIRST_GUESS)
    for _ in range(2):  # the header, then the table: each step only moves forward
        want = icc_needed(profile, _u32(profile, 0) if len(profile) >= 4 else FIRST_GUESS)
        if want is None:
            break
        # Inflating again from the start is simpler than keeping the stream's
        # state, and costs a few KB: ``want`` is bounded by the desc tag's end.
        profile = inflate(stream, min(want, limit))
    return profile
