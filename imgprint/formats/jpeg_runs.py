"""Runs of chunked APPn segments the JPEG segment walk skips by prediction.

A FLIR FFF stream, an ExtendedXMP packet or a big ICC profile is cut into
~64 KB APPn segments, back to back; walking them costs a round trip a chunk,
which puts the frame header and scan behind ten chunks out of reach of three
follow-ups. The chunks' own headers say where the run ends (FLIR: equal chunk
sizes and the FFF directory's stream length; ExtendedXMP: full length and
offset; ICC: profile size and chunk count). `predict` makes a `Run` of that;
`resolve` accepts it only when held bytes confirm it (chunk headers where
predicted, the last chunk's header, or a valid segment chain at the predicted
end), else the walk hops as before. Only runs no one fetches are skipped
(ExtendedXMP past `caps.KIND_TOTAL`, ICC past `caps.CAPS["icc_jpeg"]`); a
wrong landing costs dimensions or the content hash, never a crawl. Bounds: one
run per walk, `MAX_RUN_CHUNKS` chunks, `CHAIN_SEGMENTS` segments looked at.
docs/metadata.md has the details and the risk analysis.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from imgprint.metadata.vendor import FFF_HEADER_BYTES, fff_header
from imgprint.spans import Spans

from .caps import CAPS, KIND_TOTAL

#: (marker, offset of its 0xFF, length field): `jpeg.Segment`.
Segment = tuple[int, int, int]

#: Most chunks a run may have, walked and predicted (FLIR's index is one byte).
MAX_RUN_CHUNKS = 256
#: Segments `chain_ok` checks from a predicted end.
CHAIN_SEGMENTS = 16

_FLIR_ID = b"FLIR\0"
_FLIR_HEAD = 12  # marker, length, FLIR\0, 1, index, last index
_EXT_ID = b"http://ns.adobe.com/xmp/extension/\0"
_EXT_HEAD = 4 + len(_EXT_ID) + 32 + 8  # marker, length, id, GUID, full length, offset
_EXT_OVER = _EXT_HEAD - 2  # length field minus the chunk's data
_ICC_ID = b"ICC_PROFILE\0"
_ICC_HEAD = 4 + len(_ICC_ID) + 2  # marker, length, id, seq, count
_ICC_OVER = _ICC_HEAD - 2

_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
#: Markers a segment right after an APPn run may have: APPn, COM, tables,
#: frame headers, restart interval, arithmetic conditioning, scan header.
NEXT_MARKERS = frozenset(range(0xE0, 0xF0)) | _SOF | {0xC4, 0xCC, 0xDA, 0xDB, 0xDD, 0xFE}


#: (offset from a header, bytes) it must read.
Checks = tuple[tuple[int, bytes], ...]


@dataclass(frozen=True)
class Run:
    """A run's predicted rest; offsets are absolute, sizes segment lengths."""

    kind: str  # "flir", "xmp_extended", "icc"
    at: int  # where the walk stopped: the header of the first chunk not walked
    length: int  # length field of every chunk from `at` but the last
    last: int  # header of the run's last chunk
    #: what the last chunk's header must read; its length too where declared
    checks: Checks
    last_length: int | None
    end: int | None  # the first segment after the run, where sizes are declared

    def head_bytes(self) -> int:
        return max(off + len(raw) for off, raw in self.checks)


def _u16(value: int) -> bytes:
    return struct.pack(">H", value)


def _trailing(spans: Spans, segs: list[Segment], at: int, marker: int,
              ident: bytes, head: int) -> list[tuple[Segment, bytes]]:
    """The walked segments of one kind that end, back to back, at `at` (file
    order, with their first `head` bytes), at most `MAX_RUN_CHUNKS`."""
    out: list[tuple[Segment, bytes]] = []
    for seg in reversed(segs[-MAX_RUN_CHUNKS:]):
        raw = spans.get(seg[1], seg[1] + head) if seg[2] + 2 >= head else None
        if seg[0] != marker or seg[1] + 2 + seg[2] != at or raw is None:
            break
        if raw[4:4 + len(ident)] != ident:
            break
        out.append((seg, raw))
        at = seg[1]
    out.reverse()
    return out


