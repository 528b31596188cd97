"""Which picture the perceptual hashes are computed from, out of what is held.

Cheapest first, the first one held and decodable wins (`pick`):

* ``whole_file``: a file no larger than the first request
  (``IMGPRINT_RANGE_BYTES``), held whole; a larger one held whole anyway (a
  server ignoring Range) is not hashed whole, so its hashes are the same
  whatever the server sent;
* ``progressive_scan``: the first scan of a progressive JPEG, decoded at 1/8
  scale (the DC value of each 8x8 block), for images of at least 256 px a side;
* ``exif_thumbnail``: the JPEG thumbnail of the EXIF (IFD1), in JPEG, TIFF,
  PNG, WebP or HEIF; cropped to the picture's declared aspect ratio, so the
  black bars of a letterboxed thumbnail do not count;
* ``top_band``: the top rows of a sequential JPEG or non-interlaced PNG,
  decoded from the first coded bytes (``imgprint.formats.picture``): rows
  [0, ceil(f * height)) for ``IMGPRINT_PHASH_BAND`` = f.

The first three show the whole picture, the band only its top: the band hash
(``phash.band_of``) is taken from whichever source, so it compares across all
four. A refused decode (``decode.DecodeRefused``) is recorded and the next
source tried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from imgprint import formats
from imgprint.fingerprint import decode
from imgprint.fingerprint.limits import MAX_THUMBNAIL_BYTES, Limits
from imgprint.formats import Spans
from imgprint.formats.picture import band_data

#: A first scan gives one pixel per 8x8 block: below this many on a side it is
#: too coarse (measured: median distance 10 to the full image's phash for the
#: corpus's small images, 0 from 256 px on).
MIN_SCAN_SIDE = 32
#: Aspect ratios closer than this are the same (rounding of thumbnail sizes).
ASPECT_SLACK = 0.03


@dataclass(frozen=True)
class Picture:
    """A decoded source: its name, its pixels (RGB), and whether it shows the
    whole picture (False: the top band of `band` only)."""

    source: str
    image: Image.Image
    whole: bool


def held_file(spans: Spans) -> bytes | None:
    """The file's bytes when every one of them is held."""
    if spans.size is None or spans.size <= 0:
        return None
    return spans.get(0, spans.size)


def _declared(spans: Spans) -> tuple[int, int] | None:
    found = formats.facts(spans)
    width, height = found.get("width"), found.get("height")
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        return width, height
    return None


def unletterboxed(image: Image.Image, declared: tuple[int, int] | None) -> Image.Image:
    """`image` centre-cropped to the `declared` aspect ratio when it is wider or
    taller: a 4:3 thumbnail of a 16:9 photo carries black bars."""
    if declared is None:
        return image
    width, height = image.size
    want = declared[0] / declared[1]
    have = width / height
    if abs(have - want) <= ASPECT_SLACK * want:
        return image
    if have > want:  # bars left and right
        keep = max(1, round(height * want))
        left = (width - keep) // 2
        return image.crop((left, 0, left + keep, height))
    keep = max(1, round(width / want))
    top = (height - keep) // 2
    return image.crop((0, top, width, top + keep))


def _progressive_scan(spans: Spans, limits: Limits) -> Picture | None:
    if limits.scan_bytes <= 0:
        return None
    data = formats.first_scan_bytes(spans, limits.scan_bytes)
    if data is None:
        return None
    image = decode.picture(data, ("JPEG",), first_scan=True)
    if min(image.size) < MIN_SCAN_SIDE:
        raise decode.DecodeRefused(f"a {image.size[0]}x{image.size[1]} first scan is too coarse")
    return Picture("progressive_scan", image, True)


def _exif_thumbnail(spans: Spans, limits: Limits) -> Picture | None:
    thumb = formats.thumbnail_span(spans, MAX_THUMBNAIL_BYTES)
    data = spans.get(*thumb) if thumb is not None else None
    if data is None:
        return None
    if data[:2] != b"\xff\xd8":
        raise decode.DecodeRefused("the EXIF thumbnail is not JPEG data")
    image = decode.picture(data, ("JPEG",))
    return Picture("exif_thumbnail", unletterboxed(image, _declared(spans)), True)


def _whole_file(spans: Spans, limits: Limits) -> Picture | None:
    if spans.size is None or spans.size > limits.whole_bytes:
        return None
    data = held_file(spans)
    if data is None:
        return None
    return Picture("whole_file", decode.picture(data), True)


def top_band(spans: Spans, limits: Limits) -> Picture | None:
    if limits.band <= 0 or limits.band_bytes <= 0:
        return None
    found = band_data(spans, limits.band_bytes)
    if found is None:
        return None
    fmt, data, width, height = found
    return Picture("top_band", decode.band(fmt, data, width, height, limits.band), False)


Source = Callable[[Spans, Limits], Picture | None]
#: The sources in the order tried.
SOURCES: tuple[Source, ...] = (_whole_file, _progressive_scan, _exif_thumbnail, top_band)


def pick(spans: Spans, limits: Limits, sources: tuple[Source, ...] = SOURCES,
         ) -> tuple[Picture | None, list[str]]:
    """The first of `sources` held and decodable, and why each one tried
    before it was refused (``"exif_thumbnail: 9000x9000 pixels is over 4000000"``)."""
    refused: list[str] = []
    for source in sources:
        try:
            found = source(spans, limits)
        except decode.DecodeRefused as exc:
            refused.append(f"{source.__name__.lstrip('_')}: {exc}")
            continue
        if found is not None:
            return found, refused
    return None, refused
