"""The EXIF engine shared by every format: exifread run over sparse data.

EXIF is a TIFF structure wherever it lives. Which bytes of it to fetch is
decided from that structure alone (`exif_plan`: IFD offsets and counts, value
offsets and lengths), never by running exifread; exifread runs once, when the
tags are wanted, over a view of the file in which the gaps read as zeros.
Because the plan covers every byte exifread's walk reads, and the view is the
file itself shifted to the TIFF header, the tags equal exifread's over the
whole file once the plan is complete.
"""

from __future__ import annotations

from typing import Any, BinaryIO, cast

import exifread

from ..metadata.exif import ExifError, tag_strings
from .exif_plan import WINDOW as WINDOW
from .exif_plan import exif_needed as exif_needed
from .spans import SpanReader, Spans

#: Upper bound on reads exifread may do in one run; a hostile IFD can ask for
#: 65535 entries x 1000 values each.
MAX_READS = 20_000


class FormatError(Exception):
    """Corrupt image data that exifread could not get through."""


class _TooManyReads(Exception):
    pass


class _Counter:
    """Counts exifread's reads and stops it after MAX_READS."""

    def __init__(self) -> None:
        self.reads = 0

    def __call__(self, start: int, end: int) -> None:
        self.reads += 1
        if self.reads > MAX_READS:
            raise _TooManyReads


def _walk(spans: Spans, base: int) -> dict[str, Any] | Exception:
    """One exifread run from the TIFF header at `base`: its tags, or the error
    that stopped it."""
    def run() -> dict[str, Any] | Exception:
        try:
            # exifread only reads, seeks and tells: the raw reader will do.
            reader = cast(BinaryIO, SpanReader(spans, base, on_read=_Counter()))
            result: dict[str, Any] | Exception = exifread.process_file(
                reader, details=False, extract_thumbnail=False)
        except Exception as err:  # noqa: BLE001 - exifread raises anything on bad data
            result = err
        return result
    # Facts, summary and tags may all ask: run it once for the bytes held.
    return spans.memo(("exif_walk", base), run)


def exif_tags_at(spans: Spans, base: int) -> dict[str, str]:
    """exifread's tags (details=False) of the TIFF blob at `base`, as strings."""
    tags = _walk(spans, base)
    if isinstance(tags, _TooManyReads):
        raise FormatError(f"EXIF at {base} needs more than {MAX_READS} reads") from tags
    if isinstance(tags, Exception):
        raise FormatError(f"exifread failed on EXIF at {base}: {tags!r}") from tags
    try:
        return tag_strings(tags)
    except ExifError as err:
        raise FormatError(str(err)) from err
