"""Where a JPEG keeps vendor metadata outside EXIF, what of it to fetch, its fields.

Three containers that ExifTool reads (decoded by ``imgprint.metadata.vendor``):

* a Canon CIFF heap in an APP0 segment (``II``/``MM``, 4 bytes, ``HEAPJPGM``):
  the whole payload is needed (its directory is at its end); at most 64 KiB.
* a Reconyx maker note: the value of MakerNote (0x927C) in the Exif IFD of the
  APP1 Exif TIFF; only its first ``RECONYX_BYTES`` hold signature and date, and
  only a file whose IFD0 Make is absent or RECONYX is asked for them (a
  HyperFire writes no Make; every other camera brand does), so other cameras'
  maker notes cost nothing. IFD0 and the Exif IFD are the EXIF planner's to
  fetch (``jpeg.needed``).
* a FLIR FFF stream, cut into APP1 ``FLIR\\0`` segments (``FLIR\\0``, 1, chunk
  index, last index, then data; ExifTool joins the data by index). The FFF
  header (64 bytes), its record directory and the first ``FLIR_CAMERA_INFO_BYTES``
  of the CameraInfo record are located by mapping stream offsets to file
  offsets through the chunks. A chunk's place is known once the JPEG segment
  walk holds its header; past the walk, chunk k is predicted right after chunk
  k-1, as long as it (FLIR writes every chunk but the last at one size), and a
  prediction counts once the 12 bytes at that place read as the segment
  header of chunk k (else the chunk is not located: the walk's own hops find
  it). So the CameraInfo of a 700 KB stream costs one request, not ten hops.

Bounds: ``MAX_CHUNKS`` (256, what the one-byte index allows) chunks, the FFF
directory's 256 entries (``vendor.MAX_FFF_RECORDS``), ``MAX_VENDOR_BYTES`` (64 KiB)
asked for in all; what lies past that is not fetched.

Planning: ``needed_with_vendor`` is the JPEG parser's ``needed`` with these
ranges added. They are leaves that finish in one request, while the segment
walk's hops through a FLIR stream cost one request per 64 KB chunk, so the
planner should start a request from them when there are any (else the hops,
always earlier in the file, take every follow-up first).
"""

from __future__ import annotations

import struct

from imgprint.metadata.vendor import (
    FFF_HEADER_BYTES,
    FLIR_CAMERA_INFO_BYTES,
    RECONYX_BYTES,
    ciff_fields,
    fff_header,
    fff_record,
    flir_fields,
    reconyx_fields,
)
from imgprint.spans import Range, Spans

from .jpeg import Segment, exif_offset, walk
from .jpeg import needed as jpeg_needed
from .tiff_blocks import EXIF_IFD, tag_spans
from .tiff_ifd import header

MAX_CHUNKS = 256
MAX_VENDOR_BYTES = 64 * 1024
#: Bytes of a FLIR segment before its data: marker, length, FLIR\0, 1, index, last.
_FLIR_HEAD = 12
_MAKE, _MAKER_NOTE = 0x10F, 0x927C
#: A stream piece in the file: (segment offset, file start, file end, place confirmed).
Piece = tuple[int, int, int, bool]


def _jpeg_segments(spans: Spans) -> list[Segment] | None:
    if spans.get(0, 2) != b"\xff\xd8":
        return None
    return walk(spans)[0]


# --- CIFF ---------------------------------------------------------------------

def _ciff(spans: Spans, segs: list[Segment]) -> tuple[Range | None, list[Range]]:
    """The CIFF APP0 payload range (None if none is known), and what to fetch."""
    need: list[Range] = []
    for marker, pos, length in segs:
        if marker != 0xE0 or length < 16:
            continue
        head = spans.get(pos + 4, pos + 18)
        if head is None:
            need.append((pos + 4, pos + 18))
        elif head[:2] in (b"II", b"MM") and head[6:14] == b"HEAPJPGM":
            payload = (pos + 4, pos + 2 + length)
            return payload, need + spans.missing(*payload)
    return None, need


# --- Reconyx ------------------------------------------------------------------

