"""Bounded decoding of the pictures the perceptual hashes read.

Every decode is checked from the header before any pixel is decoded: only the
formats named are opened (JPEG, PNG, GIF, WebP), at most ``MAX_PIXELS`` pixels
are decoded (after libjpeg's DCT scaling), and a progressive JPEG, whose
decoder holds every DCT coefficient of the *declared* size whatever the
scaling, at most ``MAX_COEFFICIENT_BYTES`` of coefficients. A 100 KB PNG that
claims 50,000 x 50,000 pixels is refused before decoding, with the reason in
``DecodeRefused``; the caller records it and goes on. The time cap is the
caller's (the pipeline runs these on a worker thread under
``limits.TIME_LIMIT``; Pillow's decoders release the GIL).

`picture` decodes a whole picture (a small file, an EXIF thumbnail, the first
scan of a progressive JPEG at 1/8 scale); `band` decodes only the first rows
of a file cut after its first coded bytes (``imgprint.formats.picture``): its
header is given the band's height, so the decoder stops there, and a band
whose rows are not all held is refused, never padded.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from typing import Any

from PIL import Image

from imgprint.fingerprint.webp_rows import WebpRefused, WebpShort, webp_rows

#: Most pixels decoded (after DCT scaling).
MAX_PIXELS = 4_000_000
#: Most memory a progressive decode may take for its coefficient buffers.
MAX_COEFFICIENT_BYTES = 160 * 1024 * 1024
#: Formats decoded, by Pillow's names.
FORMATS = ("JPEG", "PNG", "GIF", "WEBP")
#: Smallest side a JPEG is scaled down to by DCT scaling (the hashes resize to
#: 32 and 64 pixels; PDQ's guidance is to hash at most 512).
MIN_SIDE = 256
#: Fewest rows a band is decoded at.
MIN_BAND_ROWS = 32


class DecodeRefused(Exception):
    """The data was refused before decoding, or could not be decoded."""


class BandShort(DecodeRefused):
    """A band's rows are not all held: more of its coded bytes may give it."""