def _flir(spans: Spans, segs: list[Segment], at: int) -> Run | None:
    run = _trailing(spans, segs, at, 0xE1, _FLIR_ID, _FLIR_HEAD)
    if not run:
        return None
    for (_, prev), (_, cur) in zip(run, run[1:], strict=False):
        if cur[10] != prev[10] + 1 or cur[11] != prev[11]:
            return None
    (_, _, length), head = run[-1]
    index, last_index = head[10], head[11]
    if index >= last_index or length < _FLIR_HEAD + 1:
        return None
    last = at + (last_index - index - 1) * (2 + length)
    checks: Checks = ((0, b"\xff\xe1"), (4, _FLIR_ID), (10, bytes([last_index, last_index])))
    size = length - (_FLIR_HEAD - 2)  # stream bytes in a chunk
    first = run[0][0] if run[0][1][10] == 0 else None
    stream = _fff_length(spans, first) if first is not None else None
    if stream is None or not last_index * size < stream <= (last_index + 1) * size:
        # The last chunk's size is unknown: its header tells.
        return Run("flir", at, length, last, checks, None, None)
    last_length = stream - last_index * size + _FLIR_HEAD - 2
    checks += ((2, _u16(last_length)),)
    return Run("flir", at, length, last, checks, last_length, last + 2 + last_length)


def _fff_length(spans: Spans, chunk: Segment) -> int | None:
    """Length of the FFF stream that starts in `chunk` (FLIR chunk 0): where its
    last record ends, from the header and record directory if chunk 0 holds them."""
    data = chunk[1] + _FLIR_HEAD
    size = chunk[2] - (_FLIR_HEAD - 2)
    head = spans.get(data, data + FFF_HEADER_BYTES) if size >= FFF_HEADER_BYTES else None
    found = fff_header(head) if head is not None else None
    if found is None:
        return None
    endian, offset, count = found
    if offset + 32 * count > size:
        return None
    directory = spans.get(data + offset, data + offset + 32 * count)
    if directory is None:
        return None
    ends = [sum(struct.unpack(endian + "II", directory[i + 12:i + 20]))
            for i in range(0, 32 * count, 32)]
    return max(ends, default=0) or None


def _extended(spans: Spans, segs: list[Segment], at: int, min_total: int) -> Run | None:
    run = _trailing(spans, segs, at, 0xE1, _EXT_ID, _EXT_HEAD)
    if not run:
        return None
    guid = run[-1][1][4 + len(_EXT_ID):_EXT_HEAD - 8]
    first = len(run) - 1
    while first > 0 and run[first - 1][1][4 + len(_EXT_ID):_EXT_HEAD - 8] == guid:
        first -= 1
    run = run[first:]  # the last chunks of the last one's packet
    full, _ = struct.unpack(">II", run[-1][1][-8:])
    offset = None
    for (_, _, length), raw in run:
        total, off = struct.unpack(">II", raw[-8:])
        if total != full or (offset is not None and off != offset):
            return None
        offset = off + length - _EXT_OVER
    size = run[-1][0][2] - _EXT_OVER
    if offset is None or full <= min_total or size <= 0 or offset >= full:
        return None
    return _sized("xmp_extended", run[-1][0], at, full - offset, size, _EXT_OVER,
                  lambda n, length: ((0, b"\xff\xe1" + _u16(length)),
                                     (4, _EXT_ID + guid + struct.pack(">II", full,
                                                                      full - n))))


