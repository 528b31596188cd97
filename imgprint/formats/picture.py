"""What the perceptual hash decodes when the file shows no small picture of
itself (EXIF thumbnail, progressive first scan): the top band of the picture,
from the first coded bytes of a sequential JPEG, a non-interlaced PNG or a
still WebP.

Their rows are coded top to bottom, so the first bytes of the image data
decode to the top rows: `band_data` cuts what is held of them out as a file of
their own (the decoding headers, then the coded bytes held contiguously from
the start of the image data), `band_want` says which bytes to fetch for it.
The perceptual hash (``imgprint.fingerprint``) decodes the rows it needs and
hashes the same band of any other source, so the hashes compare.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from imgprint.spans import Range, Spans

from . import jpeg_coded, png, webp_band
from .dispatch import guard, parser

#: (format, a file of the decoding headers and the coded bytes held, width, height)
Band = tuple[str, bytes, int, int]

_DATA: dict[str, Callable[[Spans, int], tuple[bytes, int, int] | None]] = {
    "jpeg": jpeg_coded.band_jpeg, "png": png.band_png, "webp": webp_band.band_webp}
_SPAN: dict[str, Callable[[Spans], tuple[int, int, int] | None]] = {
    "jpeg": jpeg_coded.band_span, "png": png.band_span, "webp": webp_band.band_span}
#: Where the band probably is while the header walk has not reached the image
#: data: a JPEG's APPn segments often run past the first bytes.
_GUESS: dict[str, Callable[[Spans], tuple[int, int, int] | None]] = {
    "jpeg": jpeg_coded.band_guess}
#: Bytes a guessed band window starts with before the band's own share: the
#: decoding headers still to come (`jpeg_coded.CONTENT_HOP`).
GUESS_HEAD = jpeg_coded.CONTENT_HOP


def band_data(spans: Spans, max_bytes: int) -> Band | None:
    """The decoding headers and up to `max_bytes` of coded data held from the
    start of the image data, as a file of its own; None for a file whose first
    coded bytes are not its top rows, or when nothing of them is held."""
    fmt, found = parser(spans)
    func = _DATA.get(fmt or "")
    if found is None or func is None or max_bytes <= 0:
        return None
    got = guard("band_data", None, func, spans, max_bytes)
    return None if got is None else (fmt or "", *got)


def band_span(spans: Spans) -> tuple[int, int, int] | None:
    """(first byte to fetch, where the bytes start to follow the rows, end of the
    image data) for the top band; None when not applicable or the image data is
    not located yet (the content hash's walk gets there first)."""
    fmt, found = parser(spans)
    func = _SPAN.get(fmt or "")
    if found is None or func is None:
        return None
    return guard("band_span", None, func, spans)


def _stop(found: tuple[int, int, int], share: float, max_bytes: int) -> int:
    start, lead, end = found
    return min(end, start + max_bytes, lead + math.ceil((end - lead) * min(share, 1.0)))


def band_want(spans: Spans, share: float, max_bytes: int) -> Range | None:
    """The bytes to fetch for the top band: from the start of the image data to
    `share` (0..1) of the way from where the bytes follow the rows to the end
    (a lossy WebP's first partition comes whole), at most `max_bytes`; None
    when held, not applicable, or not located yet."""
    found = band_span(spans)
    if found is None or share <= 0 or max_bytes <= 0:
        return None
    start, stop = found[0], _stop(found, share, max_bytes)
    return (start, stop) if stop > start and spans.missing(start, stop) else None


def band_guess(spans: Spans, share: float, max_bytes: int) -> Range | None:
    """A window where the top band probably is while the header walk has not
    reached the image data (a JPEG's APPn segments past the first bytes): from
    where the walk stopped, ``GUESS_HEAD`` bytes then `share` of the rest of the
    file, at most `max_bytes`; None when the band is located, or cannot be
    guessed."""
    fmt, found = parser(spans)
    func = _GUESS.get(fmt or "")
    if found is None or func is None or share <= 0 or max_bytes <= 0:
        return None
    guess = guard("band_guess", None, func, spans)
    if guess is None:
        return None
    start, stop = guess[0], _stop(guess, share, max_bytes - GUESS_HEAD) + GUESS_HEAD
    stop = min(stop, guess[2])
    return (start, stop) if stop > start and spans.missing(start, stop) else None
