"""PDQ, Meta's 256-bit perceptual hash (facebook/ThreatExchange ``pdq/``), in numpy.

The reference algorithm, step for step (``pdq/cpp/hashing/pdqhashing.cpp``,
``downscaling.cpp``):

1. luminance ``0.299 R + 0.587 G + 0.114 B`` as float32;
2. two passes of 1-D box filters along rows then columns (Jarosz: a tent
   filter), each window ``ceil(side / 128)`` wide, then decimation to 64x64 at
   the window centres;
3. quality: the sum of the 64x64 image's quantised neighbour gradients / 90,
   capped at 100 (PDQ discards hashes under 50);
4. DCT-II rows 1..16 (not the DC row) on both axes: a 16x16 matrix;
5. bit ``16 i + j`` is set when coefficient ``(i, j)`` is above the median
   (Torben's, the lower middle of 256); written as 64 hex digits, bit 255 first.

Pixels are hashed at full size up to ``FULL_PIXELS`` (4 MP): there the hash is
bit for bit the reference C++ core's as the ``pdqhash`` package and
ThreatExchange's python-threatexchange (HMA) compute it from the whole image. A
larger image is first box-averaged by the smallest whole factor that brings it
under ``FULL_PIXELS`` (``Image.reduce``); measured on the corpus photos over 4 MP
(quality >= 80), that hash is within distance 6 of the full-size one, where
ThreatExchange's own Python hasher (a 512 px thumbnail) is up to 12 away. Images
smaller than 5 pixels on a side get the reference's answer: the zero hash,
quality 0.

One deliberate difference: when more than ``MAX_NOISY_BITS`` coefficients lie
within ``MARGIN`` of the median (many exact zeros: e.g. a 32x32 icon whose
energy lies above the 16 frequencies kept), those bits are decided by float
rounding and two implementations disagree on them (measured: up to 129 of 256
bits against pdqhash on such corpus images, quality 93-100); such a hash gets
quality 0, so nothing matches on it.

Every mode goes through Pillow's ``convert("RGB")`` (palette expanded, alpha
dropped), as a viewer would show it.

Bounded: ``pdq_hash`` refuses (``PdqError``) an image declaring more than
``MAX_PIXELS`` pixels before decoding anything, and never filters more than
``FULL_PIXELS`` floats; the caller decodes under its own caps
(``imgprint.fingerprint.phash``). No settings are read here.
"""

from __future__ import annotations

import math

import numpy
from PIL import Image

#: Largest image the tent filter sees at full size, in pixels.
FULL_PIXELS = 4_000_000
#: Largest image accepted, in pixels: the size Pillow itself warns at twice.
MAX_PIXELS = 89_478_485
#: The reference gives images under this many pixels a side the zero hash.
MIN_SIDE = 5
#: PDQ's own thresholds (ThreatExchange pdq/README.md): distance <= 31 is a
#: match; hashes with quality under 50 are to be discarded.
MATCH_DISTANCE = 31
MIN_QUALITY = 50
#: Rows 1..16 of the 64-point DCT-II, scaled as the reference scales them.
_DCT16 = (numpy.sqrt(2.0 / 64.0) * numpy.cos(
    (numpy.pi / 2.0 / 64.0) * numpy.outer(numpy.arange(1, 17), 2 * numpy.arange(64) + 1))
).astype(numpy.float32)
ZERO_HASH = "0" * 64
#: A coefficient this close to the median has its bit set by float rounding
#: (rounding noise measured <= 0.00002; real coefficients are 0.02 and more away).
MARGIN = 0.001
#: More such bits than PDQ's tolerance between implementations (its README:
#: within distance 10) and the hash is not a fingerprint.
MAX_NOISY_BITS = 10


class PdqError(ValueError):
    """The image was refused (too large) or could not be converted."""


def pdq_hash(image: Image.Image) -> tuple[str, int]:
    """PDQ hash of `image` as (64 hex digits, quality 0-100)."""
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise PdqError(f"{width}x{height} pixels is over {MAX_PIXELS}")
    if min(width, height) < MIN_SIDE:
        return ZERO_HASH, 0
    if width * height > FULL_PIXELS:
        image = _reduced(image, math.ceil(math.sqrt(width * height / FULL_PIXELS)))
    small = _decimated(_tent_filtered(_luma(image)))
    quality = _quality(small)
    coefficients = _DCT16 @ small @ _DCT16.T
    flat = coefficients.flatten()
    # Torben's median of an even count is the lower of the two middle values.
    median = numpy.partition(flat, 127)[127]
    if numpy.count_nonzero(numpy.abs(flat - median) < MARGIN) > MAX_NOISY_BITS:
        quality = 0
    return _bits_hex(flat > median), quality


