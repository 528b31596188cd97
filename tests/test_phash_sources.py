"""The perceptual hash's sources compare with each other: the whole file, the
progressive first scan, the EXIF thumbnail and the top band decoded from the
first coded bytes of a baseline JPEG, a PNG or a WebP, over real corpus photos
and copies Pillow makes of them; and every source is decoded within its caps."""

from __future__ import annotations

import io
import itertools
import struct
import zlib
from dataclasses import replace

import pytest
from PIL import Image

from imgprint import formats
from imgprint.fingerprint import decode, sources
from imgprint.fingerprint.limits import BAND_MARGIN, MAX_THUMBNAIL_BYTES, Limits
from imgprint.fingerprint.phash import hashes, perceptual_fields
from imgprint.formats import Spans
from imgprint.formats.picture import band_data, band_want
from tests.helpers import EX, ME, PREFIX, whole

LIMITS = Limits(scan_bytes=65536, band=0.25, band_bytes=1 << 20)
#: Band hashes of copies of one picture from any two sources (bench/fingerprint_eval.py).
BAND_DISTANCE = 8
#: The same for an EXIF thumbnail's band, over these photos.
THUMBNAIL_DISTANCE = 12
#: Photos with an EXIF thumbnail, at least 256 px a side.
PHOTOS = [EX / "jpg/gps/DSCN0010.jpg", EX / "jpg/exif-org/nikon-e950.jpg",
          EX / "jpg/tests/45-gps_ifd.jpg", ME / "jpg/Canon PowerShot A40.jpg"]


def held(data: bytes, limits: Limits = LIMITS) -> Spans:
    """What the crawler holds: the prefix, what the planner asks for the content
    hash, the thumbnail and the first scan, then the band's estimate."""
    spans = Spans(len(data))
    spans.add(0, data[:PREFIX])
    for _ in range(8):
        want = formats.wanted(spans, 4096, MAX_THUMBNAIL_BYTES, limits.scan_bytes)
        if not want:
            break
        for start, end in want:
            spans.add(start, data[start:end])
    want_band = band_want(spans, limits.band * BAND_MARGIN, limits.band_bytes)
    if want_band is not None:
        spans.add(want_band[0], data[want_band[0]:want_band[1]])
    return spans