def _reconyx(spans: Spans) -> tuple[Range | None, str | None, list[Range]]:
    """The first bytes of the MakerNote worth reading, the IFD0 Make, what to fetch."""
    base = exif_offset(spans)
    hdr = header(spans, base) if base is not None else None
    if base is None or hdr is None or hdr[2]:
        return None, None, []
    endian, ifd0, _ = hdr
    found = tag_spans(spans, base, ifd0, endian, False, {EXIF_IFD, _MAKE})
    make = None
    if _MAKE in found:
        # What tells RECONYX apart; a Make of a hostile length costs no more.
        span = (found[_MAKE][0], min(found[_MAKE][1], found[_MAKE][0] + 64))
        raw = spans.get(*span)
        if raw is None:
            return None, None, spans.missing(*span)
        make = raw.split(b"\0", 1)[0].decode("latin-1").strip()
        if make and not make.upper().startswith("RECONYX"):
            return None, make, []
    pointer = spans.get(*found[EXIF_IFD]) if EXIF_IFD in found else None
    if pointer is None or len(pointer) < 4:
        return None, make, []
    sub = struct.unpack(endian + "I", pointer[:4])[0]
    if not sub or sub == ifd0:
        return None, make, []
    note = tag_spans(spans, base, sub, endian, False, {_MAKER_NOTE}).get(_MAKER_NOTE)
    if note is None:
        return None, make, []
    note = (note[0], min(note[1], note[0] + RECONYX_BYTES))
    return note, make, spans.missing(*note)


# --- FLIR ---------------------------------------------------------------------

def _flir_known(spans: Spans, segs: list[Segment]) -> tuple[dict[int, tuple[int, int]],
                                                            int | None, list[Range]]:
    """Chunks the walk found ({index: (segment offset, length)}), the chunk count
    (chunk 0's), and the APP1 headers still to read to tell FLIR chunks apart."""
    known: dict[int, tuple[int, int]] = {}
    total = None
    need: list[Range] = []
    for marker, pos, length in segs:
        if marker != 0xE1 or length < 10:
            continue
        head = spans.get(pos, pos + _FLIR_HEAD)
        if head is None:
            need.append((pos, pos + _FLIR_HEAD))
        elif head[4:9] == b"FLIR\0":
            known.setdefault(head[10], (pos, length))
            if head[10] == 0 and total is None:
                total = head[11] + 1
    return known, total, need


def _chunk_head_ok(head: bytes, index: int, total: int) -> bool:
    return (head[:2] == b"\xff\xe1" and head[4:9] == b"FLIR\0" and head[10] == index
            and head[11] + 1 == total)


def _pieces(spans: Spans, known: dict[int, tuple[int, int]], total: int,
            start: int, end: int) -> list[Piece] | None:
    """The file pieces of the stream's [start, end), None where a chunk is lost."""
    pieces: list[Piece] = []
    where = 0  # stream offset of the chunk's data
    prev: tuple[int, int] | None = None
    for index in range(min(total, MAX_CHUNKS)):
        if where >= end:
            return pieces
        confirmed = True
        if index in known:
            pos, length = known[index]
        elif prev is None:
            return None
        else:
            # Right after the chunk before, as long as chunk 0 (FLIR's chunk size).
            pos, length = prev[0] + 2 + prev[1], known[0][1]
            head = spans.get(pos, pos + _FLIR_HEAD)
            if head is not None and not _chunk_head_ok(head, index, total):
                return None
            if head is not None:
                length = struct.unpack(">H", head[2:4])[0]
            confirmed = head is not None
        size = length - 10
        if size <= 0:
            return None
        lo, hi = max(start, where), min(end, where + size)
        if lo < hi:
            data = pos + _FLIR_HEAD
            pieces.append((pos, data + lo - where, data + hi - where, confirmed))
        where += size
        prev = (pos, length)
    return pieces if where >= end else None


def _stream_bytes(spans: Spans, pieces: list[Piece]) -> bytes | None:
    parts = []
    for _, lo, hi, confirmed in pieces:
        part = spans.get(lo, hi) if confirmed else None
        if part is None:
            return None
        parts.append(part)
    return b"".join(parts)


