"""PDQ (imgprint.fingerprint.pdq) against the reference C++ core, run by the
pdqhash package over the corpus images; its guards and its behaviour on copies."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy
import pdqhash
import pytest
from PIL import Image

from imgprint.fingerprint import pdq
from imgprint.fingerprint.pdq import PdqError, pdq_distance, pdq_hash
from tests.helpers import CORPUS, EX

PICTURES = (".jpg", ".jpeg", ".png", ".webp", ".gif")


def rgb(image: Image.Image) -> numpy.ndarray:
    return numpy.ascontiguousarray(numpy.asarray(image.convert("RGB")))


def reference(image: Image.Image) -> tuple[str, int]:
    """The C++ core (pdqhash) on the whole image, as python-threatexchange calls
    it: (hex, quality). It lists bit 255 first."""
    bits, quality = pdqhash.compute(rgb(image))
    return f"{int(''.join(map(str, bits)), 2):064x}", quality


def reference_coefficients(image: Image.Image) -> numpy.ndarray:
    """The C++ core's 16x16 DCT output, coefficient 0 first."""
    floats, _ = pdqhash.compute_float(rgb(image))
    return numpy.asarray(floats, dtype=numpy.float64)[::-1]


def decodable(path: Path) -> Image.Image | None:
    try:
        image = Image.open(path)
        image.load()
    except Exception:  # noqa: BLE001 - the corpus holds broken files on purpose
        return None
    return image


@pytest.fixture(scope="module")
def corpus() -> list[tuple[Path, int]]:
    """(path, pixels) of the corpus pictures Pillow opens, fuzzed files aside;
    decoded one at a time by the tests."""
    found = []
    for path in sorted(CORPUS.rglob("*")):
        if path.suffix.lower() not in PICTURES or "fuzz" in path.parts[-2]:
            continue
        try:
            with Image.open(path) as image:
                pixels = image.size[0] * image.size[1]
        except Exception:  # noqa: BLE001 - as above
            continue
        if pixels <= 40_000_000:
            found.append((path, pixels))
    return found


def noisy_bits(coefficients: numpy.ndarray) -> int:
    median = numpy.sort(coefficients)[127]
    return int(numpy.count_nonzero(numpy.abs(coefficients - median) < pdq.MARGIN))


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow on palette transparency
def test_full_size_hashes_are_the_reference_bit_for_bit(corpus):
    """Up to FULL_PIXELS, every corpus image's hash and quality are the C++
    core's exactly (all up to 1 MP, and 8 larger to keep the test short); the
    only hashes given quality 0 where the reference gives more are those with
    > 10 bits within rounding of the median (by the reference's own
    coefficients)."""
    compared = equal = noisy = 0
    larger = [path for path, pixels in corpus if 1_000_000 < pixels <= pdq.FULL_PIXELS][:8]
    for path, pixels in corpus:
        image = decodable(path) if pixels <= 1_000_000 or path in larger else None
        if image is None:
            continue
        ours, quality = pdq_hash(image)
        expected, expected_quality = reference(image)
        compared += 1
        if expected_quality == 0:  # flat: the bits are noise, and discarded
            assert quality == 0, path
            continue
        if quality == 0:
            assert noisy_bits(reference_coefficients(image)) > pdq.MAX_NOISY_BITS, path
            # The guard is for degenerate icons (measured: all <= 32 px), not photos.
            assert max(image.size) <= 32, path
            noisy += 1
            continue
        assert (ours, quality) == (expected, expected_quality), path
        equal += 1
    assert compared >= 200 and equal >= 150 and noisy >= 1, (compared, equal, noisy)


def test_large_images_within_reference_tolerance(corpus):
    """Over FULL_PIXELS the image is box-reduced first: PDQ's README accepts an
    implementation whose hashes of quality >= 80 are within distance 10 of the
    reference (measured here: <= 6)."""
    large = sorted((pixels, path) for path, pixels in corpus if pixels > pdq.FULL_PIXELS)
    compared = 0
    for _, path in large[:5]:
        image = decodable(path)
        if image is None:
            continue
        ours, quality = pdq_hash(image)
        expected, expected_quality = reference(image)
        if expected_quality >= 80:
            assert pdq_distance(ours, expected) <= 10, path
            assert abs(quality - expected_quality) <= 5, path
            compared += 1
    assert compared >= 3


