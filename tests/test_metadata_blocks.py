"""metadata_fields over real corpus files, with blocks cut out of them here.

The block finders below are deliberately tiny (no bounds, trusted corpus
files): they stand in for the containers engineer's parsers so the decoders
can be checked against ExifTool and metadata-extractor's dumps on real files.
"""

from __future__ import annotations

import json
import subprocess
import time
import zlib
from functools import cache
from pathlib import Path

import pytest

from imgprint.metadata.blocks import icc_needed, iptc_date, metadata_fields, xmp_date
from tests.conftest import CORPUS
from tests.helpers import require_crawl_marker

ME = CORPUS / "metadata-extractor"
EX = CORPUS / "exif-samples"
XMP_SIG = b"http://ns.adobe.com/xap/1.0/\0"
EXT_SIG = b"http://ns.adobe.com/xmp/extension/\0"


def jpeg_blocks(path: Path) -> list[tuple[str, bytes]]:
    """(kind, bytes) of the metadata segments before the first SOS."""
    data, pos, out = path.read_bytes(), 2, []
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker, size = data[pos + 1], int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == 0xDA:
            break
        body = data[pos + 4:pos + 2 + size]
        if marker == 0xE1 and body.startswith(XMP_SIG):
            out.append(("xmp", body[len(XMP_SIG):]))
        elif marker == 0xE1 and body.startswith(EXT_SIG):
            out.append(("xmp_extended", body[len(EXT_SIG):]))
        elif marker == 0xED and body.startswith(b"Photoshop 3.0\0"):
            out.append(("photoshop", body[14:]))
        elif marker == 0xE2 and body.startswith(b"ICC_PROFILE\0"):
            out.append(("icc_jpeg", body[12:]))
        elif marker == 0xFE:
            out.append(("comment", body))
        pos += 2 + size
    return out


PNG_KINDS = {b"tEXt": "png_text", b"zTXt": "png_ztxt", b"iTXt": "png_itxt",
             b"tIME": "png_time", b"iCCP": "icc_zlib"}


def png_blocks(path: Path) -> list[tuple[str, bytes]]:
    data, pos, out = path.read_bytes(), 8, []
    while pos + 8 <= len(data):
        size, kind = int.from_bytes(data[pos:pos + 4], "big"), data[pos + 4:pos + 8]
        if kind in PNG_KINDS:
            out.append((PNG_KINDS[kind], data[pos + 8:pos + 8 + size]))
        pos += 12 + size
    return out


def tiff_blocks(path: Path) -> list[tuple[str, bytes]]:
    """XMP (700), IPTC (33723), Photoshop (34377), ICC (34675) from IFD0."""
    data = path.read_bytes()
    order = "little" if data[:2] == b"II" else "big"

    def num(pos: int, width: int) -> int:
        return int.from_bytes(data[pos:pos + width], order)  # type: ignore[arg-type]

    kinds, sizes = {700: "xmp", 33723: "iptc", 34377: "photoshop", 34675: "icc"}, {1: 1, 2: 1,
                                                                                 3: 2, 4: 4, 7: 1}
    ifd, out = num(4, 4), []
    for i in range(num(ifd, 2)):
        entry = ifd + 2 + 12 * i
        tag, kind, count = num(entry, 2), num(entry + 2, 2), num(entry + 4, 4)
        if tag in kinds:
            length = count * sizes.get(kind, 1)
            start = entry + 8 if length <= 4 else num(entry + 8, 4)
            out.append((kinds[tag], data[start:start + length]))
    return out


def gif_blocks(path: Path) -> list[tuple[str, bytes]]:
    """XMP application extensions (raw up to the terminator: the packet's own bytes
    read as sub-block lengths, then the 258-byte magic trailer) and comments."""
    data, out = path.read_bytes(), []

    def sub_blocks(pos: int) -> tuple[int, bytes]:
        joined = bytearray()
        while pos < len(data) and data[pos]:
            joined += data[pos + 1:pos + 1 + data[pos]]
            pos += 1 + data[pos]
        return pos + 1, bytes(joined)

    flags = data[10]
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    while pos < len(data) and data[pos] in (0x21, 0x2C):
        if data[pos] == 0x2C:
            flags = data[pos + 9]
            pos = sub_blocks(pos + 11 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0))[0]
            continue
        label, start = data[pos + 1], pos + 2
        pos, joined = sub_blocks(start)
        if label == 0xFE:
            out.append(("comment", joined))
        elif label == 0xFF and data[start:start + 12] == b"\x0bXMP DataXMP":
            out.append(("xmp", data[start + 12:pos - 1]))
    return out


@cache
def exiftool(path: Path) -> dict:
    require_crawl_marker("exiftool")
    text = subprocess.run(["exiftool", "-j", "-struct", "-G1", str(path)], capture_output=True,
                          check=True).stdout
    return json.loads(text)[0]


