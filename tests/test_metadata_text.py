"""PNG text chunks, tIME, comments and EXIF UserComment: real files, bombs, garbage."""

from __future__ import annotations

import os
import time
import tracemalloc
import zlib
from functools import cache

import pytest

from imgprint.metadata.blocks import metadata_fields
from imgprint.metadata.text import (
    comment_text,
    png_text_chunk,
    png_time,
    raw_profile,
    user_comment,
)
from tests.test_metadata_blocks import ME, exiftool, jpeg_blocks, png_blocks


@cache
def zlib_bomb(gib: int = 1) -> bytes:
    """A zlib stream of ``gib`` GiB of zeros, about 1 MB long: one fully flushed MiB
    repeated (a full flush resets the window, so every MiB compresses alike)."""
    mib = b"\0" * (1 << 20)
    co = zlib.compressobj(9)
    first = co.compress(mib) + co.flush(zlib.Z_FULL_FLUSH)
    again = co.compress(mib) + co.flush(zlib.Z_FULL_FLUSH)
    return first + again * (1024 * gib - 1)


def bounded(call, seconds: float = 0.5, megabytes: float = 8):
    """``call()``, checked to take little time and little traced memory."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        out = call()
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < seconds and peak < megabytes * 2**20, (elapsed, peak)
    return out


@pytest.mark.crawl  # runs exiftool, a program of the crawl layer
def test_real_png_texts_and_time():
    path = ME / "png/Issue 62.png"
    fields = metadata_fields(png_blocks(path))
    oracle = exiftool(path)
    assert fields["png_text"] == {"Creation Time": oracle["PNG:CreationTime"],
                                  "Software": oracle["PNG:Software"]}
    assert fields["xmp"]["xmp:CreatorTool"] == oracle["XMP-xmp:CreatorTool"]
    suite = ME / "png/PngSuite"
    assert metadata_fields(png_blocks(suite / "cm0n0g04.png")) == {
        "png_time": "2000-01-01T12:34:56Z"}  # ExifTool: 2000:01:01 12:34:56
    z = metadata_fields(png_blocks(suite / "ctzn0g04.png"))["png_text"]
    assert z["Copyright"] == "Copyright Willem van Schaik, Singapore 1995-96"
    i = metadata_fields(png_blocks(suite / "cthn0g04.png"))["png_text"]
    assert set(i) >= {"Title", "Author", "Copyright", "Description", "Software", "Disclaimer"}
    assert all(isinstance(v, str) and v for v in i.values())


def test_chunk_layouts():
    assert png_text_chunk("png_text", b"Title\0Caf\xe9", 100) == ("Title", b"Caf\xe9", False)
    assert png_text_chunk("png_ztxt", b"T\0\0" + zlib.compress(b"zz"), 100) == ("T", b"zz", False)
    itxt = b"T\0\0\0fr\0Titre\0\xc3\xa9t\xc3\xa9"
    assert png_text_chunk("png_itxt", itxt, 100) == ("T", "été".encode(), True)
    comp = b"T\0\x01\0\0\0" + zlib.compress("été".encode())
    assert png_text_chunk("png_itxt", comp, 100) == ("T", "été".encode(), True)
    for bad in (b"", b"\0text", b"k" * 80 + b"\0x", b"T\0\x01\x05\0\0x", b"T\0\0"):
        assert png_text_chunk("png_itxt", bad, 100) is None
    assert png_text_chunk("png_ztxt", b"T\0\x01zz", 100) is None
    fields = metadata_fields([("png_text", b"Title\0Caf\xe9"), ("png_text", b"Title\0again"),
                              ("png_itxt", itxt.replace(b"T\0", b"U\0", 1))])
    assert fields["png_text"] == {"Title": "Café", "U": "été"}


@pytest.mark.parametrize("kind", ["png_ztxt", "png_itxt"])
@pytest.mark.parametrize("keyword", [b"Comment", b"XML:com.adobe.xmp", b"Raw profile type iptc"])
def test_text_bombs_stop_at_the_cap(kind, keyword):
    head = b"\0" if kind == "png_ztxt" else b"\x01\0\0\0"
    chunk = keyword + b"\0" + head + zlib_bomb()
    fields = bounded(lambda: metadata_fields([(kind, chunk)], cap=1000), seconds=1, megabytes=12)
    assert len(fields.get("png_text", {}).get("Comment", "")) <= 1000 + len("…truncated")


def test_raw_profiles_are_routed_not_shown():
    iim = b"\x1c\x02\x19\x00\x03cat"
    dump = b"\niptc\n      %d\n%s\n" % (len(iim), iim.hex().encode())
    fields = metadata_fields([("png_ztxt", b"Raw profile type iptc\0\0" + zlib.compress(dump)),
                              ("png_text", b"Raw profile type exif\0" + b"\nexif\n 4\n45786966"),
                              ("png_text", b"Raw profile type xmp\0" + b"\nxmp\n 3\n3c613e")])
    assert fields == {"iptc": {"Keywords": ["cat"]}, "has_xmp": True}
    assert raw_profile(b"\nx\n 4\n0102\n0304\n", 100) == b"\1\2\3\4"
    assert raw_profile(b"\nx\n 4\n01zz", 100) == b""
    assert raw_profile(b"\nx\n 99999999999999999999\n0102", 1) == b"\1"


def test_png_time():
    assert png_time(bytes([0x07, 0xD0, 2, 29, 23, 59, 60])) == "2000-02-29T23:59:60Z"
    for bad in (bytes([0x07, 0xD1, 2, 29, 0, 0, 0]), bytes([0, 0, 1, 1, 0, 0, 0]),
                bytes([0x07, 0xD0, 13, 1, 0, 0, 0]), bytes([0x07, 0xD0, 1, 1, 24, 0, 0]),
                bytes(6), bytes(8)):
        assert png_time(bad) is None


@pytest.mark.crawl  # runs exiftool, a program of the crawl layer
def test_real_jpeg_comments():
    path = ME / "jpg/Kodak DC210.jpg"
    assert metadata_fields(jpeg_blocks(path))["comment"] == exiftool(path)["File:Comment"]
    assert metadata_fields(jpeg_blocks(ME / "jpg/Issue 614.jpg"))["comment"] == "Created with GIMP"


def test_comments_join_decode_and_cap():
    fields = metadata_fields([("comment", b"one\0\0 \n"), ("comment", b""), ("comment", b"   "),
                              ("comment", "dos é".encode()), ("comment", b"tr\xe9s \x80")])
    assert fields["comment"] == "one\ndos é\ntrés €"
    assert comment_text(bytes(range(32)) * 10) is None  # binary junk
    ten_mb = b"A" * 10_000_000
    assert bounded(lambda: comment_text(ten_mb, 100)) == "A" * 100 + "…truncated"
    many = [("comment", b"B" * 1000)] * 1000
    assert len(metadata_fields(many, cap=500)["comment"]) == 500 + len("…truncated")
    # A UTF-8 sequence split by the read limit is dropped, not turned into cp1252.
    assert comment_text("é".encode() * 10, 2) == "éé…truncated"


def test_user_comment():
    assert user_comment(b"ASCII\0\0\0Hello  \0\0") == "Hello"
    assert user_comment(b"UNICODE\0" + "Hé 日本".encode("utf-16-le")) == "Hé 日本"
    assert user_comment(b"UNICODE\0" + "Hello".encode("utf-16-be")) == "Hello"
    assert user_comment(b"UNICODE\0\xfe\xff" + "日本語".encode("utf-16-be")) == "日本語"
    assert user_comment(b"JIS\0\0\0\0\0" + "日本".encode("shift_jis")) == "日本"
    assert user_comment(b"\0" * 8 + b"plain") == "plain"
    assert user_comment(b"no header here") == "no header here"
    for blank in (b"ASCII\0\0\0" + b" " * 40, b"\0" * 64, b"UNICODE\0" + b"\0" * 20,
                  b"ASCII\0\0\0", b"", b"UNICODE\0\x20"):
        assert user_comment(blank) is None
    assert metadata_fields([("user_comment", b"ASCII\0\0\0" + b" " * 8),
                            ("user_comment", b"ASCII\0\0\0Hi")]) == {"user_comment": "Hi"}


def test_user_comment_garbage():
    rng = os.urandom(4096)
    for code in (b"ASCII\0\0\0", b"UNICODE\0", b"JIS\0\0\0\0\0", b"\0" * 8, b"JUNK1234"):
        for cut in (0, 1, 7, 100, 4096):
            out = user_comment(code + rng[:cut], cap=300)
            assert out is None or len(out) <= 300 + len("…truncated")
    huge = b"UNICODE\0" + b"A\0" * 5_000_000
    assert bounded(lambda: user_comment(huge, 100)) == "A" * 100 + "…truncated"


@pytest.mark.parametrize(("name", "code", "width"), [("Issue 173 (dotnet).jpg", b"UNICODE\0", 2),
                                                     ("Nikon E775.jpg", b"ASCII\0\0\0", 1)])
@pytest.mark.crawl  # runs exiftool, a program of the crawl layer
def test_real_user_comments_match_exiftool(name, code, width):
    path = ME / "jpg" / name
    expected = exiftool(path)["ExifIFD:UserComment"]
    data = path.read_bytes()
    start = data.index(code)
    raw = data[start:start + 8 + width * len(expected)]
    assert user_comment(raw) == expected
    if width == 2:  # big-endian in the file; the same text little-endian reads the same
        swapped = code + expected.encode("utf-16-le")
        assert user_comment(swapped) == expected
