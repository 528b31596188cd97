"""Vendor containers outside EXIF (``imgprint.metadata.vendor``,
``imgprint.formats.jpeg_vendor``): a Canon CIFF APP0 heap, Reconyx maker notes
and FLIR FFF streams, end to end over corpus files against ExifTool, planned
from the 10,241-byte prefix, and over truncated and hostile variants (no
exception, bounded time). Unit tests only: no servers.
"""

from __future__ import annotations

import json
import random
import struct
import subprocess
import time
from functools import cache

import pytest

from imgprint.formats import Spans
from imgprint.formats.jpeg import needed as jpeg_needed
from imgprint.formats.jpeg_vendor import (
    MAX_VENDOR_BYTES,
    needed_with_vendor,
    vendor_fields,
    vendor_needed,
)
from imgprint.metadata.vendor import (
    ciff_fields,
    fff_header,
    fff_record,
    flir_fields,
    reconyx_fields,
)
from tests.helpers import CORPUS

PREFIX = 10241
#: file -> (ExifTool tags whose values the fields must equal, rounds, bytes from the prefix)
FILES = {
    "exif-samples/jpg/exif-org/sony-powershota5.jpg":
        ({"taken_at": "CIFF:DateTimeOriginal", "make": "CIFF:Make", "model": "CIFF:Model"},
         0, 0),
    "metadata-extractor/jpg/Reconyx HC500 firmware 3.3.0.jpg":
        ({"taken_at": "Reconyx:DateTimeOriginal"}, 0, 0),
    "metadata-extractor/jpg/Reconyx HF2 Pro Covert.jpg":
        ({"taken_at": "Reconyx:DateTimeOriginal"}, 0, 0),
    "metadata-extractor/jpg/FLIR Vue Pro 640.jpg":
        ({"taken_at": "FLIR:DateTimeOriginal", "model": "FLIR:CameraModel"}, 1, 922),
    "metadata-extractor/jpg/FLIR iPhone device.jpg":
        ({"taken_at": "FLIR:DateTimeOriginal", "model": "FLIR:CameraModel"}, 1, 922),
}
SOURCES = {"CIFF": "ciff", "Reconyx": "reconyx", "FLIR": "flir"}


