"""ICC profiles: real v2/v4 profiles against ExifTool, prefixes, icc_needed, hostile tables."""

from __future__ import annotations

import struct
import time
import zlib

import pytest

from imgprint.metadata.blocks import icc_needed, metadata_fields
from imgprint.metadata.icc import (
    FIRST_GUESS,
    MAX_TAG_BYTES,
    iccp_profile,
    join_jpeg_chunks,
    parse_icc,
)
from tests.test_metadata_blocks import EX, ME, exiftool, jpeg_blocks, png_blocks, tiff_blocks
from tests.test_metadata_text import bounded, zlib_bomb

SAMPLES = [  # (path, blocks of) — v2 desc, v4 mluc, desc after the curves (Apple), iCCP
    (ME / "jpg/Photoshop (3).jpg", jpeg_blocks),
    (ME / "jpg/Issue 614.jpg", jpeg_blocks),
    (EX / "tiff/Tless0.tiff", tiff_blocks),
    (ME / "png/Issue 280 (dotnet).png", png_blocks),
    (EX / "jpg/orientation/landscape_3.jpg", jpeg_blocks),
]


def profile_of(path, finder) -> bytes:
    blocks = finder(path)
    jpeg = [b for k, b in blocks if k == "icc_jpeg"]
    if jpeg:
        return join_jpeg_chunks(jpeg)
    zipped = [b for k, b in blocks if k == "icc_zlib"]
    if zipped:
        name_end = zipped[0].index(b"\0")
        return zlib.decompress(zipped[0][name_end + 2:])
    return next(b for k, b in blocks if k == "icc")


@pytest.mark.crawl  # runs exiftool, a program of the crawl layer
@pytest.mark.parametrize(("path", "finder"), SAMPLES, ids=lambda p: getattr(p, "name", ""))
def test_real_profiles_match_exiftool(path, finder):
    icc = metadata_fields(finder(path))["icc"]
    oracle = exiftool(path)
    assert icc["description"] == oracle["ICC_Profile:ProfileDescription"]
    assert icc["version"] == oracle["ICC-header:ProfileVersion"]
    assert icc["color_space"] == oracle["ICC-header:ColorSpaceData"].strip()
    assert icc.get("copyright") == oracle.get("ICC_Profile:ProfileCopyright")
    assert icc["device_class"] == "mntr"


@pytest.mark.parametrize(("path", "finder"), SAMPLES, ids=lambda p: getattr(p, "name", ""))
def test_icc_needed_converges_to_the_full_answer(path, finder):
    profile = profile_of(path, finder)
    full = parse_icc(profile)
    held, asks = 0, 0
    while (want := icc_needed(profile[:held], len(profile))) is not None:
        assert held < want <= len(profile)
        held, asks = want, asks + 1
    assert asks <= 2
    assert {k: v for k, v in parse_icc(profile[:held]).items() if k != "copyright"} == {
        k: v for k, v in full.items() if k != "copyright"}
    for cut in range(0, len(profile), 7):  # any prefix: no exception, a subset of the answer
        part = parse_icc(profile[:cut])
        assert all(full[k] == v or k in ("description", "copyright") for k, v in part.items())


def test_icc_needed_edges():
    assert icc_needed(b"", 100_000) == FIRST_GUESS
    assert icc_needed(b"", 500) == 500
    assert icc_needed(b"x" * 200, 100_000) is None  # no acsp: not a profile
    header = bytearray(132)
    header[36:40] = b"acsp"
    header[128:132] = (1).to_bytes(4, "big")
    table = bytes(header) + b"desc" + struct.pack(">II", 10**9, 50)
    assert icc_needed(table, 10_000) is None  # desc past the end
    table = bytes(header) + b"desc" + struct.pack(">II", 200, 10**9)
    assert icc_needed(table, 10**10) == 200 + MAX_TAG_BYTES
    header[128:132] = (0xFFFFFFFF).to_bytes(4, "big")
    assert icc_needed(bytes(header), 10**10) == FIRST_GUESS  # table bounded to 200 entries


