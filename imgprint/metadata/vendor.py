"""Capture time, make and model from three vendor containers outside EXIF.

Pure decoders over bytes already cut out of the file
(``imgprint.formats.jpeg_vendor`` locates and plans them in a JPEG); each
returns ``{"make", "model", "taken_at"}`` keys only when found, ``taken_at``
in ISO 8601 as ExifTool prints the tag (``YYYY-MM-DDTHH:MM:SS[.fff][+HH:MM]``).
They raise nothing and work in bounded time on any input.

* Canon CIFF (``ciff_fields``): the heap of a CRW file, which early PowerShots
  also wrote into a JPEG APP0 segment (``II``/``MM``, header length,
  ``HEAPJPGM``). A heap ends with the offset of its directory: a u16 count of
  10-byte records (tag u16, size u32, offset u32, offsets from the heap's
  start); tag bits 0x4000 = value in the record itself, type bits 0x3800 of
  0x2800/0x3000 = a nested heap. DateTimeOriginal is the Unix time at the start
  of TimeStamp (0x180e), printed as UTC as ExifTool does (the camera's clock,
  no zone); CanonRawMakeModel (0x080a) holds make and model as two C strings.
  Documented in ExifTool's CanonRaw tags and the CIFF 1.0r4 spec. Bounds:
  heaps nest ``MAX_DEPTH`` (8) deep, ``MAX_RECORDS`` (1,024) records in all,
  and a directory offset seen before is not walked again (a heap pointing at
  itself or its parent), as ExifTool refuses double-referenced directories.
* Reconyx maker notes (``reconyx_fields``), little-endian, by signature as
  ExifTool tells them apart: HyperFire (u16 0xF101 and firmware 2 or 3, or an
  IFD0 Make of RECONYX; DateTimeOriginal six u16 from byte 22), UltraFire
  (``RECONYXUF\\0``; seven bytes at 0x3b, the year in two) and HyperFire 2
  (``RECONYXH2\\0``; six u16 at 0x3e). Other notes (MicroFire) are not in
  ExifTool's tables and yield nothing. Only the first ``RECONYX_BYTES`` (80) of
  a note are read. ExifTool's Reconyx tags document the layouts.
* FLIR FFF (``fff_header``, ``fff_record``, ``flir_fields``): the FFF stream
  the APP1 ``FLIR\\0`` segments carry: a 64-byte header (``FFF\\0``, version
  100..199 in the stream's byte order at 0x14, record directory offset and
  count at 0x18/0x1c), 32-byte directory entries (type u16, offset u32 at
  0x0c, length u32 at 0x10); the CameraInfo record (type 0x20) holds
  CameraModel (string[32] at 0xd4) and DateTimeOriginal at 0x384 (Unix time
  u32, milliseconds u16 of a u32, zone s16 in minutes west of UTC). ExifTool's
  FLIR tags document it. Bounds: ``MAX_FFF_RECORDS`` (256) directory entries.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

MAX_DEPTH = 8
MAX_RECORDS = 1024
#: Bytes of a Reconyx note that hold its signature and DateTimeOriginal.
RECONYX_BYTES = 80
MAX_FFF_RECORDS = 256
#: Bytes of a CameraInfo record that hold CameraModel and DateTimeOriginal.
FLIR_CAMERA_INFO_BYTES = 0x38E
FFF_HEADER_BYTES = 0x40
FFF_CAMERA_INFO = 0x20
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _iso(year: int, month: int, day: int, hour: int, minute: int, second: int) -> str | None:
    """ISO 8601 of a calendar time, None unless it is a valid date of year 1+."""
    try:
        return datetime(year, month, day, hour, minute, second).isoformat()
    except (ValueError, OverflowError):
        return None


def _unix(seconds: int) -> str | None:
    """ExifTool's ConvertUnixTime (UTC, no zone) in ISO 8601; None for 0 (unset)."""
    if seconds == 0:
        return None
    try:
        return (_EPOCH + timedelta(seconds=seconds)).replace(tzinfo=None).isoformat()
    except OverflowError:
        return None


def _cstring(raw: bytes) -> str:
    """A C string (cut at the first NUL), Latin-1, stripped."""
    return raw.split(b"\0", 1)[0].decode("latin-1").strip()


# --- Canon CIFF ---------------------------------------------------------------

def ciff_fields(data: bytes) -> dict[str, str]:
    """Make, model and taken_at of a CIFF heap (a CRW file or a JPEG APP0 payload)."""
    if len(data) < 14 or data[:2] not in (b"II", b"MM") or data[6:14] not in (
            b"HEAPJPGM", b"HEAPCCDR"):
        return {}
    endian = "<" if data[:2] == b"II" else ">"
    start = struct.unpack(endian + "I", data[2:6])[0]
    out: dict[str, str] = {}
    budget = [MAX_RECORDS]
    _ciff_heap(data, endian, start, len(data) - start, 0, set(), budget, out)
    return out


