"""Multi-range requests: the ``Range`` value for several spans, and what an
answer to one holds.

A request may ask for several ranges at once (``Range: bytes=a-b,c-d``, RFC
9110 §14.2). A server answers ``206`` with a ``multipart/byteranges`` body (one
part a range, each with its ``Content-Range``), or a single-part ``206`` (one
range, or the ranges coalesced), or ignores Range and sends the file from
byte 0 (``200``). ``answer_parts`` turns such an answer into (offset, bytes)
pieces, bounded: at most ``MAX_PARTS`` parts, part headers of at most
``MAX_HEADER_BYTES``, and every part inside the ranges asked for (ranges a
server may coalesce: closer than ``COALESCE_GAP``); anything else refuses the
whole answer, so no byte a server misplaced reaches the parsers. Parts that
give a range twice with other bytes keep the first (``first_wins``), and the
conflict is reported.
``answer_kind`` and ``answer_limit`` say how many body bytes an answer may
hold before its download is cut.

Pure functions over bytes and header values.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from imgprint.http import parse_content_range
from imgprint.spans import Range, join_ranges

Piece = tuple[int, bytes]

#: Most ranges one request asks for (and most parts an answer may hold).
MAX_PARTS = 16
#: Most bytes of one part's header block.
MAX_HEADER_BYTES = 1024
#: Asked ranges closer than this may come back as one part (RFC 9110 lets a
#: server coalesce ranges separated by less than the cost of another part).
COALESCE_GAP = 1024
#: Bytes a multipart answer may carry besides the bytes asked (part headers
#: and boundaries), a range: past them the download is cut.
PART_OVERHEAD = 256

_BOUNDARY = re.compile(r"""boundary\s*=\s*(?:"([^"]{1,70})"|([^\s;,"]{1,70})(?![^\s;,"]))""",
                       re.I)
_MULTI = re.compile(r"^\s*bytes\s*=\s*(.*)$", re.I | re.S)
_SPEC = re.compile(r"^\s*(\d{1,19})-(\d{1,19})\s*$")


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode("latin-1") if isinstance(value, bytes) else value


def ranges_header(ranges: Sequence[Range]) -> bytes:
    """``Range`` value for the half-open spans ``ranges`` (sorted, disjoint)."""
    return ("bytes=" + ",".join(f"{s}-{e - 1}" for s, e in ranges)).encode()


def parse_ranges_header(value: bytes | str | None) -> list[Range] | None:
    """The half-open spans of a ``Range: bytes=a-b[,c-d...]`` value (as
    ``ranges_header`` writes it, at most ``MAX_PARTS``); None for another form."""
    m = _MULTI.match(_text(value))
    if not m:
        return None
    specs = m.group(1).split(",")
    if not specs or len(specs) > MAX_PARTS:
        return None
    out: list[Range] = []
    for spec in specs:
        sm = _SPEC.match(spec)
        if not sm:
            return None
        first, last = int(sm.group(1)), int(sm.group(2))
        if last < first:
            return None
        out.append((first, last + 1))
    return out


def answer_kind(content_type: bytes | str | None, content_range: bytes | str | None) -> str:
    """What an answer to a range request holds, from its headers alone (the
    status is not known while the body arrives): "multipart" (a
    ``multipart/byteranges`` body), "part" (one range: a Content-Range) or
    "whole" (the file from byte 0: a server that ignores Range)."""
    if boundary_of(content_type) is not None:
        return "multipart"
    return "part" if content_range is not None else "whole"


def answer_limit(ranges: Sequence[Range], kind: str, left: int | None = None) -> int:
    """Most body bytes an answer of ``kind`` (``answer_kind``) to a request for
    ``ranges`` may hold: the bytes asked, never more than ``left`` (what is left
    of the image's follow-up budget), plus PART_OVERHEAD a range for a
    multipart body's part headers.

    A part holds one asked range, or asked ranges a server coalesced (closer
    than COALESCE_GAP): "part" allows the largest of those, "multipart" all
    of them; "whole" is the file from byte 0 up to the furthest range end."""
    if kind == "whole":
        size = max(e for _, e in ranges)
    else:
        allowed = [e - s for s, e in _allowed(ranges)]
        size = max(allowed) if kind == "part" else sum(allowed)
    if left is not None:
        size = min(size, max(left, 0))
    return size + (PART_OVERHEAD * len(ranges) if kind == "multipart" else 0)


def boundary_of(content_type: bytes | str | None) -> bytes | None:
    """The boundary of a ``multipart/byteranges`` Content-Type, or None."""
    text = _text(content_type)
    if not text.strip().lower().startswith("multipart/byteranges"):
        return None
    m = _BOUNDARY.search(text)
    if not m:
        return None
    return (m.group(1) or m.group(2)).encode("latin-1")


def _allowed(ranges: Sequence[Range]) -> list[Range]:
    """The asked ranges, sorted, those closer than COALESCE_GAP joined."""
    return join_ranges(ranges, COALESCE_GAP)


def _inside(start: int, end: int, allowed: list[Range]) -> bool:
    return any(s <= start and end <= e for s, e in allowed)


def _part_header(block: bytes) -> bytes | None:
    """The Content-Range value of a part's header block, or None."""
    value = None
    for line in block.split(b"\n"):
        name, sep, rest = line.partition(b":")
        if sep and name.strip().lower() == b"content-range":
            if value is not None:
                return None  # two Content-Ranges: which one is it?
            value = rest.strip()
    return value


def parse_byteranges(body: bytes, boundary: bytes, asked: Sequence[Range],
                     max_parts: int = MAX_PARTS) -> tuple[list[Piece], str | None]:
    """The parts of a ``multipart/byteranges`` body: (offset, bytes) pieces and
    why the body is refused (then no pieces), or None.

    Each part's length is its Content-Range's, not where the next boundary
    seems to be (a boundary string may occur in image bytes); the delimiter
    must follow it. A body cut short (the download's cut-off) keeps the
    bytes of its last part that arrived."""
    if not boundary or len(boundary) > 70:
        return [], "multipart answer without a usable boundary"
    allowed = _allowed(asked)
    delim = b"--" + boundary
    pos = body.find(delim)
    if pos < 0 and len(body) < len(delim) + 4:
        return [], None  # cut before the first part: nothing arrived
    if pos < 0 or pos > MAX_HEADER_BYTES:
        return [], "multipart answer without its boundary"
    pieces: list[Piece] = []
    while True:
        pos += len(delim)
        if body[pos:pos + 2] == b"--" or pos >= len(body):
            break  # the closing delimiter, or a body cut after a part
        # The rest of the delimiter line (transport padding), then the headers.
        eol = body.find(b"\n", pos, pos + MAX_HEADER_BYTES)
        if eol < 0:
            return [], "multipart delimiter line too long or cut"
        head_end = body.find(b"\r\n\r\n", eol, eol + MAX_HEADER_BYTES)
        sep = 4
        if head_end < 0:
            head_end, sep = body.find(b"\n\n", eol, eol + MAX_HEADER_BYTES), 2
        if head_end < 0:
            if len(body) - eol < MAX_HEADER_BYTES:
                break  # cut inside a part's headers: keep the parts before
            return [], "multipart part headers too long"
        value = _part_header(body[eol + 1:head_end])
        first, last, _ = parse_content_range(value)
        if first is None or last is None or last < first:
            return [], "multipart part without a valid Content-Range"
        start, end = first, last + 1
        if not _inside(start, end, allowed):
            return [], f"multipart part bytes {first}-{last} outside the ranges asked for"
        if len(pieces) >= max_parts:
            return [], f"multipart answer with more than {max_parts} parts"
        data_start = head_end + sep
        data = body[data_start:data_start + (end - start)]
        if data:
            pieces.append((start, data))
        pos = data_start + (end - start)
        if pos >= len(body):
            break  # cut short (or ended without a closing delimiter)
        rest = body[pos:pos + 4 + len(delim)]
        if len(rest) < 4 + len(delim) and ((b"\r\n" + delim).startswith(rest)
                                           or (b"\n" + delim).startswith(rest)):
            break  # cut between a part and the next delimiter
        nxt = body.find(delim, pos, pos + 4 + len(delim))
        if nxt < 0 or body[pos:nxt].strip(b"\r\n"):
            return [], "multipart part longer than its Content-Range"
        pos = nxt
    return pieces, None


def answer_parts(status: int, headers_content_type: bytes | str | None,
                 content_range: bytes | str | None, body: bytes,
                 asked: Sequence[Range]) -> tuple[list[Piece], str | None]:
    """What an answer to a request for ``asked`` holds: (offset, bytes) pieces,
    and why it is refused (then no pieces) or None.

    206 multipart: its parts. 206 single part: the one Content-Range (inside
    the asked ranges, a server may coalesce close ones). 200: the file from
    byte 0. Anything else: refused."""
    if status == 200:
        return [(0, body)] if body else [], None
    if status != 206:
        return [], f"multi-range answer HTTP {status}"
    boundary = boundary_of(headers_content_type)
    if boundary is not None:
        return parse_byteranges(body, boundary, asked)
    first, last, _ = parse_content_range(content_range)
    if first is None or last is None or last < first:
        return [], "206 answer to a multi-range request without a Content-Range"
    if not _inside(first, last + 1, _allowed(asked)):
        return [], f"206 answer bytes {first}-{last} outside the ranges asked for"
    return [(first, body[: last + 1 - first])], None


def first_wins(pieces: Sequence[Piece]) -> tuple[list[Piece], list[Range]]:
    """The pieces of one answer with each byte given once: a piece that
    overlaps an earlier one with other bytes is dropped, the earlier kept, and
    its range listed as a conflict (which of the two is the file's, nothing
    tells). A piece repeating the same bytes is harmless and kept."""
    kept: list[Piece] = []
    conflicts: list[Range] = []
    for start, data in pieces:
        end = start + len(data)
        for s, held in kept:
            lo, hi = max(s, start), min(s + len(held), end)
            if lo < hi and held[lo - s:hi - s] != data[lo - start:hi - start]:
                conflicts.append((start, end))
                break
        else:
            kept.append((start, data))
    return kept, conflicts


def covers(pieces: Sequence[Piece], asked: Sequence[Range]) -> bool:
    """Whether the pieces hold every byte of the asked ranges."""
    held = sorted((s, s + len(d)) for s, d in pieces)
    for start, end in asked:
        at = start
        for s, e in held:
            if s <= at < e:
                at = e
            if at >= end:
                break
        if at < end:
            return False
    return True


def byteranges_body(data: bytes, ranges: Sequence[Range],
                    boundary: bytes = b"imgprint-byteranges",
                    content_type: bytes = b"application/octet-stream") -> bytes:
    """The ``multipart/byteranges`` body a server sends for ``ranges`` of the
    file ``data`` (as nginx writes it): for the benches and tests that serve a
    local file as the crawler's downloads."""
    out = []
    for start, end in ranges:
        last = min(end, len(data)) - 1
        out.append(b"\r\n--" + boundary + b"\r\nContent-Type: " + content_type
                   + f"\r\nContent-Range: bytes {start}-{last}/{len(data)}\r\n\r\n".encode()
                   + data[start:last + 1])
    return b"".join(out) + b"\r\n--" + boundary + b"--\r\n"