def _stream_needs(spans: Spans, pieces: list[Piece]) -> list[Range]:
    need: list[Range] = []
    for pos, lo, hi, confirmed in pieces:
        if not confirmed:
            need.append((pos, pos + _FLIR_HEAD))
        need.extend(spans.missing(lo, hi))
    return need


def _flir(spans: Spans, segs: list[Segment]) -> tuple[dict[str, str], list[Range]]:
    """The CameraInfo fields once held, else what to fetch next to reach them:
    the header, the directory, the record (each tells where the next is)."""
    known, total, need = _flir_known(spans, segs)
    stuck = walk(spans)[1]
    if total is None or 0 not in known:
        return {}, need

    def read(start: int, end: int) -> bytes | None:
        pieces = _pieces(spans, known, total, start, end)
        if pieces is None:  # a chunk not where predicted: hop to the next header
            if stuck is not None:
                need.append((stuck, stuck + _FLIR_HEAD))
            return None
        data = _stream_bytes(spans, pieces)
        if data is None:
            need.extend(_stream_needs(spans, pieces))
        return data

    head = read(0, FFF_HEADER_BYTES)
    found = fff_header(head) if head is not None else None
    if found is None:
        return {}, need
    endian, offset, count = found
    directory = read(offset, offset + 32 * count)
    record = fff_record(directory, endian) if directory is not None else None
    if record is None or record[1] <= 0:
        return {}, need
    data = read(record[0], record[0] + min(record[1], FLIR_CAMERA_INFO_BYTES))
    return (flir_fields(data, endian) if data is not None else {}), need


# --- API ----------------------------------------------------------------------

def _cap(ranges: list[Range]) -> list[Range]:
    """The ranges in order while they fit in ``MAX_VENDOR_BYTES`` in all."""
    out: list[Range] = []
    left = MAX_VENDOR_BYTES
    for start, end in ranges:
        if end <= start:
            continue
        if end - start > left:
            continue
        out.append((start, end))
        left -= end - start
    return out


def _compute(spans: Spans) -> tuple[dict[str, str], list[Range]]:
    segs = _jpeg_segments(spans)
    if segs is None:
        return {}, []
    fields: dict[str, str] = {}
    need: list[Range] = []
    payload, more = _ciff(spans, segs)
    need += more
    data = spans.get(*payload) if payload is not None else None
    if data is not None:
        _merge(fields, ciff_fields(data), "ciff")
    note, make, more = _reconyx(spans)
    need += more
    raw = spans.get(*note) if note is not None else None
    if raw is not None:
        _merge(fields, reconyx_fields(raw, make), "reconyx")
    flir, more = _flir(spans, segs)
    need += more
    _merge(fields, flir, "flir")
    return fields, _cap(need)


def _merge(fields: dict[str, str], found: dict[str, str], source: str) -> None:
    """Add `found` where `fields` has no value yet; the source of taken_at comes along."""
    for key, value in found.items():
        if key not in fields:
            fields[key] = value
            if key == "taken_at":
                fields["taken_at_source"] = source


def vendor_needed(spans: Spans) -> list[Range]:
    """Absolute half-open ranges not held that the vendor decoders need next
    (a JPEG's CIFF APP0, Reconyx maker note, FLIR FFF header, directory and
    CameraInfo); [] when there are none or all are held."""
    return list(spans.memo("jpeg_vendor", lambda: _compute(spans))[1])


def needed_with_vendor(spans: Spans) -> list[Range]:
    """``jpeg.needed`` and ``vendor_needed``: what the JPEG parser's ``needed`` becomes."""
    return jpeg_needed(spans) + vendor_needed(spans)


def vendor_fields(spans: Spans) -> dict[str, str]:
    """``make``, ``model``, ``taken_at`` and ``taken_at_source`` ("ciff", "reconyx",
    "flir") from the vendor containers held; the first container with a key wins."""
    return dict(spans.memo("jpeg_vendor", lambda: _compute(spans))[0])