def _ciff_heap(data: bytes, endian: str, start: int, size: int, depth: int,
               seen: set[int], budget: list[int], out: dict[str, str]) -> None:
    """Walk the heap [start, start+size): its directory, nested heaps, the two tags."""
    if depth > MAX_DEPTH or size < 4 or start < 0 or start + size > len(data):
        return
    where = struct.unpack(endian + "I", data[start + size - 4 : start + size])[0] + start
    if where in seen or where + 2 > len(data):
        return
    seen.add(where)
    count = struct.unpack(endian + "H", data[where : where + 2])[0]
    table = data[where + 2 : where + 2 + 10 * count]
    if len(table) < 10 * count:  # ExifTool drops a truncated directory whole
        return
    for i in range(count):
        if budget[0] <= 0:
            return
        budget[0] -= 1
        tag, length, offset = struct.unpack(endian + "HII", table[10 * i : 10 * i + 10])
        if tag & 0x8000:  # "Bad CRW directory entry": the rest is garbage
            return
        kind, in_record = (tag >> 8) & 0x38, tag & 0x4000
        if kind in (0x28, 0x30) and not in_record:
            _ciff_heap(data, endian, start + offset, length, depth + 1, seen, budget, out)
            continue
        if in_record:
            value = table[10 * i + 2 : 10 * i + 10]
        else:
            value = data[start + offset : start + offset + length]
            if start + offset + length > len(data):
                continue
        _ciff_tag(tag & 0x3FFF, value, endian, out)


def _ciff_tag(tag: int, value: bytes, endian: str, out: dict[str, str]) -> None:
    """Record CanonRawMakeModel and TimeStamp (the last one found wins, as in ExifTool)."""
    if tag == 0x080A:
        make, model = _cstring(value[:6]), _cstring(value[6:])
        if make:
            out["make"] = make
        if model:
            out["model"] = model
    elif tag == 0x180E and len(value) >= 4:
        taken = _unix(struct.unpack(endian + "I", value[:4])[0])
        if taken:
            out["taken_at"] = taken


# --- Reconyx ------------------------------------------------------------------

def reconyx_kind(note: bytes, make: str | None = None) -> str | None:
    """Which Reconyx layout a maker note has ("hyperfire", "ultrafire", "hyperfire2")."""
    if note[:2] == b"\x01\xf1" and (note[2:4] in (b"\x02\x00", b"\x03\x00")
                                     or (make or "").strip() == "RECONYX"):
        return "hyperfire"
    if note.startswith(b"RECONYXUF\0"):
        return "ultrafire"
    if note.startswith(b"RECONYXH2\0"):
        return "hyperfire2"
    return None


def reconyx_fields(makernote: bytes, make: str | None = None) -> dict[str, str]:
    """taken_at of a Reconyx maker note (`make`: IFD0 Make, which HyperFire notes of
    other firmware need to be recognised). Nothing else is stored: no make or model."""
    kind = reconyx_kind(makernote, make)
    note = makernote[:RECONYX_BYTES]
    if kind == "hyperfire" and len(note) >= 34:
        a = list(struct.unpack("<6H", note[22:34]))
        if a[0] & 0xFF00 and not a[0] & 0xFF:  # written big-endian (seen by ExifTool)
            a = [(v >> 8) | ((v & 0xFF) << 8) for v in a]
        taken = _iso(a[5], a[3], a[4], a[2], a[1], a[0])
    elif kind == "ultrafire" and len(note) >= 0x42:
        b = note[0x3B:0x42]
        taken = _iso(b[5] + 256 * b[6], b[4], b[3], b[2], b[1], b[0])
    elif kind == "hyperfire2" and len(note) >= 0x4A:
        a = list(struct.unpack("<6H", note[0x3E:0x4A]))
        taken = _iso(a[5], a[4], a[3], a[2], a[1], a[0])
    else:
        return {}
    return {"taken_at": taken} if taken else {}


# --- FLIR FFF -----------------------------------------------------------------

def fff_header(head: bytes) -> tuple[str, int, int] | None:
    """(struct byte order, record directory offset, entry count capped) of an FFF
    header (its first 64 bytes), None unless it is one."""
    if len(head) < FFF_HEADER_BYTES or head[:4] not in (b"FFF\0", b"AFF\0"):
        return None
    for endian in (">", "<"):
        version, offset, count = struct.unpack(endian + "III", head[0x14:0x20])
        if 100 <= version < 200:
            return endian, offset, min(count, MAX_FFF_RECORDS)
    return None


def fff_record(directory: bytes, endian: str,
               kind: int = FFF_CAMERA_INFO) -> tuple[int, int] | None:
    """(offset, length) in the FFF stream of the first record of `kind`."""
    for i in range(min(len(directory) // 32, MAX_FFF_RECORDS)):
        entry = directory[32 * i : 32 * i + 32]
        if struct.unpack(endian + "H", entry[:2])[0] == kind:
            offset, length = struct.unpack(endian + "II", entry[0x0C:0x14])
            return offset, length
    return None


def flir_fields(camera_info: bytes, endian: str = ">") -> dict[str, str]:
    """model and taken_at of a CameraInfo record (its first ``FLIR_CAMERA_INFO_BYTES``
    suffice) in the FFF stream's byte order `endian`, which the record's first
    u16 (2) corrects as ExifTool does."""
    if len(camera_info) < 2 or endian not in ("<", ">"):
        return {}
    if struct.unpack(endian + "H", camera_info[:2])[0] >= 0x100:
        endian = "<" if endian == ">" else ">"
    out: dict[str, str] = {}
    model = _cstring(camera_info[0xD4:0xF4])
    if model:
        out["model"] = model
    if len(camera_info) >= 0x38E:
        seconds, millis, zone = struct.unpack(endian + "IIh", camera_info[0x384:0x38E])
        taken = _unix(seconds - zone * 60)
        if taken:
            taken += f".{millis & 0xFFFF:03d}"
            if abs(zone) <= 18 * 60:  # a zone no place has is left out
                west = -zone
                sign = "-" if west < 0 else "+"
                taken += f"{sign}{abs(west) // 60:02d}:{abs(west) % 60:02d}"
            out["taken_at"] = taken
    return out