@pytest.mark.crawl  # runs exiftool, a program of the crawl layer
def test_xmp_from_a_jpeg_matches_exiftool():
    path = EX / "jpg/xmp/no_exif.jpg"
    fields = metadata_fields(jpeg_blocks(path))
    oracle = exiftool(path)
    assert fields["has_xmp"] is True
    xmp = fields["xmp"]
    assert xmp["xmp:CreatorTool"] == oracle["XMP-xmp:CreatorTool"]
    assert xmp["xmp:CreateDate"] == "2013-09-23T10:09:46+02:00"
    assert xmp["xmpMM:DocumentID"] == oracle["XMP-xmpMM:DocumentID"]
    assert xmp["photoshop:DocumentAncestors"] == oracle["XMP-photoshop:DocumentAncestors"]


@pytest.mark.crawl  # runs exiftool, a program of the crawl layer
def test_iptc_and_icc_from_a_photoshop_jpeg_match_exiftool():
    path = ME / "jpg/Photoshop (3).jpg"
    fields = metadata_fields(jpeg_blocks(path))
    oracle = exiftool(path)
    iptc = fields["iptc"]
    assert iptc["CodedCharacterSet"] == "UTF8"
    assert iptc["Keywords"] == oracle["IPTC:Keywords"] == ["test keyword 1", "test keyword 2"]
    for name in ("Caption-Abstract", "ObjectName", "CopyrightNotice"):
        assert iptc[name] == oracle[f"IPTC:{name}"]
    assert iptc["By-line"] == [oracle["IPTC:By-line"]]  # a list even with one item
    assert iptc["ApplicationRecordVersion"] == "2"
    assert fields["icc"] == {"description": "sRGB IEC61966-2.1", "color_space": "RGB",
                             "version": "2.1.0", "device_class": "mntr",
                             "copyright": "Copyright (c) 1998 Hewlett-Packard Company"}


@pytest.mark.crawl  # runs exiftool, a program of the crawl layer
def test_latin1_iptc_and_two_irb_blocks():
    path = ME / "jpg/Nikon E995 (iptc).jpg"
    iptc = metadata_fields(jpeg_blocks(path))["iptc"]
    assert iptc["Caption-Abstract"] == exiftool(path)["IPTC:Caption-Abstract"]
    assert "Dateigröße" in iptc["Caption-Abstract"]  # not UTF-8 in the file: cp1252


def test_extended_xmp_is_reassembled_and_merged():
    path = ME / "jpg/Android Depth Map.jpg"
    blocks = jpeg_blocks(path)
    assert sum(kind == "xmp_extended" for kind, _ in blocks) > 1
    xmp = metadata_fields(blocks, cap=100)["xmp"]
    guid = xmp["xmpNote:HasExtendedXMP"]
    assert len(guid) == 32
    # The depth map lives in the extended packet only.
    assert any(key.startswith("GDepth:") for key in xmp)
    assert xmp["GDepth:Data"].endswith("…truncated")


@pytest.mark.crawl  # runs exiftool, a program of the crawl layer
def test_png_xmp_raw_iptc_and_iccp():
    path = ME / "png/Issue 280 (dotnet).png"
    fields = metadata_fields(png_blocks(path))
    oracle = exiftool(path)
    assert fields["has_xmp"] is True
    assert fields["xmp"]["exif:UserComment"] == oracle["XMP-exif:UserComment"]
    assert fields["xmp"]["exif:PixelXDimension"] == str(oracle["XMP-exif:ExifImageWidth"])
    assert "png_text" not in fields  # the only text chunk is a raw IPTC profile
    version = str(oracle["IPTC:ApplicationRecordVersion"])
    assert fields["iptc"] == {"Keywords": [oracle["IPTC:Keywords"]],
                              "ApplicationRecordVersion": version}
    assert fields["icc"]["description"] == oracle["ICC_Profile:ProfileDescription"] == "Display"


@pytest.mark.crawl  # runs exiftool, a program of the crawl layer
def test_gif_xmp_with_magic_trailer_a_second_packet_and_a_comment():
    path = ME / "gif/Issue 201.gif"
    fields = metadata_fields(gif_blocks(path))
    oracle = exiftool(path)
    assert fields == {"has_xmp": True, "xmp": {"dc:subject": oracle["XMP-dc:Subject"]},
                      "comment": oracle["File:Comment"]}


def test_nothing_in_nothing_out():
    assert metadata_fields([]) == {}
    assert metadata_fields([("unknown", b"x"), ("exif", b"II*\0")]) == {}
    assert metadata_fields([("xmp", b""), ("xmp_extended", b"")]) == {"has_xmp": True}
    assert metadata_fields([("png_itxt", b"XML:com.adobe.xmp\0garbage")]) == {"has_xmp": True}
    for kind in ("photoshop", "iptc", "icc", "icc_jpeg", "icc_zlib", "png_text", "png_ztxt",
                 "png_itxt", "png_time", "comment", "user_comment"):
        assert metadata_fields([(kind, b"")]) == {}