def photo(size: tuple[int, int] = (640, 480)) -> Image.Image:
    with Image.open(EX / "jpg/gps/DSCN0010.jpg") as im:
        return im.convert("RGB").resize(size, Image.Resampling.LANCZOS)


def encoded(image: Image.Image, fmt: str, **options) -> Image.Image:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return Image.open(io.BytesIO(out.getvalue()))


def test_copies_match_and_distinct_photos_do_not(corpus):
    original = photo()
    hashed, quality = pdq_hash(original)
    assert quality >= pdq.MIN_QUALITY
    copies = {
        "jpeg q70": encoded(original, "JPEG", quality=70),
        "half size": original.resize((320, 240), Image.Resampling.LANCZOS),
        "webp q80": encoded(original, "WEBP", quality=80),
        "progressive q75": encoded(original, "JPEG", quality=75, progressive=True),
        "thumbnail 160": original.resize((160, 120), Image.Resampling.LANCZOS),
    }
    for kind, copy in copies.items():
        assert pdq_distance(hashed, pdq_hash(copy)[0]) <= pdq.MATCH_DISTANCE, kind
    # Distinct photos (EXIF sample cameras) are far apart.
    others = [path for path, pixels in corpus if path.suffix.lower() == ".jpg"
              and "exif-samples" in path.parts and 65_536 <= pixels <= pdq.FULL_PIXELS
              and path.name != "DSCN0010.jpg"][:20]
    assert len(others) >= 10
    far = [pdq_distance(hashed, pdq_hash(image)[0])
           for image in map(decodable, others) if image is not None]
    assert min(far) > pdq.MATCH_DISTANCE


def test_format_and_distance():
    hashed, quality = pdq_hash(photo())
    assert len(hashed) == 64 and int(hashed, 16) >= 0 and hashed == hashed.lower()
    assert 0 <= quality <= 100
    assert pdq_distance(hashed, hashed) == 0
    flipped = f"{int(hashed, 16) ^ (1 << 255) ^ 1:064x}"
    assert pdq_distance(hashed, flipped) == 2
    assert pdq_distance("0" * 64, "f" * 64) == 256
    # Half the bits are set (above the median of 256 distinct coefficients).
    assert bin(int(hashed, 16)).count("1") == 128


def test_tiny_and_flat_images_have_quality_zero():
    assert pdq_hash(Image.new("RGB", (4, 100), "red")) == (pdq.ZERO_HASH, 0)
    assert pdq_hash(Image.new("RGB", (300, 200), (40, 90, 200)))[1] == 0
    # A 32x32 checkerboard: its energy is above the 16 frequencies PDQ keeps.
    board = Image.fromarray(((numpy.indices((32, 32)).sum(axis=0) % 2) * 255).astype(numpy.uint8))
    assert pdq_hash(board)[1] == 0


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "CMYK", "I;16", "I", "F", "1"])
def test_every_mode_hashes(mode):
    image = photo((200, 150))
    converted = image.convert(mode) if mode not in ("I;16",) else image.convert("L").convert("I;16")
    hashed, quality = pdq_hash(converted)
    assert len(hashed) == 64
    if mode in ("L", "LA", "RGBA", "P"):
        # The same picture, so (nearly) the same hash as the RGB original.
        assert pdq_distance(hashed, pdq_hash(image)[0]) <= 16, mode


def test_large_modes_reduce(monkeypatch):
    monkeypatch.setattr(pdq, "FULL_PIXELS", 10_000)
    image = photo((400, 300))
    for mode in ("P", "CMYK", "1", "RGB"):
        hashed, quality = pdq_hash(image.convert(mode))
        assert len(hashed) == 64
    assert pdq_distance(pdq_hash(image)[0], pdq_hash(image.convert("P"))[0]) <= 31


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares `width` x `height` and holds one byte of image data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b""))


def test_refuses_a_huge_image_before_decoding():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(io.BytesIO(png_header_only(10_000, 9_000)))
    with pytest.raises(PdqError, match="over"):
        pdq_hash(image)
    assert image.tile  # never decoded: load() empties it
