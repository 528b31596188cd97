"""What the fingerprints hash: the coded-data spans and content hash, the EXIF
thumbnail and the first scan of a progressive JPEG.

The content hash is SHA-256 over the bytes that decode to the image and
nothing of its metadata containers, so copies that differ only in metadata
hash alike.  The thumbnail and the first scan are the small images the
perceptual hash is computed from when they spare fetching the whole file.
"""

from __future__ import annotations

import hashlib

from imgprint.spans import Range, Spans

from . import jpeg_coded
from .dispatch import exif_offset, guard, parser
from .jpeg_coded import FirstScan
from .tiff_ifd import thumbnail_span as exif_thumbnail_span


def content_spans(spans: Spans, k: int) -> list[Range] | None:
    """The spans of the coded image data whose bytes make `content_hash`: the
    format's decoding headers and the first `k` bytes of image data, no metadata
    container; None when the format has none or the structure is not held yet."""
    _, found = parser(spans)
    func = found.content_spans if found is not None else None
    if func is None or k <= 0:
        return None
    return guard("content_spans", None, func, spans, k)


def content_hash(spans: Spans, k: int) -> str | None:
    """SHA-256 (hex) over the bytes of `content_spans`, concatenated; None unless
    they are all held."""
    todo = content_spans(spans, k)
    if not todo:
        return None
    digest = hashlib.sha256()
    for start, end in todo:
        data = spans.get(start, end)
        if data is None:
            return None
        digest.update(data)
    return digest.hexdigest()


def thumbnail_span(spans: Spans, max_bytes: int) -> Range | None:
    """Where the EXIF JPEG thumbnail (IFD1) is, if the EXIF structure we hold says."""
    off = exif_offset(spans)
    if off is None:
        return None
    return guard("thumbnail_span", None, exif_thumbnail_span, spans, off, max_bytes)


def _first_scan(spans: Spans) -> FirstScan | None:
    """`jpeg_coded.first_scan` of a progressive JPEG; None for anything else."""
    fmt, _ = parser(spans)
    if fmt != "jpeg":
        return None
    return guard("first_scan", None, jpeg_coded.first_scan, spans)


def scan_want(spans: Spans, max_bytes: int) -> Range | None:
    """The next piece of a progressive JPEG's first scan to fetch, if any."""
    found = _first_scan(spans)
    return None if found is None else jpeg_coded.scan_want(spans, found, max_bytes)


def first_scan_bytes(spans: Spans, max_bytes: int) -> bytes | None:
    """A self-contained JPEG holding only the first scan of a progressive JPEG:
    its tables, frame and scan headers (and APP14, which says how to convert
    colours), the first scan's data and EOI; None unless all of it is held
    within `max_bytes` of scan data."""
    found = _first_scan(spans)
    return None if found is None else jpeg_coded.first_scan_jpeg(spans, found, max_bytes)