CUT_SAMPLES = [
    (EX / "jpg/xmp/no_exif.jpg", jpeg_blocks), (ME / "jpg/Photoshop (3).jpg", jpeg_blocks),
    (ME / "jpg/Issue 258 (dotnet).jpg", jpeg_blocks), (ME / "jpg/Issue 614.jpg", jpeg_blocks),
    (ME / "png/Issue 280 (dotnet).png", png_blocks), (ME / "png/PngSuite/cthn0g04.png", png_blocks),
    (ME / "gif/Issue 201.gif", gif_blocks),
    (ME / "tif/ImageTestSuite/221209eb0a273029efa18f4c61f6628a.tif", tiff_blocks),
]


@pytest.mark.parametrize(("path", "finder"), CUT_SAMPLES, ids=lambda p: getattr(p, "name", ""))
def test_every_block_cut_at_sampled_points(path, finder):
    """Each block cut at ~60 points (all of its first 64 bytes, then spread out):
    no exception, a dict, and a bounded time for all cuts together."""
    blocks = finder(path)
    whole = metadata_fields(blocks)
    start = time.perf_counter()
    for i, (kind, data) in enumerate(blocks):
        spread = range(0, len(data), 1 + len(data) // 60)
        cuts = sorted(set(range(min(64, len(data)))) | set(spread))
        for cut in cuts:
            cut_blocks = blocks[:i] + [(kind, data[:cut])] + blocks[i + 1:]
            fields = metadata_fields(cut_blocks)
            assert set(fields) <= set(whole) | {"png_text"}
    assert time.perf_counter() - start < 3


def test_corpus_blocks_of_fuzzed_files_do_not_raise():
    """Every fuzzed/broken/mutated file's blocks, as far as the tiny finders can cut them."""
    finders = {b"\xff\xd8": jpeg_blocks, b"\x89P": png_blocks, b"GI": gif_blocks,
               b"II": tiff_blocks, b"MM": tiff_blocks}
    start = time.perf_counter()
    seen = 0
    paths = [*(ME / "fuzzing").iterdir(), *ME.glob("*/ImageTestSuite/*")]
    for path in sorted(paths):
        finder = finders.get(path.read_bytes()[:2]) if path.is_file() else None
        try:
            blocks = finder(path) if finder else []
        except (IndexError, ValueError, OverflowError):
            continue  # the test's finder is not hardened; the decoders are what is tested
        seen += bool(blocks)
        assert isinstance(metadata_fields(blocks), dict)
    assert seen >= 100
    assert time.perf_counter() - start < 5


def test_dates_for_taken_at():
    xmp = metadata_fields(jpeg_blocks(EX / "jpg/xmp/no_exif.jpg"))["xmp"]
    assert xmp_date(xmp) is None  # only xmp:CreateDate there, not a capture-time property
    assert xmp_date({"photoshop:DateCreated": xmp["xmp:CreateDate"]}) == (
        "2013-09-23T10:09:46+02:00", "photoshop:DateCreated")
    iptc = metadata_fields(jpeg_blocks(ME / "jpg/Issue 258 (dotnet).jpg"))["iptc"]
    assert iptc_date(iptc) == "2019-10-16T19:01:00+00:00"


def test_icc_needed_is_exported():
    assert icc_needed(b"", 10) == 10


def test_many_blocks_are_bounded():
    start = time.perf_counter()
    blocks = ([("photoshop", b"8BIM\x04\x04\0\0\0\0\0\0")] * 3000
              + [("comment", b"c")] * 3000 + [("xmp", b"<x/>")] * 3000 + [("iptc", b"")] * 3000)
    assert metadata_fields(blocks, cap=100) == {"has_xmp": True,
                                                "comment": "c\n" * 50 + "…truncated"}
    assert time.perf_counter() - start < 1


def test_costly_blocks_are_bounded_per_image():
    iim = b"".join(b"\x1c\x02\x19\x00\x01" + bytes([65 + i % 26]) for i in range(1000))
    irb = (b"8BIM\x04\x04\0\0" + len(iim).to_bytes(4, "big") + iim) * 1000
    bomb = zlib.compressobj(9)
    xmp_bomb = bomb.compress(b" " * (3 << 20)) + bomb.flush()
    blocks = ([("iptc", iim)] * 3000 + [("photoshop", irb)]
              + [("png_ztxt", b"XML:com.adobe.xmp\0\0" + xmp_bomb)] * 3000
              + [("png_ztxt", b"Raw profile type iptc\0\0" + xmp_bomb)] * 3000)
    start = time.perf_counter()
    fields = metadata_fields(blocks)
    assert len(fields["iptc"]["Keywords"]) == 200 and fields["has_xmp"] is True
    assert time.perf_counter() - start < 1.5
