"""content_sha256: per-format coded-data spans, stable under metadata edits."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from imgprint import formats
from imgprint.formats import Spans, jpeg
from tests.helpers import EX, ME, whole
from tests.helpers import crawled as crawler_spans

K = 4096



@pytest.fixture(autouse=True)
def strict(monkeypatch):
    monkeypatch.setattr(formats, "STRICT", True)


def chash(data: bytes, k: int = K) -> str | None:
    return formats.content_hash(whole(data), k)


def crawled(data: bytes, rounds: int = 2, budget: int = 262144) -> Spans:
    """The first 10,241 bytes and the follow-ups the crawler's own loop makes."""
    return crawler_spans(data, followups=rounds, budget=budget, content_bytes=K)


def exiftool(path: Path, *args: str) -> bytes:
    subprocess.run(["exiftool", "-q", "-m", "-overwrite_original", *args, str(path)],
                   check=True, capture_output=True)
    return path.read_bytes()


# --- JPEG ---------------------------------------------------------------------

JPEGS = [EX / "jpg/Canon_40D.jpg", EX / "jpg/gps/DSCN0010.jpg", ME / "jpg/Nikon D60.jpg",
         EX / "jpg/Konica_Minolta_DiMAGE_Z3.jpg"]


def segments(data: bytes) -> tuple[list[bytes], bytes]:
    """Marker segments before SOS, and everything from SOS on."""
    segs, _ = jpeg.walk(whole(data))
    out = [data[pos : pos + 2 + length] for marker, pos, length in segs[:-1]]
    return out, data[segs[-1][1] :]


@pytest.mark.parametrize("path", JPEGS, ids=lambda p: p.name)
def test_jpeg_stable_under_app_surgery(path):
    data = path.read_bytes()
    ref = chash(data)
    assert ref is not None and len(ref) == 64
    segs, rest = segments(data)
    app = [s for s in segs if 0xE0 <= s[1] <= 0xEF or s[1] == 0xFE]
    other = [s for s in segs if s not in app]
    stripped = b"\xff\xd8" + b"".join(other) + rest
    reordered = b"\xff\xd8" + b"".join(app[::-1]) + b"\xff\xfe\x00\x07hello" + b"".join(
        other) + rest
    assert chash(stripped) == ref
    assert chash(reordered) == ref
    # Interleaving APPn between the tables does not matter either.
    interleaved = b"\xff\xd8" + b"".join(x for pair in zip(other, app + [b""] * len(other),
                                                             strict=False) for x in pair) + rest
    assert chash(interleaved) == ref
    # A different encoding of the same pixels is a different content hash.
    with Image.open(io.BytesIO(data)) as im:
        out = io.BytesIO()
        im.convert("RGB").save(out, "JPEG", quality=70)
    assert chash(out.getvalue()) not in (None, ref)


@pytest.mark.parametrize("path", JPEGS, ids=lambda p: p.name)
def test_jpeg_crawl_gets_the_same_hash(path):
    data = path.read_bytes()
    assert formats.content_hash(crawled(data), K) == chash(data)


def test_jpeg_spans_are_the_coded_segments():
    data = (EX / "jpg/gps/DSCN0010.jpg").read_bytes()
    spans = formats.content_spans(whole(data), K)
    markers = [data[s + 1] for s, _ in spans[:-1]]
    assert set(markers) <= jpeg.CODED_MARKERS and 0xDA == markers[-1]
    assert not any(0xE0 <= m <= 0xEF for m in markers)
    start, end = spans[-1]
    assert end - start == K
    assert formats.content_hash(whole(data), 8192) != chash(data)


@pytest.mark.crawl  # runs exiftool, a program of the crawl layer
@pytest.mark.parametrize("path", JPEGS[:2], ids=lambda p: p.name)
def test_jpeg_stable_under_exiftool(path, tmp_path):
    ref = chash(path.read_bytes())
    for i, args in enumerate((["-AllDates+=1:0:0 0", "-Artist=x"],
                              ["-GPSLatitude=48.85", "-GPSLatitudeRef=N", "-XMP:Title=t"],
                              ["-all="])):
        copy = tmp_path / f"{i}.jpg"
        shutil.copyfile(path, copy)
        edited = exiftool(copy, *args)
        assert edited != path.read_bytes()
        assert chash(edited) == ref, args


def test_jpeg_unknown_until_sos_is_held():
    data = (ME / "jpg/Nikon D60.jpg").read_bytes()
    spans = Spans(len(data))
    spans.add(0, data[:4096])
    assert formats.content_spans(spans, K) is None
    assert formats.content_hash(spans, K) is None
    assert formats.wanted(spans, K)  # a window at the segment the walk stopped at


# --- PNG ----------------------------------------------------------------------


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    out, pos = [], 8
    while pos < len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        out.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def png_build(chunks: list[tuple[bytes, bytes]]) -> bytes:
    import zlib
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d)) for t, d in chunks)


def test_png_stable_under_chunk_surgery():
    data = (ME / "png/sampleWithExifData.png").read_bytes()
    ref = chash(data)
    assert ref is not None
    chunks = png_chunks(data)
    assert any(t == b"eXIf" for t, _ in chunks)
    core = [(t, d) for t, d in chunks if t in (b"IHDR", b"PLTE", b"IDAT", b"IEND")]
    assert chash(png_build(core)) == ref
    # Re-chunked image data and extra text chunks before it.
    idat = b"".join(d for t, d in core if t == b"IDAT")
    rechunked = [c for c in core if c[0] in (b"IHDR", b"PLTE")]
    rechunked += [(b"tEXt", b"Comment\0hi"), (b"tIME", b"\x07\xe8\x01\x01\0\0\0")]
    rechunked += [(b"IDAT", idat[i : i + 1000]) for i in range(0, len(idat), 1000)]
    rechunked.append((b"IEND", b""))
    assert chash(png_build(rechunked)) == ref
    assert formats.content_hash(crawled(data), K) == ref