def coefficient_bytes(image: Any) -> int:
    """Bytes libjpeg allocates for a progressive image's coefficients: two per
    sample of every component at its sampling factor, over the declared size."""
    layers = getattr(image, "layer", None) or [("", 1, 1, 0)] * len(image.getbands())
    hmax = max(h for _, h, _, _ in layers) or 1
    vmax = max(v for _, _, v, _ in layers) or 1
    width, height = image.size
    mcu_w, mcu_h = -(-width // (8 * hmax)), -(-height // (8 * vmax))
    return sum(mcu_w * h * mcu_h * v * 64 * 2 for _, h, v, _ in layers)


def _scale(width: int, height: int, min_w: int, min_h: int) -> int:
    """The largest DCT scale (1, 2, 4, 8) keeping at least `min_w` x `min_h`."""
    for scale in (8, 4, 2):
        if width // scale >= min_w and height // scale >= min_h:
            return scale
    return 1


def _open(data: bytes, allowed: tuple[str, ...]) -> Any:
    try:
        return Image.open(io.BytesIO(data), formats=list(allowed))
    except Exception as exc:  # noqa: BLE001 - Pillow raises anything on bad data
        # Pillow names the stream object (an address) in some messages: the
        # record must say the same for the same bytes.
        message = re.sub(r"\s*<[^<>]*\bat 0x[0-9a-f]+>", "", str(exc))
        raise DecodeRefused(f"not decodable: {type(exc).__name__}: {message}") from exc


def _check(image: Any) -> None:
    width, height = image.size
    if image.format == "JPEG" and (image.info.get("progressive")
                                   or image.info.get("progression")):
        need = coefficient_bytes(image)
        if need > MAX_COEFFICIENT_BYTES:
            raise DecodeRefused(f"a progressive {width}x{height} JPEG needs {need} bytes"
                                f" of coefficients, over {MAX_COEFFICIENT_BYTES}")
    if width * height > MAX_PIXELS:
        raise DecodeRefused(f"{width}x{height} pixels is over {MAX_PIXELS}")
    if width < 1 or height < 1:
        raise DecodeRefused(f"{width}x{height} pixels")


def _load(image: Any) -> Image.Image:
    try:
        image.load()
        return image.convert("RGB")
    except Exception as exc:  # noqa: BLE001 - Pillow raises anything on bad data
        raise DecodeRefused(f"{type(exc).__name__}: {exc}") from exc


def picture(data: bytes, allowed: tuple[str, ...] = FORMATS, first_scan: bool = False
            ) -> Image.Image:
    """The whole picture `data` holds, as RGB, within the caps. A JPEG is
    decoded at the smallest DCT scale keeping ``MIN_SIDE`` pixels a side
    (`first_scan`: at 1/8, where each 8x8 block is its DC value). Animated
    GIF and WebP: the first frame."""
    with warnings.catch_warnings():
        # Pillow's own bomb check warns below 2x its limit; ours is tighter.
        warnings.simplefilter("ignore")
        image = _open(data, allowed)
        if image.format == "JPEG":
            width, height = image.size
            scale = 8 if first_scan else _scale(width, height, MIN_SIDE, MIN_SIDE)
            if scale > 1:
                image.draft(image.mode, (-(-width // scale), -(-height // scale)))
        _check(image)
        return _load(image)


def _with_height(fmt: str, data: bytes, rows: int) -> bytes:
    """`data` (from ``formats.picture.band_data``) with the picture's height set
    to `rows` in its header: the decoder stops after them."""
    out = bytearray(data)
    if fmt == "png":
        import zlib

        out[20:24] = rows.to_bytes(4, "big")
        out[29:33] = (zlib.crc32(bytes(out[12:29])) & 0xFFFFFFFF).to_bytes(4, "big")
        return bytes(out)
    pos = 2
    while pos + 4 <= len(out) and out[pos] == 0xFF:
        marker = out[pos + 1]
        if marker in (0xC0, 0xC1):
            out[pos + 5:pos + 7] = rows.to_bytes(2, "big")
            return bytes(out)
        pos += 2 + int.from_bytes(out[pos + 2:pos + 4], "big")
    raise DecodeRefused("no frame header")


def band(fmt: str, data: bytes, width: int, height: int, fraction: float) -> Image.Image:
    """The top `fraction` of the picture (rows [0, ceil(fraction * height))) from a
    file cut after its first coded bytes, as RGB; refused unless every one of
    those rows is held. A JPEG band is decoded at a DCT scale keeping
    ``MIN_SIDE`` pixels across and ``MIN_BAND_ROWS`` rows."""
    rows = band_rows(height, fraction)
    if width < 1 or height < 1:
        raise DecodeRefused(f"{width}x{height} pixels")
    # Before Pillow opens it: a JPEG band may still be scaled down 8 times.
    if width * rows > MAX_PIXELS * (64 if fmt == "jpeg" else 1):
        raise DecodeRefused(f"{width}x{rows} pixels is over {MAX_PIXELS}")
    if fmt == "webp":
        try:
            return webp_rows(data, width, height, rows)
        except WebpShort as exc:
            raise BandShort(str(exc)) from exc
        except WebpRefused as exc:
            raise DecodeRefused(str(exc)) from exc
    allowed = ("JPEG",) if fmt == "jpeg" else ("PNG",)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        image = _open(_with_height(fmt, data, rows), allowed)
        if image.format == "JPEG":
            scale = _scale(width, rows, MIN_SIDE, MIN_BAND_ROWS)
            if scale > 1:
                image.draft(image.mode, (-(-width // scale), -(-rows // scale)))
        _check(image)
        # A band not all held ends the data early: Pillow raises "truncated"
        # (ImageFile.LOAD_TRUNCATED_IMAGES stays off), never pads.
        try:
            return _load(image)
        except DecodeRefused as exc:
            if "truncated" in str(exc):
                raise BandShort(str(exc)) from exc
            raise


def band_rows(height: int, fraction: float) -> int:
    """Rows of the top band of a picture `height` rows high."""
    return max(1, min(height, math.ceil(round(fraction * height, 6))))