def pdq_distance(a: str, b: str) -> int:
    """Hamming distance between two 64-hex-digit PDQ hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _reduced(image: Image.Image, factor: int) -> Image.Image:
    """`image` box-averaged `factor` times smaller (modes reduce() lacks go
    through RGB first)."""
    try:
        if image.mode not in ("L", "LA", "RGB", "RGBA", "I", "F"):
            image = image.convert("RGB")
        return image.reduce(factor)
    except Exception as exc:  # noqa: BLE001 - Pillow raises anything on bad data
        raise PdqError(f"cannot reduce a {image.mode} image: {exc}") from exc


def _luma(image: Image.Image) -> numpy.ndarray:
    """Luminance as float32, computed as the pdqhash binding computes it."""
    try:
        rgb = numpy.asarray(image.convert("RGB"))
    except Exception as exc:  # noqa: BLE001 - Pillow raises anything on odd modes
        raise PdqError(f"cannot convert a {image.mode} image: {exc}") from exc
    luma = rgb[:, :, 0] * 0.299 + rgb[:, :, 1] * 0.587 + rgb[:, :, 2] * 0.114
    return luma.astype(numpy.float32)


def _window(side: int) -> int:
    """The reference's per-pass box width: half of a 1/64 block, rounded up."""
    return (side + 2 * 64 - 1) // (2 * 64)


def _box(values: numpy.ndarray, window: int, axis: int) -> numpy.ndarray:
    """The reference's box1DFloat along `axis`: output i is the mean of inputs
    i - (window - half) .. i + half - 1 (half = (window + 2) // 2), clipped to
    the ends, as a difference of running sums."""
    n = values.shape[axis]
    half = (window + 2) // 2
    index = numpy.arange(n)
    lo = numpy.maximum(index - (window - half), 0)
    hi = numpy.minimum(index + half - 1, n - 1)
    sums = _running_sums(values, axis)
    total = numpy.take(sums, hi + 1, axis=axis) - numpy.take(sums, lo, axis=axis)
    count = (hi - lo + 1).astype(numpy.float64)
    return (total / (count[:, None] if axis == 0 else count)).astype(numpy.float32)


def _running_sums(values: numpy.ndarray, axis: int) -> numpy.ndarray:
    """Cumulative sums along `axis` in float64, with a leading zero."""
    rows, cols = values.shape
    if axis == 1:
        sums = numpy.empty((rows, cols + 1))
        sums[:, 0] = 0.0
        numpy.cumsum(values, axis=1, out=sums[:, 1:])
        return sums
    sums = numpy.empty((rows + 1, cols))
    sums[0] = 0.0
    sums[1:] = values
    if cols < 64:
        numpy.cumsum(sums, axis=0, out=sums)
    else:
        # numpy's cumsum down the columns of a C-ordered array is ~6x slower
        # than adding whole rows (measured: 96 ms against 17 ms at 2048x1536).
        for row in range(1, rows + 1):
            numpy.add(sums[row], sums[row - 1], out=sums[row])
    return sums


def _tent_filtered(luma: numpy.ndarray) -> numpy.ndarray:
    rows, cols = luma.shape
    along_rows, along_cols = _window(cols), _window(rows)
    for _ in range(2):  # PDQ_NUM_JAROSZ_XY_PASSES
        # A window of 1 (a side of at most 128 pixels) is the identity: the
        # running sums of float32 values are exact in float64, so each output
        # is its input. Skipped, it saves a third of PDQ's time on thumbnails
        # and small pictures, the most common sources.
        if along_rows > 1:
            luma = _box(luma, along_rows, axis=1)
        if along_cols > 1:
            luma = _box(luma, along_cols, axis=0)
    return luma


def _decimated(luma: numpy.ndarray) -> numpy.ndarray:
    """64x64 samples at the centres of a 64x64 grid over `luma`."""
    rows, cols = luma.shape
    at_rows = ((numpy.arange(64) + 0.5) * rows / 64).astype(numpy.intp)
    at_cols = ((numpy.arange(64) + 0.5) * cols / 64).astype(numpy.intp)
    return luma[numpy.ix_(at_rows, at_cols)]


def _quality(small: numpy.ndarray) -> int:
    """pdqImageDomainQualityMetric: neighbour differences in percent of 255,
    truncated to whole numbers, summed, / 90, at most 100."""
    down = numpy.trunc((small[:-1, :] - small[1:, :]) * numpy.float32(100) / numpy.float32(255))
    across = numpy.trunc((small[:, :-1] - small[:, 1:]) * numpy.float32(100) / numpy.float32(255))
    gradient = int(numpy.abs(down).sum(dtype=numpy.int64)
                   + numpy.abs(across).sum(dtype=numpy.int64))
    return min(gradient // 90, 100)


def _bits_hex(bits: numpy.ndarray) -> str:
    """256 bits, bit k (16 i + j) of weight 2**k, as 64 hex digits."""
    packed = numpy.packbits(bits, bitorder="little")  # bit k -> byte k // 8, bit k % 8
    return packed.tobytes()[::-1].hex()