def hostile(count: int, entries: list[tuple[bytes, int, int]], tail: bytes = b"") -> bytes:
    header = bytearray(128)
    header[8:12] = b"\x04\x30\0\0"
    header[12:20] = b"mntrRGB "
    header[36:40] = b"acsp"
    table = count.to_bytes(4, "big") + b"".join(s + struct.pack(">II", o, n) for s, o, n in entries)
    return bytes(header) + table + tail


def test_hostile_tables():
    start = time.perf_counter()
    base = {"color_space": "RGB", "device_class": "mntr", "version": "4.3.0"}
    assert parse_icc(hostile(0xFFFFFFFF, [(b"desc", 2**32 - 1, 2**32 - 1)] * 10)) == base
    assert parse_icc(hostile(3, [(b"desc", 10**6, 10)])) == base
    mluc = b"mluc\0\0\0\0" + struct.pack(">II", 0xFFFFFFFF, 12) + b"enUS" + struct.pack(
        ">II", 10**9, 28) + "Wide".encode("utf-16-be")
    assert parse_icc(hostile(1, [(b"desc", 144, len(mluc))], mluc))["description"] == "Wide"
    mluc0 = mluc[:12] + struct.pack(">I", 0) + mluc[16:]  # record size 0
    assert "description" not in parse_icc(hostile(1, [(b"desc", 144, 100)], mluc0))
    desc = b"desc\0\0\0\0" + struct.pack(">I", 0xFFFFFFFF) + b"Long" * 10_000
    assert parse_icc(hostile(1, [(b"desc", 144, 0xFFFFFFFF)], desc), cap=10)["description"] == (
        "LongLongLo…truncated")
    assert parse_icc(b"\0" * 40 + b"acsp") == {}
    assert parse_icc(b"junk" * 100) == {}
    assert time.perf_counter() - start < 0.5


def test_jpeg_chunks_out_of_order_and_repeated():
    profile = profile_of(ME / "jpg/Photoshop (3).jpg", jpeg_blocks)
    parts = [profile[i:i + 1000] for i in range(0, len(profile), 1000)]
    chunks = [bytes([i + 1, len(parts)]) + p for i, p in enumerate(parts)]
    shuffled = chunks[::-1] + [bytes([1, len(parts)]) + b"dup"]
    assert join_jpeg_chunks(shuffled) == profile
    assert metadata_fields([("icc_jpeg", c) for c in shuffled])["icc"]["description"] == (
        "sRGB IEC61966-2.1")


def test_iccp_inflates_only_what_it_needs():
    profile = profile_of(EX / "tiff/Tless0.tiff", tiff_blocks)  # desc ends at 3,728 of 4,380
    chunk = b"ICC Profile\0\0" + zlib.compress(profile + b"\0" * 10_000_000)
    got = iccp_profile(chunk)
    assert len(got) <= FIRST_GUESS
    assert parse_icc(got)["description"] == "Color LCD"
    bomb = b"name\0\0" + zlib_bomb()
    assert bounded(lambda: metadata_fields([("icc_zlib", bomb)])) == {}
    for bad in (b"", b"\0\0" + zlib.compress(profile), b"n\0\x01" + zlib.compress(profile),
                b"n\0\0garbage"):
        assert iccp_profile(bad) == b""


def test_v2_desc_with_8bit_ascii_uses_its_unicode_twin():
    path = ME / "tif/ImageTestSuite/c16f4894de3142b98e8f3d8fc6b3d23e.tif"
    icc = metadata_fields(tiff_blocks(path))["icc"]
    assert icc["description"] == "sRGB IEC61966-2.1 (Profil RVB linéaire)"
    ascii_only = b"desc\0\0\0\0" + struct.pack(">I", 6) + b"caf\xe9\0\0" + struct.pack(">II", 0, 0)
    assert parse_icc(hostile(1, [(b"desc", 144, 40)], ascii_only))["description"] == "café"
