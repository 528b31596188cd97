"""IPTC-IIM and Photoshop IRB decoding: real files, dates, truncation, lying lengths."""

from __future__ import annotations

import time

import pytest

from imgprint.metadata.blocks import metadata_fields
from imgprint.metadata.iptc import MAX_DATASETS, iptc_date, parse_iim, parse_irb, resources
from tests.test_metadata_blocks import ME, exiftool, jpeg_blocks, tiff_blocks


def ds(record: int, number: int, value: bytes) -> bytes:
    return bytes([0x1C, record, number]) + len(value).to_bytes(2, "big") + value


def irb(ident: int, data: bytes, name: bytes = b"") -> bytes:
    pascal = bytes([len(name)]) + name
    pascal += b"\0" * (len(pascal) & 1)
    return b"8BIM" + ident.to_bytes(2, "big") + pascal + len(data).to_bytes(4, "big") + data + (
        b"\0" * (len(data) & 1))


def test_names_lists_numbers_and_charsets():
    data = (ds(1, 90, b"\x1b%G") + ds(2, 0, b"\0\x04") + ds(2, 25, b"caf\xc3\xa9") + ds(2, 25, b"b")
            + ds(2, 80, b"Ann") + ds(2, 5, b"Title\0\0") + ds(2, 5, b"Second") + ds(2, 199, b"?")
            + ds(2, 202, b"\xff\xd8binary") + ds(3, 10, b"newsphoto"))
    assert parse_iim(data) == {"CodedCharacterSet": "UTF8", "ApplicationRecordVersion": "4",
                               "Keywords": ["café", "b"], "By-line": ["Ann"],
                               "ObjectName": "Title", "2:199": "?"}
    # Without ESC % G: UTF-8 when valid, else cp1252.
    assert parse_iim(ds(2, 120, b"caf\xc3\xa9") + ds(2, 116, b"\xa9 \x80 Ann")) == {
        "Caption-Abstract": "café", "CopyrightNotice": "© € Ann"}
    assert parse_iim(ds(1, 90, b"\x1b-A"))["CodedCharacterSet"] == "ESC - A"


@pytest.mark.crawl  # runs exiftool, a program of the crawl layer
def test_real_tiff_iptc_matches_exiftool():
    path = ME / "tif/ImageTestSuite/221209eb0a273029efa18f4c61f6628a.tif"
    iptc = metadata_fields(tiff_blocks(path))["iptc"]
    oracle = exiftool(path)
    assert iptc["ProgramVersion"] == oracle["IPTC:ProgramVersion"] == "Pixelmator 1.1.4"
    assert iptc["CodedCharacterSet"] == oracle["IPTC:CodedCharacterSet"]


@pytest.mark.crawl  # runs exiftool, a program of the crawl layer
def test_real_jpeg_iptc_matches_exiftool_and_dates():
    path = ME / "jpg/Issue 258 (dotnet).jpg"
    iptc = metadata_fields(jpeg_blocks(path))["iptc"]
    oracle = exiftool(path)
    for key in ("ObjectName", "City", "Sub-location", "Province-State", "Headline", "Credit",
                "Source", "CopyrightNotice", "Caption-Abstract", "SpecialInstructions",
                "Country-PrimaryLocationCode", "Country-PrimaryLocationName",
                "OriginalTransmissionReference"):
        assert iptc[key] == oracle[f"IPTC:{key}"], key
    for key in ("Keywords", "SubjectReference", "By-line", "By-lineTitle", "Writer-Editor"):
        expected = oracle[f"IPTC:{key}"]
        assert iptc[key] == (expected if isinstance(expected, list) else [expected]), key
    assert (iptc["DateCreated"], iptc["TimeCreated"]) == ("20191016", "190100+0000")
    assert iptc_date(iptc) == "2019-10-16T19:01:00+00:00"


@pytest.mark.parametrize(("date", "time_", "expected"), [
    ("20010203", "040506+0100", "2001-02-03T04:05:06+01:00"),
    ("20010203", "040506", "2001-02-03T04:05:06"),
    ("2001:02:03", "04:05:06-05:00", "2001-02-03T04:05:06-05:00"),
    ("20010203", "996060", "2001-02-03"),
    ("20010203", None, "2001-02-03"),
    ("20010230", "040506", None),
    ("00000000", "000000", None),
    ("        ", None, None),
    (None, "040506", None),
])
def test_iptc_date(date, time_, expected):
    fields = {k: v for k, v in (("DateCreated", date), ("TimeCreated", time_)) if v is not None}
    assert iptc_date(fields) == expected


def test_irb_walk_odd_names_several_blocks_and_size_lies():
    data = (irb(0x03ED, b"x" * 15, b"odd") + irb(0x0404, ds(2, 5, b"one"))
            + irb(0x0404, ds(2, 5, b"two") + ds(2, 90, b"Oslo")))
    assert parse_irb(data) == {"ObjectName": "one", "City": "Oslo"}
    lie = b"8BIM\x04\x04\0\0\xff\xff\xff\xff" + ds(2, 5, b"cut short")
    assert parse_irb(lie) == {"ObjectName": "cut short"}
    assert list(resources(b"8BIM\x04\x04\xff" + b"\0" * 20)) == []  # name past the end
    assert parse_irb(b"junk" * 100) == {}


def test_lying_and_extended_lengths():
    huge = bytes([0x1C, 2, 5, 0xFF, 0xFF]) + b"x" * 10
    assert parse_iim(ds(2, 90, b"Oslo") + huge) == {"City": "Oslo"}
    extended = bytes([0x1C, 2, 120, 0x80, 0x04]) + (5).to_bytes(4, "big") + b"hello"
    assert parse_iim(extended + ds(2, 90, b"Rome")) == {"Caption-Abstract": "hello",
                                                        "City": "Rome"}
    too_wide = bytes([0x1C, 2, 120, 0x80, 0x08]) + (5).to_bytes(8, "big") + b"hello"
    assert parse_iim(too_wide) == {}
    giant = bytes([0x1C, 2, 120, 0x80, 0x04]) + (2**31).to_bytes(4, "big") + b"x" * 100
    assert parse_iim(giant) == {}


def test_value_and_count_caps():
    start = time.perf_counter()
    many = b"".join(ds(2, 25, b"k%d" % i) for i in range(50_000))
    out = parse_iim(many)
    assert len(out["Keywords"]) == 200
    big = bytes([0x1C, 2, 120, 0x80, 0x04]) + (10_000_000).to_bytes(4, "big") + b"a" * 10_000_000
    assert parse_iim(big, cap=50)["Caption-Abstract"] == "a" * 50 + "…truncated"
    distinct = b"".join(ds(2, 200 + i % 50, b"x") for i in range(5000))
    assert len(parse_iim(distinct)) <= MAX_DATASETS
    assert time.perf_counter() - start < 1


def test_real_irb_cut_anywhere():
    data = b"".join(b for k, b in jpeg_blocks(ME / "jpg/Issue 258 (dotnet).jpg")
                    if k == "photoshop")
    whole = parse_irb(data)
    for cut in range(len(data)):
        part = parse_irb(data[:cut])
        assert all(part[k] == whole[k] or isinstance(whole[k], list) for k in part)
