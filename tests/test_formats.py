"""Unit tests for imgprint.formats over real corpus files and hand-made bytes."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import exifread
import pytest

from imgprint import formats
from imgprint.formats import (
    FormatError,
    Spans,
    exif_tags,
    facts,
    jpeg,
    needed,
    next_fetch,
    png,
    sniff,
)

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
ME = CORPUS / "metadata-extractor"
PREFIX = 10_241

logging.getLogger("exifread").setLevel(logging.CRITICAL)


@pytest.fixture(autouse=True)
def strict(monkeypatch):
    monkeypatch.setattr(formats, "STRICT", True)


def crawl(data: bytes, rounds: int = 2, budget: int = 256 * 1024) -> tuple[Spans, list]:
    """What the crawler does: the prefix, then up to `rounds` follow-up ranges."""
    spans = Spans(len(data))
    spans.add(0, data[:PREFIX])
    asked = []
    for _ in range(rounds):
        rng = next_fetch(spans, budget)
        if rng is None:
            break
        assert 0 <= rng[0] < rng[1] <= len(data)
        asked.append(rng)
        spans.add(rng[0], data[rng[0] : rng[1]])
        budget -= rng[1] - rng[0]
    return spans, asked


def whole_file_tags(path: Path) -> dict[str, str]:
    with path.open("rb") as fh:
        tags = exifread.process_file(fh, details=False)
    return {k: str(v) for k, v in tags.items()
            if k not in ("JPEGThumbnail", "TIFFThumbnail") and not isinstance(v, bytes)}


# --- Spans --------------------------------------------------------------------


def test_spans_merge_and_query():
    s = Spans(100)
    s.add(10, b"a" * 10)
    s.add(30, b"b" * 10)
    assert s.held() == 20
    assert s.has(10, 20) and not s.has(10, 21)
    assert s.get(12, 15) == b"aaa" and s.get(15, 35) is None
    assert s.missing(0, 50) == [(0, 10), (20, 30), (40, 50)]
    s.add(15, b"c" * 20)  # bridges both
    assert s.ranges() == [(10, 40)]
    assert s.get(10, 40) == b"a" * 5 + b"c" * 20 + b"b" * 5
    assert s.missing(0, 200) == [(0, 10), (40, 100)]


def test_spans_clip_to_size_and_reader_zero_fills():
    s = Spans(8)
    s.add(6, b"xyz")  # runs past the end: clipped
    s.add(0, b"ab")
    assert s.held() == 4
    r = s.reader()
    assert r.read() == b"ab\0\0\0\0xy"
    r.seek(-2, io.SEEK_END)
    assert r.read(5) == b"xy" and r.tell() == 8
    assert s.reader(6).read() == b"xy"


def test_spans_unknown_size():
    s = Spans()
    s.add(4, b"zz")
    assert s.extent() == 6 and s.reader().read() == b"\0\0\0\0zz"
    assert s.missing(0, 8) == [(0, 4), (6, 8)]


# --- sniff ----------------------------------------------------------------------


@pytest.mark.parametrize("head,fmt", [
    (b"\xff\xd8\xff\xe0", "jpeg"), (png.SIGNATURE, "png"), (b"GIF89a", "gif"),
    (b"RIFF\0\0\0\0WEBPVP8 ", "webp"), (b"II*\0", "tiff"), (b"MM\0*", "tiff"),
    (b"\0\0\0\x18ftypheic\0\0\0\0", "heif"), (b"\0\0\0\x1cftypavif\0\0\0\0", "avif"),
    (b"\0\0\0\x1cftypmif1\0\0\0\0mif1avif", "avif"), (b"hello", None), (b"", None),
])
def test_sniff(head, fmt):
    assert sniff(head) == fmt


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    """An `ftyp` box (minor version 0) and nothing after it."""
    return (8 + 8 + 4 * len(compatible)).to_bytes(4, "big") + b"ftyp" + major + bytes(4) + b"".join(
        compatible)


@pytest.mark.parametrize("head,fmt", [
    pytest.param(ftyp(b"miaf", b"avif"), "avif", id="miaf+avif"),  # was recorded as "heif"
    pytest.param(ftyp(b"miaf", b"miaf", b"avif", b"mif1"), "avif", id="miaf+miaf,avif,mif1"),
    pytest.param(ftyp(b"mif1", b"avis"), "avif", id="mif1+avis"),
    pytest.param(ftyp(b"msf1", b"avis", b"msf1"), "avif", id="msf1+avis,msf1"),
    pytest.param(ftyp(b"avif", b"mif1", b"miaf"), "avif", id="avif+mif1,miaf"),
    pytest.param(ftyp(b"mif1", b"mif1", b"avif"), "avif", id="mif1+mif1,avif"),
    pytest.param(ftyp(b"heic", b"mif1", b"avif"), "heif", id="heic+mif1,avif"),  # HEVC major
    pytest.param(ftyp(b"mif1", b"mif1", b"heic"), "heif", id="mif1+mif1,heic"),
    pytest.param(ftyp(b"isom", b"mif1", b"avif"), "heif", id="isom+mif1,avif"),
])
def test_sniff_and_facts_agree_on_the_brand(head, fmt):
    """One brand table names the format for dispatch and for the record."""
    spans = Spans(len(head))
    spans.add(0, head)
    assert sniff(head) == fmt
    assert facts(spans)["format"] == fmt


# --- JPEG -----------------------------------------------------------------------


def test_jpeg_quality_matches_imagemagick_tables():
    # libjpeg's standard tables scaled to quality 75 give ImageMagick's "75".
    lum = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40,
           57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35,
           55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112,
           100, 103, 99]
    chrom = [17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99,
             99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32

    def scale(t, q):
        f = 5000 // q if q < 50 else 200 - 2 * q
        return [min(255, max(1, (v * f + 50) // 100)) for v in t]

    for q in (50, 75, 90, 95):
        assert jpeg.quality({0: scale(lum, q), 1: scale(chrom, q)}) == q


def test_jpeg_exif_past_prefix_konica():
    path = CORPUS / "exif-samples/jpg/Konica_Minolta_DiMAGE_Z3.jpg"
    data = path.read_bytes()
    spans, asked = crawl(data)
    assert 1 <= len(asked) <= 2
    assert exif_tags(spans) == whole_file_tags(path)
    f = facts(spans)
    assert (f["width"], f["height"]) == (100, 75) or f["width"] > 0


def test_jpeg_87_oserror_two_rounds_and_facts():
    path = CORPUS / "exif-samples/jpg/tests/87_OSError.jpg"
    data = path.read_bytes()
    spans, asked = crawl(data)
    assert len(asked) <= 2
    assert all(e <= 40_000 for _, e in asked)  # never the pixels
    assert exif_tags(spans) == whole_file_tags(path)
    from PIL import Image

    with Image.open(path) as im:
        size = im.size
        progressive = bool(im.info.get("progressive"))
    f = facts(spans)
    assert (f["width"], f["height"]) == size
    assert f["progressive"] is progressive and f["has_xmp"] is True
    assert f["quality"] == 95 and f["format"] == "jpeg"


def test_jpeg_no_followup_when_prefix_has_everything():
    data = (CORPUS / "exif-samples/jpg/Canon_40D.jpg").read_bytes()
    spans, asked = crawl(data)
    assert asked == [] and needed(spans) == []
    assert exif_tags(spans)["Image Make"] == "Canon"


# --- TIFF -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["exif-samples/tiff/Tless0.tiff",
                                  "metadata-extractor/tif/ImageTestSuite/d664a73588796b59191ad8628065f04a.tif"])
def test_tiff_ifds_past_prefix(name):
    path = CORPUS / name
    spans, asked = crawl(path.read_bytes())
    assert 1 <= len(asked) <= 2
    assert exif_tags(spans) == whole_file_tags(path)
    from PIL import Image

    with Image.open(path) as im:
        assert (facts(spans)["width"], facts(spans)["height"]) == im.size


# --- PNG / WebP / HEIF ------------------------------------------------------------


def test_png_exif_after_idat():
    path = ME / "png/sampleWithExifData.png"
    data = path.read_bytes()
    spans, asked = crawl(data)
    assert asked == [(11644, len(data))]
    assert exif_tags(spans) == whole_file_tags(path)
    f = facts(spans)
    assert (f["width"], f["height"], f["has_xmp"]) == (256, 256, False)


def test_png_facts_pngsuite():
    f = facts(crawl((ME / "png/PngSuite/tbrn2c08.png").read_bytes())[0])
    assert f["has_transparency"] is True and f["bit_depth"] == 8
    f = facts(crawl((ME / "png/PngSuite/basn6a16.png").read_bytes())[0])
    assert f["has_transparency"] is True and f["bit_depth"] == 16


def test_webp_exif_at_end():
    data = (ME / "webp/Nikon D1X.webp").read_bytes()
    spans, asked = crawl(data)
    assert len(asked) == 1 and asked[0][1] == len(data)
    assert exif_tags(spans)["Image Make"] == "NIKON CORPORATION"
    assert (facts(spans)["width"], facts(spans)["height"]) == (600, 391)


def test_heic_exif_at_eof():
    path = ME / "heic/exif-at-eof.heic"
    data = path.read_bytes()
    spans, asked = crawl(data)
    assert len(asked) == 1 and asked[0][1] == len(data)
    assert exif_tags(spans) == whole_file_tags(path)
    f = facts(spans)
    assert f["format"] == "heif" and f["has_color_profile"] and f["has_xmp"]
    # ispe of the primary (grid) item, before irot; EXIF has the sensor's order.
    tags = exif_tags(spans)
    assert {str(f["width"]), str(f["height"])} == {tags["EXIF ExifImageWidth"],
                                                   tags["EXIF ExifImageLength"]}


def test_avif_facts():
    f = facts(crawl((ME / "avif/32Bit-72dpi-sRGB-800x600.avif").read_bytes())[0])
    assert (f["format"], f["width"], f["height"]) == ("avif", 800, 600)


def test_gif_facts_against_pillow():
    from PIL import Image

    for path in sorted((ME / "gif").rglob("*.gif")):
        data = path.read_bytes()
        if sniff(data) != "gif":
            continue
        spans, asked = crawl(data)
        assert asked == []
        with Image.open(path) as im:
            f = facts(spans)
            assert (f["width"], f["height"]) == im.size, path


# --- budgets and bounds -----------------------------------------------------------


def test_next_fetch_respects_budget():
    s = Spans(1_000_000)
    s.add(0, b"\xff\xd8\xff\xe1\xff\xf0Exif\0\0II*\0\x08\0\0\0")
    rng = next_fetch(s, 10**9)
    assert rng is not None
    assert next_fetch(s, 0) is None
    assert next_fetch(s, rng[1] - rng[0]) == rng


def test_lying_lengths_stay_inside_file():
    s = Spans(5000)
    # APP1 claims 65 KB in a 5 KB file; TIFF points to IFD at 4 GB.
    s.add(0, b"\xff\xd8\xff\xe1\xff\xffExif\0\0MM\0*\xff\xff\xff\xf0" + b"\0" * 100)
    for start, end in needed(s):
        assert 0 <= start < end <= 5000
    exif_tags(s)  # no exception


def test_fuzzing_corpus_survives():
    """Every fuzzed/broken file: bounded fetches, no exception but FormatError."""
    files = sorted(p for p in (ME / "fuzzing").iterdir() if p.is_file())
    assert files
    for path in files:
        data = path.read_bytes()
        spans, asked = crawl(data)
        for start, end in asked:
            assert 0 <= start < end <= len(data)
        try:
            exif_tags(spans)
        except FormatError:
            pass
        assert isinstance(facts(spans), dict)