def copies(path) -> dict[str, bytes]:
    data = path.read_bytes()
    with Image.open(path) as im:
        rgb = im.convert("RGB")
    w, h = rgb.size
    small = rgb.resize((w // 6, h // 6), Image.Resampling.LANCZOS)

    def save(image: Image.Image, fmt: str, **kw) -> bytes:
        out = io.BytesIO()
        image.save(out, fmt, **kw)
        return out.getvalue()

    return {"original": data, "q70": save(rgb, "JPEG", quality=70),
            "progressive": save(rgb, "JPEG", quality=75, progressive=True),
            "small": save(small, "JPEG", quality=60), "png": save(rgb, "PNG"),
            "webp": save(rgb, "WEBP", quality=80)}


def every_source(data: bytes) -> dict[str, dict]:
    """The hashes of every source held of `data`, each decoded on its own."""
    spans = held(data)
    out = {}
    for source in sources.SOURCES:
        try:
            picture = source(spans, LIMITS)
        except decode.DecodeRefused:
            continue
        if picture is not None:
            out[picture.source] = hashes(picture, LIMITS.band)
    return out


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


@pytest.mark.parametrize("path", PHOTOS, ids=lambda p: p.name)
def test_band_hashes_compare_between_every_pair_of_sources(path):
    found = {kind: every_source(data) for kind, data in copies(path).items()}
    # Each kind of copy offers the sources it should.
    assert "exif_thumbnail" in found["original"] and "top_band" in found["original"]
    assert set(found["q70"]) == {"top_band"}
    assert set(found["progressive"]) == {"progressive_scan"}
    assert "whole_file" in found["small"]  # under the prefix size
    assert set(found["png"]) == {"top_band"} and set(found["webp"]) == {"top_band"}
    bands = [(kind, source, h["phash_band"]) for kind, by in found.items()
             for source, h in by.items()]
    pairs = {(s1, s2) for (_, s1, _), (_, s2, _) in itertools.combinations(bands, 2)}
    assert {("exif_thumbnail", "top_band"), ("top_band", "progressive_scan"),
            ("exif_thumbnail", "progressive_scan"), ("top_band", "whole_file")} <= pairs
    for (k1, s1, h1), (k2, s2, h2) in itertools.combinations(bands, 2):
        assert h1 and h2
        # The thumbnail is a picture of its own (the camera's, smaller, often
        # cropped or letterboxed): over the corpus its band is within 8 bits of
        # the file's own band for 81 % of pairs only, so the crawler takes the
        # band from the first rows instead (bench/fingerprint_eval.py).
        limit = THUMBNAIL_DISTANCE if "exif_thumbnail" in (s1, s2) else BAND_DISTANCE
        assert distance(h1, h2) <= limit, (k1, s1, k2, s2)
    # The whole-picture hash compares between the sources that show it all.
    whole_pictures = [(kind, source, h["phash"]) for kind, by in found.items()
                      for source, h in by.items() if source != "top_band"]
    assert {s for _, s, _ in whole_pictures} == {"exif_thumbnail", "progressive_scan",
                                                 "whole_file"}
    for (k1, s1, h1), (k2, s2, h2) in itertools.combinations(whole_pictures, 2):
        assert distance(h1, h2) <= 10, (k1, s1, k2, s2)


def test_distinct_photos_have_distant_band_hashes():
    bands = [perceptual_fields(held(p.read_bytes()), LIMITS)["phash_band"] for p in PHOTOS]
    for a, b in itertools.combinations(bands, 2):
        assert distance(a, b) > 2 * BAND_DISTANCE


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_band_needs_every_row_held(fmt):
    """A band whose rows are not all held is refused, never padded; once held,
    it is the picture's top rows."""
    with Image.open(PHOTOS[0]) as im:
        rgb = im.convert("RGB")
    out = io.BytesIO()
    rgb.save(out, fmt, **({"quality": 90} if fmt != "PNG" else {}))
    data = out.getvalue()
    rows = decode.band_rows(rgb.size[1], LIMITS.band)
    cut = Spans(len(data))
    cut.add(0, data[:len(data) // 10])
    found = band_data(cut, 1 << 20)
    assert found is not None
    with pytest.raises(decode.DecodeRefused, match="truncated|rows held"):
        decode.band(*found, LIMITS.band)
    found = band_data(whole(data), 1 << 20)
    assert found is not None
    band = decode.band(*found, LIMITS.band)
    assert band.size[1] in (rows, -(-rows // 2))  # a JPEG band may be DCT-scaled
    full = Image.open(io.BytesIO(data)).convert("RGB").crop((0, 0, rgb.size[0], rows))
    if fmt == "PNG":
        assert band.tobytes() == full.tobytes()  # lossless: exactly the top rows
    assert distance(hashes(sources.Picture("b", band, False), 1)["phash_band"],
                    hashes(sources.Picture("f", full, False), 1)["phash_band"]) <= 2


def png_claiming(width: int, height: int) -> bytes:
    """A ~100 KB PNG whose header claims `width` x `height` (rows of zeros)."""
    raw = zlib.compress(b"\0" * (1 + 3 * width) * 200)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw + b"\0" * 90000)


def test_a_png_bomb_is_refused_and_recorded():
    data = png_claiming(50000, 50000)
    assert len(data) < 200_000
    # Held whole after a first request that large (IMGPRINT_RANGE_BYTES).
    fields = perceptual_fields(whole(data), replace(LIMITS, whole_bytes=len(data)))
    assert "phash" not in fields and "phash_band" not in fields
    # Pillow's own bomb check or ours, before any pixel is decoded.
    assert "whole_file: " in fields["phash_error"]
    assert "2500000000 pixels" in fields["phash_error"] or "50000x50000" in fields["phash_error"]
    cut = Spans(len(data))
    cut.add(0, data[:PREFIX])
    fields = perceptual_fields(cut, LIMITS)
    assert "top_band: 50000x12500 pixels is over" in fields["phash_error"]
    assert "phash_band" not in fields


def test_a_webp_canvas_bomb_is_refused():
    out = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(out, "WEBP")
    data = bytearray(out.getvalue())
    # Claim a 16000 x 16000 canvas in the VP8 frame header.
    pos = data.index(b"\x9d\x01\x2a") + 3
    data[pos:pos + 4] = struct.pack("<HH", 16000, 16000)
    found = band_data(whole(bytes(data)), 1 << 20)
    assert found is not None and found[2:] == (16000, 16000)
    with pytest.raises(decode.DecodeRefused, match="over"):
        decode.band(*found, 0.01)


def test_flat_pictures_get_no_hash():
    out = io.BytesIO()
    Image.new("RGB", (400, 300), (200, 200, 200)).save(out, "JPEG")
    fields = perceptual_fields(whole(out.getvalue()), LIMITS)
    assert fields.get("phash") is None and fields.get("phash_band") is None
    assert "phash_source" not in fields


def test_a_thumbnail_gives_phash_and_the_first_rows_the_band():
    data = PHOTOS[0].read_bytes()
    fields = perceptual_fields(held(data), LIMITS)
    assert fields["phash_source"] == "exif_thumbnail"
    assert fields["phash_band_source"] == "top_band"
    alone = perceptual_fields(held(data, Limits(band=LIMITS.band, band_bytes=1)), LIMITS)
    assert alone["phash_band_source"] == "exif_thumbnail"  # the band was not fetched
    assert alone["phash"] == fields["phash"]