# --- WebP ---------------------------------------------------------------------


def test_webp_stable_when_exif_chunk_removed():
    data = (ME / "webp/Nikon D1X.webp").read_bytes()
    ref = chash(data)
    assert ref is not None
    pos, kept = 12, []
    while pos + 8 <= len(data):
        size = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        chunk = data[pos : pos + 8 + size + (size & 1)]
        if chunk[:4] not in (b"EXIF", b"XMP "):
            if chunk[:4] == b"VP8X":
                chunk = chunk[:8] + bytes([chunk[8] & ~0x0C]) + chunk[9:]
            kept.append(chunk)
        pos += 8 + size + (size & 1)
    body = b"WEBP" + b"".join(kept)
    stripped = b"RIFF" + struct.pack("<I", len(body)) + body
    assert stripped != data
    assert chash(stripped) == ref
    for name in ("webpvp8.webp", "webpvp8l.webp", "Animation Lossless.webp"):
        assert chash((ME / "webp" / name).read_bytes()) is not None, name


# --- TIFF and HEIF --------------------------------------------------------------


@pytest.mark.crawl  # runs exiftool, a program of the crawl layer
def test_tiff_stable_under_exiftool(tmp_path):
    path = EX / "tiff/Arbitro.tiff"
    ref = chash(path.read_bytes())
    assert ref is not None
    copy = tmp_path / "t.tiff"
    shutil.copyfile(path, copy)
    edited = exiftool(copy, "-Artist=somebody else", "-XMP:Title=moved strips")
    assert edited != path.read_bytes()
    assert chash(edited) == ref


def test_heif_primary_item():
    for path in (ME / "heic/exif-at-eof.heic", EX / "heic/IMG_5195.HEIC",
                 ME / "avif/32Bit-72dpi-sRGB-800x600.avif"):
        data = path.read_bytes()
        spans = formats.content_spans(whole(data), K)
        # K bytes, or the whole item when it is smaller.
        assert spans and 0 < sum(e - s for s, e in spans) <= K, path.name
        assert formats.content_hash(crawled(data), K) == chash(data), path.name


@pytest.mark.crawl  # runs exiftool, a program of the crawl layer
def test_heic_stable_under_exiftool(tmp_path):
    path = ME / "heic/exif-at-eof.heic"
    copy = tmp_path / "h.heic"
    shutil.copyfile(path, copy)
    edited = exiftool(copy, "-Artist=x", "-GPSLatitude=1", "-GPSLatitudeRef=N")
    assert edited != path.read_bytes()
    assert chash(edited) == chash(path.read_bytes())


# --- what the hash costs on the wire ------------------------------------------


def app_chain_jpeg(segments: int, size: int = 60_000) -> bytes:
    """A real JPEG with `segments` APP4 segments of `size` bytes after its Exif:
    the scan sits behind a run of segment headers, one hop each."""
    out = io.BytesIO()
    Image.open(EX / "jpg/Canon_40D.jpg").convert("RGB").resize((64, 48)).save(out, "JPEG")
    data = out.getvalue()
    apps = b"".join(b"\xff\xe4" + struct.pack(">H", size) + bytes(size - 2)
                    for _ in range(segments))
    return data[:2] + apps + data[2:]


def test_jpeg_hash_behind_a_segment_run_uses_the_hash_follow_ups():
    from tests.helpers import crawled_result

    data = app_chain_jpeg(3)
    expected = chash(data)
    # 2 follow-ups reach the third segment header; the hash's own follow-ups
    # (IMGPRINT_HASH_FOLLOWUPS) fetch the tables and the first K bytes exactly.
    # (Without the perceptual hash's top band, whose window guessed past the
    # segments would take them in: tests/test_phash_fetch.py.)
    spans, result = crawled_result(data, followups=2, content_bytes=K, hash_followups=2,
                                   band=0.0)
    assert formats.content_hash(spans, K) == expected
    assert result.requests <= 4
    # Hops and the hash inputs only: no window the size of the segments.
    assert result.bytes < 3 * 8192 + 2 * K
    # None of them without the metadata's own: IMGPRINT_FOLLOWUPS=0 means no follow-up.
    spans, result = crawled_result(data, followups=0, content_bytes=K, hash_followups=2)
    assert result.requests == 0
    # Without hash follow-ups, the metadata's budget ends the walk first.
    spans, _ = crawled_result(data, followups=2, content_bytes=K, hash_followups=0, band=0.0)
    assert formats.content_hash(spans, K) is None


def test_next_fetch_takes_a_wanted_span_just_before_the_metadata():
    # The Exif segment (and its thumbnail) runs past the prefix to 14501, where
    # the segment walk must hop on: one request for both.
    data = (ME / "jpg/HP PhotoSmart C812.jpg").read_bytes()
    spans = Spans(len(data))
    spans.add(0, data[:10241])
    assert formats.needed(spans)[0][0] == 14501
    thumb = formats.thumbnail_span(spans, 65536)
    assert thumb is not None and thumb[0] < 10241 < thumb[1] <= 14501
    assert formats.next_fetch(spans, 262144, K, 65536, 0) == (10241, 14501 + 2048 + K)
