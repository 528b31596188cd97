"""Perceptual hashes of an image from the few bytes the crawler holds.

``phash`` is imagehash's ``phash`` (grayscale, 32x32 Lanczos resize, 2-D DCT,
the top-left 8x8 coefficients including DC, bit = coefficient > their median),
as 16 hex digits; compare by Hamming distance. It is not pHash.org's variant.
``pdq`` is Meta's PDQ (``imgprint.fingerprint.pdq``), 64 hex digits, with its
quality (``pdq_quality``, 0-100; PDQ's guidance discards hashes under 50).

The pixels come from the cheapest source held (``imgprint.fingerprint.sources``:
the whole file when small, the first scan of a progressive JPEG, the EXIF
thumbnail, the top band of a sequential JPEG, a non-interlaced PNG or a still
WebP). Per image:

* ``phash``, ``pdq``, ``pdq_quality``: of the whole picture
  (``phash_source``); absent when only the top band is held;
* ``phash_band``: of the top band, rows [0, ceil(f * height)) for
  ``IMGPRINT_PHASH_BAND`` = f, cropped out of whichever source was decoded, so
  a band decoded from a JPEG's first bytes compares with the band of another
  copy's thumbnail, first scan or whole file (``phash_band_source``). Bands of
  different f never compare: keep f fixed across crawls that are compared. No
  PDQ of the band: measured, it finds fewer copies than the band's pHash at
  every threshold from 24 to 48 bits (docs/fingerprints.md).

A flat picture (32x32 grayscale standard deviation < 2) gets no pHash: its
hash is rounding noise (``0000...``/``8000...``) that matches every other flat
picture (its PDQ has quality 0). Nothing decoded is kept: the record gets the
hex digits, the source's name, and why a source was refused (``phash_error``).

Decoding is bounded (``imgprint.fingerprint.decode``); the pipeline runs
``perceptual_fields`` on a worker thread and gives it up after
``limits.TIME_LIMIT`` seconds.
"""

from __future__ import annotations

from typing import Any

import numpy
from PIL import Image

from imgprint.fingerprint.decode import BandShort, DecodeRefused, band_rows
from imgprint.fingerprint.limits import MAX_THUMBNAIL_BYTES as MAX_THUMBNAIL_BYTES
from imgprint.fingerprint.limits import TIME_LIMIT as TIME_LIMIT
from imgprint.fingerprint.limits import BandChecked, Limits
from imgprint.fingerprint.sources import SOURCES, Picture, pick, top_band
from imgprint.formats import Spans

#: 2 cos(pi k (2n + 1) / 64) for k < 8, n < 32: the first 8 rows of the
#: unnormalised DCT-II matrix that imagehash takes from scipy.fftpack.dct.
_DCT8 = 2.0 * numpy.cos(numpy.pi * numpy.outer(numpy.arange(8), 2 * numpy.arange(32) + 1) / 64)
#: Standard deviation of the 32x32 grayscale below which a picture is flat.
MIN_CONTRAST = 2.0
#: Most characters of the refusal reasons kept in ``phash_error``.
MAX_ERROR_CHARS = 300


class PhashError(Exception):
    """No hash: the picture is flat."""


def dct_hash(small: Image.Image) -> str:
    """imagehash.phash of an image already made 32x32 grayscale (Lanczos): the
    top-left 8x8 of its 2-D DCT-II, bit = coefficient > their median, as 16 hex
    digits. One matrix product instead of scipy (not imported: 0.2 s at start-up)."""
    pixels = numpy.asarray(small, dtype=numpy.float64)
    low = _DCT8 @ pixels @ _DCT8.T
    bits = (low > numpy.median(low)).flatten()
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"


def phash_image(image: Image.Image) -> str:
    """imagehash.phash of `image`; PhashError when it is flat."""
    small = image.convert("L").resize((32, 32), Image.Resampling.LANCZOS)
    if numpy.asarray(small, dtype=float).std() < MIN_CONTRAST:
        raise PhashError("flat picture, no perceptual hash")
    return dct_hash(small)


def band_of(image: Image.Image, fraction: float) -> Image.Image:
    """The top `fraction` of a whole picture: rows [0, ceil(fraction * height))."""
    return image.crop((0, 0, image.size[0], band_rows(image.size[1], fraction)))


