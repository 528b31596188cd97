"""The EXIF engine shared by every format: exifread run over sparse data.

EXIF is a TIFF structure wherever it lives, and exifread reads it by seeking
around the TIFF blob.  Rather than re-implement exifread's walk to learn which
bytes it touches, we run exifread itself over a sparse view of the file in
which the gaps read as zeros, and record the reads that fell into gaps.
Zeros stop the walk where data is missing (an IFD with 0 entries), so each
round of fetching reveals the next layer; reads are widened to windows so a
layer usually comes in one request.  Because the view is the file itself,
shifted to the TIFF header, the tags equal exifread's over the whole file.
"""

from __future__ import annotations

from typing import Any, BinaryIO, cast

import exifread

from ..metadata.exif import ExifError, tag_strings
from .spans import MAX_SPAN, Range, SpanReader, Spans

#: Upper bound on reads exifread may do in one run; a hostile IFD can ask for
#: 65535 entries x 1000 values each.
MAX_READS = 20_000
#: A read into a gap is widened to this many bytes: IFDs and their values
#: tend to sit together, so one window usually covers a whole layer.
WINDOW = 2048


class FormatError(Exception):
    """Corrupt image data that exifread could not get through."""


class _TooManyReads(Exception):
    pass


class _Recorder:
    """Collects the absolute ranges exifread reads, bounded in count."""

    def __init__(self, spans: Spans) -> None:
        self.spans = spans
        self.reads = 0
        self.gaps: list[Range] = []

    def __call__(self, start: int, end: int) -> None:
        self.reads += 1
        if self.reads > MAX_READS:
            raise _TooManyReads
        end = min(end, start + MAX_SPAN)
        if not self.spans.has(start, end):
            self.gaps.extend(self.spans.missing(start, end))


def _walk(spans: Spans, base: int) -> tuple[dict[str, Any] | Exception, list[Range]]:
    """One exifread run from the TIFF header at `base`: its tags (or the error
    that stopped it) and the absolute ranges it read that are not held."""
    def run() -> tuple[dict[str, Any] | Exception, list[Range]]:
        rec = _Recorder(spans)
        try:
            # exifread only reads, seeks and tells: the raw reader will do.
            reader = cast(BinaryIO, SpanReader(spans, base, on_read=rec))
            result: dict[str, Any] | Exception = exifread.process_file(
                reader, details=False, extract_thumbnail=False)
        except Exception as err:  # noqa: BLE001 - exifread raises anything on bad data
            result = err
        return result, rec.gaps
    # Planning, the completeness check and the tags all need this walk: run it once.
    return spans.memo(("exif_walk", base), run)


def exif_needed(spans: Spans, base: int, window: int = WINDOW) -> list[Range]:
    """Absolute ranges exifread would read, from a TIFF header at `base`, not yet held."""
    if not spans.has(base, base + 8):
        return [(base, base + window)]
    out = []
    for s, e in _walk(spans, base)[1]:
        # Values sit on both sides of the IFD that points at them.
        e = max(e, s + window)
        s = max(base, s - window // 4)
        out.append((s, min(e, s + MAX_SPAN)))
    return out


def exif_tags_at(spans: Spans, base: int) -> dict[str, str]:
    """exifread's tags (details=False) of the TIFF blob at `base`, as strings."""
    tags = _walk(spans, base)[0]
    if isinstance(tags, _TooManyReads):
        raise FormatError(f"EXIF at {base} needs more than {MAX_READS} reads") from tags
    if isinstance(tags, Exception):
        raise FormatError(f"exifread failed on EXIF at {base}: {tags!r}") from tags
    try:
        return tag_strings(tags)
    except ExifError as err:
        raise FormatError(str(err)) from err