@cache
def exiftool(rel: str) -> dict:
    out = subprocess.run(["exiftool", "-j", "-G1", "-charset", "UTF8", str(CORPUS / rel)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)[0]


def as_iso(value: str) -> str:
    """ExifTool's ``2016:06:27 15:29:42.041-04:00`` as ``2016-06-27T15:29:42.041-04:00``."""
    return value[:10].replace(":", "-") + "T" + value[11:]


def data_of(rel: str) -> bytes:
    return (CORPUS / rel).read_bytes()


def spans_of(data: bytes, upto: int | None = None, size: int | None = None) -> Spans:
    spans = Spans(len(data) if size is None else size)
    spans.add(0, data[:upto] if upto is not None else data)
    return spans


def from_prefix(data: bytes, rounds: int = 3) -> tuple[dict, int, int]:
    """vendor_fields after fetching what vendor_needed asks, at most `rounds` times."""
    spans = spans_of(data, PREFIX)
    used = fetched = 0
    for _ in range(rounds):
        need = vendor_needed(spans)
        if not need:
            break
        used += 1
        for start, end in need:
            spans.add(start, data[start:end])
            fetched += end - start
    return vendor_fields(spans), used, fetched


@pytest.mark.crawl  # runs exiftool, a program of the crawl layer
@pytest.mark.parametrize("rel", sorted(FILES))
def test_whole_file_fields_equal_exiftool(rel):
    tags, _, _ = FILES[rel]
    tool = exiftool(rel)
    fields = vendor_fields(spans_of(data_of(rel)))
    for key, tag in tags.items():
        want = str(tool[tag]).strip()
        assert fields[key] == (as_iso(want) if key == "taken_at" else want), (key, tag)
    assert fields["taken_at_source"] == SOURCES[next(iter(tags.values())).split(":")[0]]
    assert vendor_needed(spans_of(data_of(rel))) == []


@pytest.mark.parametrize("rel", sorted(FILES))
def test_from_the_prefix_rounds_and_bytes(rel):
    _, rounds, nbytes = FILES[rel]
    data = data_of(rel)
    assert from_prefix(data) == (vendor_fields(spans_of(data)), rounds, nbytes)


def test_flir_chunk_past_the_walk_is_one_request_of_two_nearby_ranges():
    # The Vue Pro's CameraInfo is in the 11th 64 KB chunk (stream offset 0xa0220):
    # the header of that chunk and the record, 664 bytes apart.
    need = vendor_needed(spans_of(data_of("metadata-extractor/jpg/FLIR Vue Pro 640.jpg"),
                                  PREFIX))
    assert need == [(655854, 655866), (656530, 657440)]
    spans = spans_of(data_of("metadata-extractor/jpg/FLIR Vue Pro 640.jpg"), PREFIX)
    assert needed_with_vendor(spans) == jpeg_needed(spans) + need


def test_other_jpegs_need_nothing():
    rel = "exif-samples/jpg/Canon_40D.jpg"
    data = data_of(rel)
    assert vendor_needed(spans_of(data, PREFIX)) == []
    assert vendor_fields(spans_of(data)) == {}
    assert vendor_needed(spans_of(b"\x89PNG\r\n\x1a\n" + bytes(100))) == []


@pytest.mark.parametrize("rel", sorted(FILES))
def test_truncated_files(rel):
    data = data_of(rel)
    cuts = sorted({2, 3, 20, 24, 40, 300, 500, 760, 1000, 4000, PREFIX, 66100, 88300,
                   655860, 656600, len(data) - 1})
    start = time.monotonic()
    for cut in cuts:
        if cut >= len(data):
            continue
        for spans in (spans_of(data, cut, size=cut), spans_of(data, cut)):
            need = vendor_needed(spans)
            assert sum(e - s for s, e in need) <= MAX_VENDOR_BYTES
            assert all(0 <= s < e for s, e in need)
            assert isinstance(vendor_fields(spans), dict)
    assert time.monotonic() - start < 2


# --- synthetic files --------------------------------------------------------

def jpeg(*segments: bytes) -> bytes:
    jfif = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0\x00\x0b\x08\x00\x01\x00\x01\x01\x01\x11\x00"
    sos = b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
    return b"\xff\xd8" + jfif + b"".join(segments) + sof + sos + b"\x00" * 64 + b"\xff\xd9"


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def ciff_heap(records: list[tuple[int, int, int]], values: bytes = b"",
              dir_offset: int | None = None, count: int | None = None) -> bytes:
    """A heap: `values`, then the directory, then its offset (little-endian)."""
    where = len(values) if dir_offset is None else dir_offset
    table = struct.pack("<H", len(records) if count is None else count)
    table += b"".join(struct.pack("<HII", *r) for r in records)
    return values + table + struct.pack("<I", where)


def ciff_app0(heap: bytes) -> bytes:
    return b"II" + struct.pack("<I", 14) + b"HEAPJPGM" + heap


def test_ciff_values_in_records_and_nested_heaps():
    make_model = b"Canon\0Canon PowerShot Z\0"
    inner = ciff_heap([(0x080A, len(make_model), 0)], make_model)
    stamp = (0x5000 | 0x180E, 972687386, 0)  # value in the record itself
    heap = ciff_heap([(0x2807, len(inner), 0), stamp], inner)
    fields = ciff_fields(ciff_app0(heap))
    assert fields == {"make": "Canon", "model": "Canon PowerShot Z",
                      "taken_at": "2000-10-27T22:56:26"}
    assert vendor_fields(spans_of(jpeg(segment(0xE0, ciff_app0(heap)))))["make"] == "Canon"


def test_ciff_hostile_heaps_end_quickly():
    start = time.monotonic()
    # A nested heap that is its parent (directory offset seen before).
    loop = ciff_heap([(0x2807, 0, 0)] * 3, dir_offset=0)
    loop = ciff_heap([(0x2807, len(loop) + 8, 0)] * 3, dir_offset=0)
    assert ciff_fields(ciff_app0(loop)) == {}
    # Heaps nesting each other through different directory offsets.
    many = ciff_heap([(0x3000 | 0x0005, 14 + 10 * k, 0) for k in range(60)], dir_offset=0)
    assert ciff_fields(ciff_app0(many)) == {}
    # Record counts of 0xFFFF, offsets and sizes past the end.
    assert ciff_fields(ciff_app0(ciff_heap([(0x180E, 4, 0)], count=0xFFFF))) == {}
    past = ciff_heap([(0x180E, 0xFFFFFFFF, 0xFFFFFFF0), (0x080A, 8, 1 << 31)])
    assert ciff_fields(ciff_app0(past)) == {}
    assert ciff_fields(ciff_app0(struct.pack("<I", 0xFFFFFFFF))) == {}
    assert ciff_fields(b"II" + struct.pack("<I", 1 << 31) + b"HEAPJPGM") == {}
    assert ciff_fields(b"") == {}
    assert time.monotonic() - start < 1


def reconyx_note(kind: str, date: tuple[int, ...]) -> bytes:
    sec, minute, hour, day, month, year = date
    if kind == "hyperfire":
        note = bytearray(b"\x01\xf1\x03\x00" + bytes(60))
        note[22:34] = struct.pack("<6H", sec, minute, hour, month, day, year)
    elif kind == "ultrafire":
        note = bytearray(b"RECONYXUF\0" + bytes(70))
        note[0x3B:0x42] = bytes([sec, minute, hour, day, month, year & 0xFF, year >> 8])
    else:
        note = bytearray(b"RECONYXH2\0" + bytes(70))
        note[0x3E:0x4A] = struct.pack("<6H", sec, minute, hour, day, month, year)
    return bytes(note)


@pytest.mark.parametrize("kind", ["hyperfire", "ultrafire", "hyperfire2"])
def test_reconyx_layouts(kind):
    note = reconyx_note(kind, (31, 8, 8, 7, 5, 2015))
    assert reconyx_fields(note) == {"taken_at": "2015-05-07T08:08:31"}
    assert reconyx_fields(note[:30]) == {}


def test_reconyx_big_endian_date_and_firmware_by_make():
    note = bytearray(reconyx_note("hyperfire", (31, 8, 8, 7, 5, 2015)))
    note[22:34] = struct.pack(">6H", 31, 8, 8, 5, 7, 2015)
    assert reconyx_fields(bytes(note)) == {"taken_at": "2015-05-07T08:08:31"}
    note[2:4] = b"\x09\x00"  # another firmware: a HyperFire only by its Make
    assert reconyx_fields(bytes(note)) == {}
    assert reconyx_fields(bytes(note), "RECONYX") == {"taken_at": "2015-05-07T08:08:31"}


def test_reconyx_garbage_notes():
    rng = random.Random(5)
    for head in (b"\x01\xf1\x03\x00", b"RECONYXUF\0", b"RECONYXH2\0", b""):
        for _ in range(200):
            note = head + rng.randbytes(rng.randrange(0, 120))
            fields = reconyx_fields(note)
            assert set(fields) <= {"taken_at"}
    assert reconyx_fields(reconyx_note("hyperfire2", (99, 99, 99, 99, 99, 0))) == {}


def exif_app1(note: bytes, note_offset: int | None = None, make_count: int = 0) -> bytes:
    """An APP1 Exif: IFD0 (Make of `make_count` bytes at 8000 if any, ExifIFD),
    the Exif IFD with MakerNote, the note (little-endian TIFF)."""
    ifd0 = [(0x10F, 2, make_count, 8000)] if make_count else []
    ifd0.append((0x8769, 4, 1, 8 + 2 + 12 * len(ifd0) + 12 + 4))
    sub_at = ifd0[-1][3]
    at = sub_at + 2 + 12 + 4 if note_offset is None else note_offset
    tiff = b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", len(ifd0))
    tiff += b"".join(struct.pack("<HHII", *e) for e in ifd0) + bytes(4)
    tiff += struct.pack("<H", 1) + struct.pack("<HHII", 0x927C, 7, len(note), at) + bytes(4)
    return segment(0xE1, b"Exif\0\0" + tiff + note)


def test_reconyx_note_through_the_exif_segment():
    note = reconyx_note("hyperfire", (31, 8, 8, 7, 5, 2015))
    data = jpeg(exif_app1(note))
    assert vendor_fields(spans_of(data)) == {"taken_at": "2015-05-07T08:08:31",
                                             "taken_at_source": "reconyx"}
    for hostile in (jpeg(exif_app1(note, note_offset=0xFFFFFF00)),
                    jpeg(exif_app1(note + bytes(60000), note_offset=40)),
                    jpeg(exif_app1(note, make_count=0xFFFFFFF))):
        spans = spans_of(hostile, 60, size=1 << 30)
        assert sum(e - s for s, e in vendor_needed(spans)) <= MAX_VENDOR_BYTES
        assert set(vendor_fields(spans_of(hostile))) <= {"taken_at", "taken_at_source"}


def camera_info(model: bytes = b"Test Cam", seconds: int = 1467055782, millis: int = 41,
                zone: int = 240) -> bytes:
    info = bytearray(0x400)
    info[0:2] = b"\x00\x02"
    info[0xD4 : 0xD4 + len(model)] = model
    info[0x384:0x38E] = struct.pack(">IIh", seconds, millis, zone)
    return bytes(info)


def fff(info: bytes, count: int = 2, raw: int = 5000, dir_offset: int = 0x40,
        record: tuple[int, int] | None = None) -> bytes:
    offset = 0x80 + raw
    head = b"FFF\0" + bytes(16) + struct.pack(">III", 100, dir_offset, count) + bytes(32)
    entries = [struct.pack(">HHIIII", 1, 2, 0x64, 1, 0x80, raw) + bytes(12),
               struct.pack(">HHIIII", 0x20, 1, 0x64, 1, *(record or (offset, len(info))))
               + bytes(12)]
    return head + b"".join(entries) + bytes(raw) + info


def flir_jpeg(stream: bytes, chunk: int = 1000, index=None, last=None) -> bytes:
    pieces = [stream[i : i + chunk] for i in range(0, len(stream), chunk)]
    segs = []
    for k, piece in enumerate(pieces):
        head = b"FLIR\0\x01" + bytes([index(k) if index else k,
                                     last if last is not None else len(pieces) - 1])
        segs.append(segment(0xE1, head + piece))
    return jpeg(*segs)


def test_flir_chunks_predicted_past_the_walk():
    data = flir_jpeg(fff(camera_info()))
    want = {"model": "Test Cam", "taken_at": "2016-06-27T15:29:42.041-04:00",
            "taken_at_source": "flir"}
    assert vendor_fields(spans_of(data)) == want
    spans = spans_of(data, 1100)  # chunk 0 held, the walk stops at chunk 1
    need = vendor_needed(spans)
    assert need and need[0] == (20 + 1012 * 5, 20 + 1012 * 5 + 12)  # chunk 5's header
    for start, end in need:
        spans.add(start, data[start:end])
    assert vendor_needed(spans) == [] and vendor_fields(spans) == want


def test_flir_zone_and_time_forms():
    assert flir_fields(camera_info(zone=-330))["taken_at"] == "2016-06-28T00:59:42.041+05:30"
    assert flir_fields(camera_info(zone=0x7FFF)).get("taken_at", "").count(":") == 2
    assert "taken_at" not in flir_fields(camera_info(seconds=0, zone=0))
    little = bytearray(camera_info())
    little[0:2] = b"\x02\x00"
    little[0x384:0x38E] = struct.pack("<IIh", 1467055782, 41, 240)
    assert flir_fields(bytes(little))["taken_at"] == "2016-06-27T15:29:42.041-04:00"
    assert flir_fields(b"") == {} and flir_fields(camera_info()[:0x100]) == {"model": "Test Cam"}


def test_flir_hostile_streams_end_quickly():
    info = camera_info()
    variants = [
        flir_jpeg(fff(info), index=lambda k: 0),  # every chunk says it is chunk 0
        flir_jpeg(fff(info), index=lambda k: 255 - k),
        flir_jpeg(fff(info), index=lambda k: k + 1),  # no chunk 0
        flir_jpeg(fff(info), last=255),  # more chunks announced than written
        flir_jpeg(fff(info), last=0),
        flir_jpeg(fff(info, count=0xFFFFFFFF)),
        flir_jpeg(fff(info, dir_offset=0xFFFFFFF0)),
        flir_jpeg(fff(info, record=(0xFFFFFFF0, 0xFFFFFFFF))),
        flir_jpeg(fff(info, record=(0, 0))),
        flir_jpeg(fff(info), chunk=40),
        flir_jpeg(b"FFF\0" + bytes(60)),
    ]
    start = time.monotonic()
    for data in variants:
        for spans in (spans_of(data), spans_of(data, 1100), spans_of(data, 1100, size=1100)):
            need = vendor_needed(spans)
            assert sum(e - s for s, e in need) <= MAX_VENDOR_BYTES
            fields = vendor_fields(spans)
            assert set(fields) <= {"model", "taken_at", "taken_at_source"}
    assert time.monotonic() - start < 2
    assert fff_header(b"FFF\0" + bytes(60)) is None
    assert fff_record(bytes(7), ">") is None


def test_flir_wrong_prediction_is_not_read():
    # Chunk 1 is shorter than chunk 0: chunk 2 is not where chunk 0's size puts it.
    stream = fff(camera_info())
    pieces = [stream[:1000], stream[1000:1500]] + [stream[i : i + 1000]
                                                   for i in range(1500, len(stream), 1000)]
    segs = [segment(0xE1, b"FLIR\0\x01" + bytes([k, len(pieces) - 1]) + p)
            for k, p in enumerate(pieces)]
    data = jpeg(*segs)
    want = vendor_fields(spans_of(data))
    assert want["taken_at"] == "2016-06-27T15:29:42.041-04:00"
    spans = spans_of(data, 1040)  # chunk 1's header cut: its size is not known yet
    for _ in range(3):
        fields = vendor_fields(spans)
        assert fields in ({}, want)
        for start, end in vendor_needed(spans):
            spans.add(start, data[start:end])
    assert vendor_fields(spans) == want


def test_mutated_corpus_prefixes_raise_nothing():
    rng = random.Random(11)
    start = time.monotonic()
    for rel in FILES:
        data = data_of(rel)[:20000]
        for _ in range(40):
            mutated = bytearray(data)
            for _ in range(rng.randrange(1, 12)):
                mutated[rng.randrange(2, len(mutated))] = rng.randrange(256)
            spans = spans_of(bytes(mutated), size=len(data_of(rel)))
            vendor_needed(spans)
            vendor_fields(spans)
            ciff_fields(bytes(mutated[24:800]))
    assert time.monotonic() - start < 5
