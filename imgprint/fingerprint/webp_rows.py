"""The first rows of a WebP cut short, through libwebp's incremental decoder.

Pillow decodes a WebP only whole; libwebp's incremental API (``WebPINewRGB``,
``WebPIUpdate``, ``WebPIDecGetRGB``, ``WebPIDelete``: its public, stable C API)
decodes what it is given and says how many rows are final (``last_y``). The
library is the system's ``libwebp`` (Debian: libwebp7), else the copy inside
Pillow's wheel. The decoder allocates the whole canvas, so the declared size
is checked against ``MAX_CANVAS_PIXELS`` first; libwebp reads that size from
the same header bytes and a canvas of another size is refused.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from pathlib import Path
from typing import Any

from PIL import Image

#: Largest canvas libwebp may allocate for a band (RGB: 48 MiB).
MAX_CANVAS_PIXELS = 16 * 1024 * 1024
_MODE_RGB = 0  # WEBP_CSP_MODE
_OK, _SUSPENDED = 0, 5  # VP8StatusCode


class WebpRefused(Exception):
    """libwebp is missing, refused the data, or the rows are not all held."""


class WebpShort(WebpRefused):
    """The data held ends before the rows asked for."""


@functools.cache
def _library() -> Any:
    """libwebp with the four functions typed; None when not found."""
    import PIL

    names = [ctypes.util.find_library("webp")]
    names += [str(p) for p in sorted((Path(PIL.__file__).parent.parent / "pillow.libs")
                                     .glob("libwebp-*.so*"))]
    for name in names:
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.WebPINewRGB.restype = ctypes.c_void_p
        lib.WebPINewRGB.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        lib.WebPIUpdate.restype = ctypes.c_int
        lib.WebPIUpdate.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.WebPIDecGetRGB.restype = ctypes.POINTER(ctypes.c_uint8)
        lib.WebPIDecGetRGB.argtypes = [ctypes.c_void_p] + [ctypes.POINTER(ctypes.c_int)] * 4
        lib.WebPIDelete.restype = None
        lib.WebPIDelete.argtypes = [ctypes.c_void_p]
        return lib
    return None


def webp_rows(data: bytes, width: int, height: int, rows: int) -> Image.Image:
    """Rows [0, `rows`) of the `width` x `height` WebP whose first bytes are
    `data`, as RGB; WebpRefused unless libwebp decoded every one of them."""
    if width < 1 or height < 1 or width * height > MAX_CANVAS_PIXELS:
        raise WebpRefused(f"a {width}x{height} canvas is over {MAX_CANVAS_PIXELS} pixels")
    lib = _library()
    if lib is None:
        raise WebpRefused("libwebp not found")
    idec = lib.WebPINewRGB(_MODE_RGB, None, 0, 0)
    if not idec:
        raise WebpRefused("libwebp could not start a decoder")
    try:
        status = lib.WebPIUpdate(idec, data, len(data))
        if status not in (_OK, _SUSPENDED):
            raise WebpRefused(f"libwebp status {status}")
        last, w, h, stride = (ctypes.c_int() for _ in range(4))
        pixels = lib.WebPIDecGetRGB(idec, ctypes.byref(last), ctypes.byref(w),
                                    ctypes.byref(h), ctypes.byref(stride))
        if status == _SUSPENDED and (not pixels or w.value == 0):
            raise WebpShort(f"0 of {rows} rows held")
        if not pixels or (w.value, h.value) != (width, height):
            raise WebpRefused(f"libwebp decoded {w.value}x{h.value}, not {width}x{height}")
        if last.value < rows:
            raise WebpShort(f"{last.value} of {rows} rows held")
        buf = ctypes.string_at(pixels, stride.value * (rows - 1) + 3 * width)
        return Image.frombytes("RGB", (width, rows), buf, "raw", "RGB", stride.value, 1)
    finally:
        lib.WebPIDelete(idec)
