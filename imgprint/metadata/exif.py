"""EXIF tags as the seed tool recorded them: exifread, ``details=False``, ``str()`` values."""

from __future__ import annotations

import io
import logging

import exifread

# exifread logs "file does not have exif data" and similar at WARNING/ERROR for
# every image without EXIF; that is a normal outcome here, not a problem.
logging.getLogger("exifread").setLevel(logging.CRITICAL)

# Binary blobs the seed tool did not store.
BLOB_TAGS = frozenset({"JPEGThumbnail", "TIFFThumbnail"})


class ExifError(Exception):
    """exifread failed on these bytes (corrupt or truncated metadata)."""


def exif_tags(data: bytes) -> dict[str, str]:
    """Tags exifread finds in ``data``, each value as ``str(value)``."""
    try:
        tags = exifread.process_file(io.BytesIO(data), details=False)
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
