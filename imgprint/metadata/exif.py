"""EXIF tags as the seed tool recorded them: exifread, ``details=False``, ``str()`` values.

``exif_tags`` is the fallback for files no parser of ``imgprint.formats``
recognises. It runs exifread over a ``SpanReader`` with a budget of reads and
bytes, so a walk that loops (exifread's ISO box walker stands still on a box of
size 0) ends with ``ExifError`` after a bounded number of steps; and it does not
run at all over box-based files (JPEG XL, unknown ISO-BMFF brands), which our
own parsers do not read and exifread cannot walk safely.
"""

from __future__ import annotations

import logging
from typing import BinaryIO, cast

import exifread

from imgprint.spans import SpanReader, Spans

# exifread logs "file does not have exif data" and similar at WARNING/ERROR for
# every image without EXIF; that is a normal outcome here, not a problem.
logging.getLogger("exifread").setLevel(logging.CRITICAL)

JXL_SIGNATURE = b"\0\0\0\x0cJXL \r\n\x87\n"
#: Reads the fallback walk may do (exifread reads array values one by one: a
#: real 10,241-byte prefix can take several thousand).
FALLBACK_READS = 100_000
# Binary blobs the seed tool did not store.
BLOB_TAGS = frozenset({"JPEGThumbnail", "TIFFThumbnail"})


class ExifError(Exception):
    """exifread failed on these bytes (corrupt or truncated metadata)."""


def box_based(data: bytes) -> bool:
    """A file exifread would walk as ISO boxes (an ``ftyp`` box, JPEG XL's signature)."""
    return data[4:8] == b"ftyp" or data[:12] == JXL_SIGNATURE


def exif_tags(data: bytes) -> dict[str, str]:
    """Tags exifread finds in ``data``, each value as ``str(value)``."""
    if box_based(data):
        return {}
    spans = Spans(len(data))
    spans.add(0, data)
    try:
        reader = cast(BinaryIO, SpanReader(spans, max_reads=FALLBACK_READS))
        tags = exifread.process_file(reader, details=False, extract_thumbnail=False)
    except Exception as exc:  # exifread raises anything on corrupt input
        detail = str(exc) or ("data ends early" if isinstance(exc, EOFError) else "no details")
        raise ExifError(f"{type(exc).__name__}: {detail}") from exc
    return tag_strings(tags)


def tag_strings(tags: dict) -> dict[str, str]:
    """exifread's tags as the seed tool stored them: ``str()`` of each value,
    without thumbnails or other binary blobs."""
    out = {}
    for key, value in tags.items():
        if key in BLOB_TAGS or isinstance(value, (bytes, bytearray)):
            continue
        try:
            out[key] = str(value)
        except Exception as exc:  # a corrupt value can break exifread's printer
            raise ExifError(f"unprintable EXIF tag {key}: {exc!r}") from exc
    return out
