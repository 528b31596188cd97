"""Limits of the perceptual hash that the fetch path and the pipeline need
without importing the decoder (numpy and Pillow load on the first phash, on a
worker thread, not at start-up)."""

from __future__ import annotations

from dataclasses import dataclass

#: Largest thumbnail decoded (and fetched): EXIF in JPEG lives in one APP1
#: segment, so a real thumbnail is always smaller.
MAX_THUMBNAIL_BYTES = 65536
#: Seconds the pipeline lets a phash take.
TIME_LIMIT = 2.0


#: The top band's first request asks for this share of the image data per
#: unit of IMGPRINT_PHASH_BAND (top rows cost about their share of the bytes in
#: most photos, less where the top is sky); bench/fingerprint_eval.py.
BAND_MARGIN = 1.25
#: A second band request, when the first fell short, asks up to this many
#: times the first share.
BAND_RETRY = 2.0


@dataclass(frozen=True)
class Limits:
    """What the perceptual hash may fetch and decode (checked settings)."""

    #: IMGPRINT_PHASH_SCAN_BYTES: most bytes of a progressive first scan (0: off).
    scan_bytes: int = 65536
    #: IMGPRINT_PHASH_BAND: the top band's share of the picture's height (0: off).
    band: float = 0.0
    #: IMGPRINT_PHASH_BAND_BYTES: most coded bytes of the band fetched and decoded.
    band_bytes: int = 0
    #: IMGPRINT_RANGE_BYTES: a file this small is held whole after the first
    #: request and hashed whole; a larger one never is, so that its hashes do not
    #: depend on how many bytes a server happened to send (a seed's first answer,
    #: a server ignoring Range).
    whole_bytes: int = 10241


@dataclass(frozen=True)
class BandChecked:
    """What the fetch's band check (``phash.check_band``) found once the band's
    first share was held: ``short``, its rows are not all there (a second
    request may give them); ``decoded``, they all were, and ``phash_band`` is
    their hash (None: a flat band). The pipeline takes that hash instead of
    decoding the same rows again."""

    short: bool = False
    decoded: bool = False
    phash_band: str | None = None
