"""Perceptual hash of an image from the few bytes the crawler holds.

``phash`` is imagehash's ``phash`` (grayscale, 32x32 Lanczos resize, 2-D DCT,
the top-left 8x8 coefficients including DC, bit = coefficient > their median),
as 16 hex digits; compare by Hamming distance. It is not pHash.org's variant.

The pixels come from one of two small images inside the file, never from the
whole image (which is never fetched):

* ``progressive_scan``: the first scan of a progressive JPEG, which holds the
  DC coefficient of every 8x8 block, decoded at 1/8 scale (libjpeg's DCT
  scaling reads just that coefficient), so it is the whole picture at 1/8
  resolution;
* ``exif_thumbnail``: the JPEG thumbnail EXIF IFD1 points at
  (JPEGInterchangeFormat/Length), in JPEG, TIFF, PNG, WebP or HEIF EXIF.

The progressive scan wins when both are held: it is the image itself, while a
thumbnail may be letterboxed, stale after an edit, or missing from a copy.
Nothing decoded is kept: the record gets the 16 hex digits and the source.

Decoding is guarded: only baseline/progressive JPEG data is decoded; at most
``MAX_THUMBNAIL_BYTES`` of input; at most ``MAX_PIXELS`` pixels after scaling,
checked from the header before any pixel is decoded; and for a progressive
JPEG, whose decoder holds every DCT coefficient of the *declared* size whatever
the scaling, at most ``MAX_COEFFICIENT_BYTES`` of coefficients (a 48 MP photo
with 4:2:0 chroma needs 144 MB; a 13370x13370 CMYK header 1.4 GB). The pipeline runs
``phash_fields`` on a worker thread (``imgprint.workers``) and gives the hash
up after ``TIME_LIMIT`` seconds (Pillow's decoder runs without the GIL).

Settings: ``IMGPRINT_PHASH_SCAN_BYTES`` (most bytes of a first scan fetched and
decoded; 0 turns the progressive source off; per request
not per request).
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy
from PIL import Image

from imgprint import formats
from imgprint.fingerprint.limits import MAX_THUMBNAIL_BYTES as MAX_THUMBNAIL_BYTES
from imgprint.fingerprint.limits import TIME_LIMIT as TIME_LIMIT
from imgprint.formats import Spans

#: Largest decoded image (after 1/8 scaling for a progressive scan), in pixels.
MAX_PIXELS = 4_000_000
#: Most memory a progressive decode may need for its coefficient buffers.
MAX_COEFFICIENT_BYTES = 160 * 1024 * 1024
#: A first scan gives one pixel per 8x8 block: below this many on a side the
#: 32x32 resize of phash would invent detail (measured: median distance 10 to
#: the full image's phash for the corpus's small images, 0 from 256 px on).
MIN_SCAN_SIDE = 32
#: 2 cos(pi k (2n + 1) / 64) for k < 8, n < 32: the first 8 rows of the
#: unnormalised DCT-II matrix that imagehash takes from scipy.fftpack.dct.
_DCT8 = 2.0 * numpy.cos(numpy.pi * numpy.outer(numpy.arange(8), 2 * numpy.arange(32) + 1) / 64)
#: Standard deviation of the 32x32 grayscale below which an image is flat.
MIN_CONTRAST = 2.0

class PhashError(Exception):
    """The data was refused or could not be decoded."""


def coefficient_bytes(image: Any) -> int:
    """Bytes libjpeg allocates for a progressive image's coefficients: two per
    sample of every component at its sampling factor, over the declared size."""
    layers = getattr(image, "layer", None) or [("", 1, 1, 0)] * len(image.getbands())
    hmax = max(h for _, h, _, _ in layers) or 1
    vmax = max(v for _, _, v, _ in layers) or 1
    width, height = image.size
    # Whole 8x8 blocks of the largest sampling unit, 64 two-byte coefficients each.
    mcu_w, mcu_h = -(-width // (8 * hmax)), -(-height // (8 * vmax))
    return sum(mcu_w * h * mcu_h * v * 64 * 2 for _, h, v, _ in layers)


def _decoded(data: bytes, scale: bool) -> Image.Image:
    with warnings.catch_warnings():
        # Pillow's own bomb check only warns below 2x its limit; ours is tighter.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(io.BytesIO(data), formats=["JPEG"])
        if image.info.get("progressive") or image.info.get("progression"):
            need = coefficient_bytes(image)
            if need > MAX_COEFFICIENT_BYTES:
                raise PhashError(f"a progressive {image.size[0]}x{image.size[1]} image needs"
                                 f" {need} bytes of coefficients, over {MAX_COEFFICIENT_BYTES}")
        if scale:
            # DCT scaling to 1/8: each 8x8 block decodes to its DC value.
            image.draft("L", (max(1, image.size[0] // 8), max(1, image.size[1] // 8)))
        width, height = image.size
        if scale and min(width, height) < MIN_SCAN_SIDE:
            raise PhashError(f"a {width}x{height} first scan is too coarse")
        if width * height > MAX_PIXELS:
            raise PhashError(f"{width}x{height} pixels is over {MAX_PIXELS}")
        image.load()
    return image


def _run(data: bytes, scale: bool) -> str:
    image = _decoded(data, scale)
    small = image.convert("L").resize((32, 32), Image.Resampling.LANCZOS)
    if numpy.asarray(small, dtype=float).std() < MIN_CONTRAST:
        # A flat image's DCT is all rounding noise: its hash (0000... or 8000...)
        # would match every other flat image.
        raise PhashError("flat image, no perceptual hash")
    return dct_hash(small)


def dct_hash(small: Image.Image) -> str:
    """imagehash.phash of an image already made 32x32 grayscale (Lanczos): the
    top-left 8x8 of its 2-D DCT-II, bit = coefficient > their median, as 16 hex
    digits. One matrix product instead of scipy (not imported: 0.2 s at start-up)."""
    pixels = numpy.asarray(small, dtype=numpy.float64)
    low = _DCT8 @ pixels @ _DCT8.T
    bits = (low > numpy.median(low)).flatten()
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"


def phash_of_jpeg(data: bytes, scale: bool = False) -> str:
    """imagehash.phash of JPEG `data` (16 hex digits), within the decode guards.

    `scale`: decode at 1/8 size (for a progressive first scan)."""
    if len(data) > MAX_THUMBNAIL_BYTES and not scale:
        raise PhashError(f"{len(data)} bytes is over {MAX_THUMBNAIL_BYTES}")
    if data[:2] != b"\xff\xd8":
        raise PhashError("not JPEG data")
    try:
        return _run(data, scale)
    except PhashError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow raises anything on bad data
        raise PhashError(f"{type(exc).__name__}: {exc}") from exc


def phash_fields(spans: Spans, scan_bytes: int) -> dict[str, str]:
    """``phash`` and ``phash_source`` from what `spans` hold; {} when neither a
    complete first progressive scan (within `scan_bytes`) nor an EXIF thumbnail is
    held, or when decoding was refused."""
    if scan_bytes > 0:
        scan = formats.first_scan_bytes(spans, scan_bytes)
        if scan is not None:
            try:
                return {"phash": phash_of_jpeg(scan, scale=True),
                        "phash_source": "progressive_scan"}
            except PhashError:
                pass
    thumb = formats.thumbnail_span(spans, MAX_THUMBNAIL_BYTES)
    data = spans.get(*thumb) if thumb is not None else None
    if data is not None:
        try:
            return {"phash": phash_of_jpeg(data), "phash_source": "exif_thumbnail"}
        except PhashError:
            pass
    return {}
