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

import io
from typing import Any, BinaryIO, cast

import exifread

from imgprint.limits import SEED_PREFIX_BYTES
from imgprint.metadata.exif import ExifError, tag_strings
from imgprint.spans import (
    MAX_GAP_FILL,
    MAX_READ_BYTES,
    ReadBudgetExceeded,
    Spans,
)
from imgprint.spans import MAX_READS as MAX_SPAN_READS

from .exif_plan import WINDOW as WINDOW
from .exif_plan import exif_needed as exif_needed


class FormatError(Exception):
    """Corrupt image data that exifread could not get through."""


#: Most bytes copied into a `BufferReader` (beyond them, reads go to the spans).
BUFFER_BYTES = 4 << 20


class BufferReader(io.BytesIO):
    """A `SpanReader` from `base` (gaps as zeros, the same read and byte budgets,
    the same answers) over one buffer of the held bytes, so that exifread's seeks
    and short reads, which are most of its reads, stay in C: half exifread's time
    on the corpus. Reads past the buffer, or longer than the gap fill of one
    span read, are the spans' own.

    Seeks are BytesIO's own, in C: exifread seeks only from the start and from
    the current position (``whence`` 0 and 1), which the buffer answers as the
    file would; from the end it never seeks (and here that end is the buffer's).
    A Python ``seek`` cost 2 % of a crawl's time."""

    def __init__(self, spans: Spans, base: int) -> None:
        self._spans, self._base = spans, base
        self._length = max(0, spans.extent() - base)
        ranges = spans.ranges()
        end = min(ranges[-1][1] if ranges else base, base + BUFFER_BYTES, base + self._length)
        buf = bytearray(max(0, end - base))
        for s, e in ranges:
            lo, hi = max(s, base), min(e, end)
            if lo < hi:
                buf[lo - base : hi - base] = spans.get(lo, hi) or b""
        super().__init__(bytes(buf))
        self._fast_end = len(buf)
        # Nothing is held past the buffer: a read there is all gap.
        self._nothing_after = not ranges or end >= ranges[-1][1] or end >= base + self._length
        self.reads_left = MAX_SPAN_READS
        self.bytes_left = MAX_READ_BYTES

    def read(self, size: int | None = -1) -> bytes:
        pos = self.tell()
        left = self._length - pos if pos < self._length else 0
        if size is None or size < 0 or size > left:
            size = left
        if size > 0:  # reads at the end cost nothing: not counted (as before the budget)
            self.reads_left -= 1
        if self.reads_left < 0 or self.bytes_left <= 0:
            raise ReadBudgetExceeded("read budget of one walk exceeded")
        n = size if size <= self.bytes_left else self.bytes_left
        if n <= MAX_GAP_FILL and pos + n <= self._fast_end:
            data = super().read(n)
        elif n <= MAX_GAP_FILL and pos >= self._fast_end and self._nothing_after:
            data = bytes(n)  # past every held byte: a gap, as zeros
            super().seek(pos + n)
        else:
            data = self._spans.read_at(self._base + pos, n)
            super().seek(pos + len(data))
        self.bytes_left -= len(data)
        return data


def _walk(spans: Spans, base: int) -> dict[str, Any] | Exception:
    """One exifread run from the TIFF header at `base`: its tags, or the error
    that stopped it."""
    def run() -> dict[str, Any] | Exception:
        try:
            # exifread only reads, seeks and tells.
            reader = cast(BinaryIO, BufferReader(spans, base))
            result: dict[str, Any] | Exception = exifread.process_file(
                reader, details=False, extract_thumbnail=False)
        except Exception as err:  # noqa: BLE001 - exifread raises anything on bad data
            result = err
        return result
    # Facts, summary and tags may all ask: run it once for the bytes held.
    return spans.memo(("exif_walk", base), run)


def _value_held(spans: Spans, base: int, tag: Any) -> bool:
    """Whether exifread read the tag's value from held bytes, not from a gap.

    A walk stopped by the follow-up cap leaves values unread, which the view
    gives as zeros ("0/0", "", [0, 0]): a record must not show those as the
    file's. A value exifread leaves out whatever the bytes (a long array
    printed as ``[]``) does not depend on them."""
    offset, length = getattr(tag, "field_offset", None), getattr(tag, "field_length", None)
    if not isinstance(offset, int) or not isinstance(length, int) or length <= 0:
        return True
    return spans.has(base + offset, base + offset + length) or str(tag) == "[]"


def _seed_view(spans: Spans) -> Spans:
    """The first `SEED_PREFIX_BYTES` alone: what the seed tool read."""
    view = Spans(spans.size)
    view.add(0, spans.get_partial(0, SEED_PREFIX_BYTES))
    return view


def exif_tags_at(spans: Spans, base: int, unfinished: bool = False) -> dict[str, str]:
    """exifread's tags (details=False) of the TIFF blob at `base`, as strings.

    `unfinished`: the follow-ups stopped before the plan was complete, so some
    values lie in bytes not held; those tags are left out, unless the seed tool
    recorded them: it read its 10,241-byte prefix the same way, gaps as zeros,
    and its keys are the compatibility contract (README, "Record format"). A
    finished plan holds every value exifread reads (or a value the plan leaves
    out on purpose, an offset outside the structure, which the whole file
    gives as the same garbage), so nothing is dropped."""
    tags = _walk(spans, base)
    if isinstance(tags, Exception):
        raise FormatError(f"exifread failed on EXIF at {base}: {tags!r}") from tags
    if not unfinished:
        held = dict(tags)
    else:
        held = {k: v for k, v in tags.items() if _value_held(spans, base, v)}
    if len(held) < len(tags) and base < SEED_PREFIX_BYTES:
        seed = _walk(_seed_view(spans), base)
        if isinstance(seed, dict):
            held = {k: v for k, v in tags.items() if k in held or k in seed}
    try:
        return tag_strings(held)
    except ExifError as err:
        raise FormatError(str(err)) from err