def _icc(spans: Spans, segs: list[Segment], at: int, min_walked: int) -> Run | None:
    run = _trailing(spans, segs, at, 0xE2, _ICC_ID, _ICC_HEAD + 4)
    seqs = [raw[_ICC_HEAD - 2] for _, raw in run]
    # The run from its chunk 1, which declares the profile size.
    if 1 not in seqs:
        return None
    run = run[seqs.index(1):]
    count = run[0][1][_ICC_HEAD - 1]
    for i, (_, raw) in enumerate(run):
        if raw[_ICC_HEAD - 2] != i + 1 or raw[_ICC_HEAD - 1] != count:
            return None
    walked = sum(seg[2] - _ICC_OVER for seg, _ in run)
    total = struct.unpack(">I", run[0][1][_ICC_HEAD:_ICC_HEAD + 4])[0]
    size = run[-1][0][2] - _ICC_OVER
    if walked < min_walked or size <= 0 or total <= walked:
        return None
    left = count - len(run)
    if left < 1 or -(-(total - walked) // size) != left:
        return None  # the declared count and sizes disagree
    return _sized("icc", run[-1][0], at, total - walked, size, _ICC_OVER,
                  lambda n, length: ((0, b"\xff\xe2" + _u16(length)),
                                     (4, _ICC_ID + bytes([count, count]))))


def _sized(kind: str, seg: Segment, at: int, left: int, size: int, over: int,
           checks: Callable[[int, int], Checks]) -> Run | None:
    """A run whose `left` data bytes follow `at` in chunks of `size` data bytes."""
    n = -(-left // size)
    if n < 1 or n > MAX_RUN_CHUNKS:
        return None
    last_data = left - (n - 1) * size
    last = at + (n - 1) * (2 + seg[2])
    length = last_data + over
    if length > 0xFFFF:
        return None
    return Run(kind, at, seg[2], last, checks(last_data, length), length, last + 2 + length)


def predict(spans: Spans, segs: list[Segment], at: int) -> Run | None:
    """The rest of the run of chunks the walk stopped in at `at` (the walked
    `segs`' last one ends there), if its headers describe it; else None."""
    if not segs or segs[-1][1] + 2 + segs[-1][2] != at:
        return None
    found = (_flir(spans, segs, at)
             or _extended(spans, segs, at, KIND_TOTAL["xmp_extended"])
             or _icc(spans, segs, at, CAPS["icc_jpeg"]))
    if found is None:
        return None
    tail = found.end if found.end is not None else found.last + _FLIR_HEAD
    if spans.size is not None and tail + 4 > spans.size:
        return None  # the run would end past the file: truncated, or lying
    return found


def _last_ok(head: bytes, run: Run) -> bool:
    if any(head[off:off + len(raw)] != raw for off, raw in run.checks):
        return False
    length = struct.unpack(">H", head[2:4])[0]
    if run.last_length is not None:
        return length == run.last_length
    return _FLIR_HEAD - 2 <= length <= run.length  # FLIR: the last is no longer


def chain_ok(spans: Spans, pos: int) -> bool:
    """Whether the held bytes from `pos` read as a chain of segments that may
    follow an APPn run, as far as held (at least the first header must be)."""
    for i in range(CHAIN_SEGMENTS):
        head = spans.get(pos, pos + 4)
        if head is None:
            return i > 0
        if head[0] != 0xFF or head[1] not in NEXT_MARKERS:
            return False
        marker, length = head[1], struct.unpack(">H", head[2:4])[0]
        if length < 2:
            return False
        if marker in _SOF:
            nf = spans.get(pos + 9, pos + 10)
            if nf is not None and (nf[0] == 0 or length != 8 + 3 * nf[0]):
                return False
        if marker == 0xDA:
            return True
        pos += 2 + length
    return True


def resolve(spans: Spans, run: Run) -> tuple[bool, int]:
    """(True, where the walk goes on) once the held bytes confirm `run`;
    (False, where the walk stops): the predicted place to fetch, or `run.at`
    when the held bytes contradict the prediction."""
    marker = b"\xff\xe2" if run.kind == "icc" else b"\xff\xe1"
    for pos in range(run.at, run.last, 2 + run.length):
        # Chunk headers held anyway (the vendor decoder's FLIR chunks) must agree.
        held = spans.get(pos, pos + 4)
        if held is not None and held != marker + _u16(run.length):
            return False, run.at
    head = spans.get(run.last, run.last + run.head_bytes())
    if head is not None:
        return (True, run.last) if _last_ok(head, run) else (False, run.at)
    if run.end is None:
        return False, run.last
    if spans.get(run.end, run.end + 4) is None:
        return False, run.end
    return (True, run.end) if chain_ok(spans, run.end) else (False, run.at)


def skipped(run: Run, goes_on: int) -> list[Segment]:
    """The chunks from `run.at` up to `goes_on` (the last chunk or the end), as
    predicted segments."""
    marker = 0xE2 if run.kind == "icc" else 0xE1
    out = [(marker, pos, run.length) for pos in range(run.at, min(goes_on, run.last),
                                                      2 + run.length)]
    if goes_on == run.end and run.last_length is not None:
        out.append((marker, run.last, run.last_length))
    return out[:MAX_RUN_CHUNKS]