def hashes(picture: Picture, fraction: float) -> dict[str, Any]:
    """``phash`` (whole pictures) and ``phash_band`` (`fraction` > 0) of a decoded
    source; a flat one gets None."""
    out: dict[str, Any] = {}
    if picture.whole:
        try:
            out["phash"] = phash_image(picture.image)
        except PhashError:
            out["phash"] = None
    if fraction > 0:
        rows = band_of(picture.image, fraction) if picture.whole else picture.image
        try:
            out["phash_band"] = phash_image(rows)
        except PhashError:
            out["phash_band"] = None
    return out


def whole_fields(picture: Picture, refused: list[str]) -> dict[str, Any]:
    """``phash``, ``pdq`` and ``pdq_quality`` of a whole picture (with
    ``phash_source``); a flat picture gets no phash, a refused PDQ is added to
    `refused`."""
    from imgprint.fingerprint.pdq import PdqError, pdq_hash

    fields: dict[str, Any] = {}
    found = hashes(picture, 0)
    if found.get("phash"):
        fields.update(phash=found["phash"], phash_source=picture.source)
    try:
        fields["pdq"], fields["pdq_quality"] = pdq_hash(picture.image)
    except PdqError as exc:
        refused.append(f"pdq: {exc}")
    return fields


def check_band(spans: Spans, fraction: float, max_bytes: int) -> BandChecked:
    """The fetch's band check: whether the top band's first coded bytes are
    held but not all of its rows (``short``: more of its bytes may give them,
    the fetch's second band request), else, when its rows all decode, their
    ``phash_band`` (the hash ``perceptual_fields`` would take from them).
    Neither when not applicable or refused for another reason."""
    try:
        band = top_band(spans, Limits(band=fraction, band_bytes=max_bytes))
    except BandShort:
        return BandChecked(short=True)
    except DecodeRefused:
        return BandChecked()
    if band is None:
        return BandChecked()
    return BandChecked(decoded=True, phash_band=hashes(band, fraction)["phash_band"])


def perceptual_fields(spans: Spans, limits: Limits,
                      checked: BandChecked | None = None) -> dict[str, Any]:
    """``phash`` and ``phash_source`` (the whole picture), ``pdq`` and
    ``pdq_quality`` (of the same picture), ``phash_band`` and
    ``phash_band_source`` (the top band) from the first source held and
    decodable; ``phash_error`` says why sources held were refused.

    ``checked``: what the fetch's band check found (``check_band``); when it
    decoded the file's own top rows, their hash stands for decoding them again.
    """
    known = checked if checked is not None and checked.decoded and limits.band > 0 else None
    # The top band is the last source: a known one needs no decode.
    picture, refused = pick(spans, limits, SOURCES[:-1] if known else SOURCES)
    fields: dict[str, Any] = {}
    if picture is not None and picture.whole:
        fields.update(whole_fields(picture, refused))
    if limits.band > 0:
        fields.update(band_fields(spans, limits, picture, known, refused))
    if refused:
        fields["phash_error"] = "; ".join(refused)[:MAX_ERROR_CHARS]
    return fields


def band_fields(spans: Spans, limits: Limits, picture: Picture | None,
                known: BandChecked | None, refused: list[str]) -> dict[str, Any]:
    """``phash_band`` and ``phash_band_source``: cut from the picture `pick`
    chose, except from an EXIF thumbnail. The thumbnail is the camera's own
    small picture (often cropped or letterboxed), whose band is within 8 bits
    of the file's own band for 81 % of the corpus pairs only
    (docs/fingerprints.md), so the file's top rows (`known`: the fetch's check
    decoded them) give the band when held, the thumbnail's band the last resort."""
    if picture is not None and picture.source != "exif_thumbnail":
        return _band_hash(picture, limits.band)
    if known is not None:
        return {"phash_band": known.phash_band, "phash_band_source": "top_band"} \
            if known.phash_band else {}
    if picture is None:
        return {}
    try:
        own = top_band(spans, limits)
    except DecodeRefused as exc:
        refused.append(f"top_band: {exc}")
        own = None
    return _band_hash(own or picture, limits.band)


def _band_hash(band: Picture, fraction: float) -> dict[str, Any]:
    found = hashes(band, fraction)
    if not found.get("phash_band"):
        return {}
    return {"phash_band": found["phash_band"], "phash_band_source": band.source}
