"""Sparse view of a remote file: the byte ranges fetched so far.

The crawler holds a prefix of a remote image plus a few follow-up Range
responses.  `Spans` keeps them merged and sorted and presents them as a
read-only file object in which the gaps read as zero bytes, so parsers
written for whole files (exifread) can run over partial data.

Reads never allocate much past the bytes held: a read fills at most
``MAX_GAP_FILL`` bytes of gaps with zeros and comes back short after that, so a
length field of 4 GB in a file whose server claims a terabyte costs 64 KiB,
not 4 GB. A ``SpanReader`` also has a budget of reads and bytes for one walk
(``MAX_READS``, ``MAX_READ_BYTES``): past it, every read raises
``ReadBudgetExceeded``, so a parser that loops (exifread's box walker over a
box of size 0) stops within a bounded number of steps.
"""

from __future__ import annotations

import bisect
import io
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

#: A half-open byte range [start, end) of the file.
Range = tuple[int, int]
#: A metadata block: (kind, start, end), the absolute half-open range of its
#: payload (`imgprint.formats.blocks` lists the kinds).
Block = tuple[str, int, int]
#: Largest single range a parser asks for: a hostile length field must not
#: turn into a request for gigabytes.
MAX_SPAN = 1 << 20
#: Most zero bytes one read hands out for gaps (unheld bytes) before it stops short.
MAX_GAP_FILL = 64 * 1024
#: Budget of one ``SpanReader`` (one parser walk): reads, and bytes handed out.
MAX_READS = 50_000
MAX_READ_BYTES = 8 * 1024 * 1024


def join_ranges(ranges: Iterable[Range], gap: int = 1) -> list[Range]:
    """`ranges` sorted, those less than `gap` bytes apart joined into one (the
    default joins only overlapping and touching ones)."""
    out: list[Range] = []
    for s, e in sorted(ranges):
        if out and s - out[-1][1] < gap:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


class ReadBudgetExceeded(EOFError):
    """A parser walk read more often, or more bytes, than any real file needs."""

T = TypeVar("T")


class Spans:
    """Known byte ranges of one remote file (half-open intervals)."""

    def __init__(self, size: int | None = None) -> None:
        self.size = size if size is None or size >= 0 else None
        self._starts: list[int] = []
        self._chunks: list[bytes] = []
        # Results of parsers over the bytes held now; cleared when bytes arrive.
        self._memo: dict[Hashable, Any] = {}

    def __repr__(self) -> str:
        ranges = ", ".join(f"{s}-{e}" for s, e in self.ranges())
        return f"Spans(size={self.size}, [{ranges}])"

    def __getstate__(self) -> dict[str, Any]:
        # A worker process (imgprint.workers) gets the bytes, not the parsers'
        # memo: that would add ~20 % to what is copied and the worker's own
        # walks recompute what it uses.
        return {**self.__dict__, "_memo": {}}

    def ranges(self) -> list[Range]:
        """The held intervals, sorted and disjoint."""
        return [(s, s + len(c)) for s, c in zip(self._starts, self._chunks, strict=True)]

    def add(self, offset: int, data: bytes) -> None:
        """Add `data` found at `offset`; overlapping ranges are merged."""
        if offset < 0 or not data:
            return
        self._memo.clear()
        data = bytes(data)
        if self.size is not None:
            data = data[: max(0, self.size - offset)]
            if not data:
                return
        start, end = offset, offset + len(data)
        # Gather every held chunk touching [start, end] and splice them into one.
        i = bisect.bisect_right(self._starts, start) - 1
        if i >= 0 and self._starts[i] + len(self._chunks[i]) < start:
            i += 1
        i = max(i, 0)
        j = i
        new_start, new_end = start, end
        while j < len(self._starts) and self._starts[j] <= end:
            new_start = min(new_start, self._starts[j])
            new_end = max(new_end, self._starts[j] + len(self._chunks[j]))
            j += 1
        buf = bytearray(new_end - new_start)
        for k in range(i, j):
            s = self._starts[k] - new_start
            buf[s : s + len(self._chunks[k])] = self._chunks[k]
        # New data wins over old where they overlap.
        buf[start - new_start : end - new_start] = data
        self._starts[i:j] = [new_start]
        self._chunks[i:j] = [bytes(buf)]

    def _find(self, start: int) -> int:
        """Index of the chunk containing `start`, or -1."""
        i = bisect.bisect_right(self._starts, start) - 1
        if i >= 0 and start < self._starts[i] + len(self._chunks[i]):
            return i
        return -1

    def has(self, start: int, end: int) -> bool:
        """True when all of [start, end) is held (empty ranges are held)."""
        if end <= start:
            return True
        i = self._find(start)
        return i >= 0 and end <= self._starts[i] + len(self._chunks[i])

    def get(self, start: int, end: int) -> bytes | None:
        """The bytes of [start, end), or None unless all of them are held."""
        if start < 0:
            return None
        if end <= start:
            return b""
        i = self._find(start)
        if i < 0 or end > self._starts[i] + len(self._chunks[i]):
            return None
        s = start - self._starts[i]
        return self._chunks[i][s : s + end - start]

    def get_partial(self, start: int, end: int) -> bytes:
        """The held bytes from `start` up to `end` or the first gap."""
        i = self._find(max(start, 0))
        if i < 0:
            return b""
        s = start - self._starts[i]
        return self._chunks[i][s : s + max(0, end - start)]

    def missing(self, start: int, end: int) -> list[Range]:
        """The sub-ranges of [start, end) not held, clipped to the file size."""
        start = max(start, 0)
        if self.size is not None:
            end = min(end, self.size)
        out: list[Range] = []
        pos = start
        i = max(bisect.bisect_right(self._starts, start) - 1, 0)
        while pos < end and i < len(self._starts):
            s, e = self._starts[i], self._starts[i] + len(self._chunks[i])
            if e <= pos:
                i += 1
                continue
            if s >= end:
                break
            if s > pos:
                out.append((pos, s))
            pos = max(pos, e)
            i += 1
        if pos < end:
            out.append((pos, end))
        return out

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, computed once for the bytes held now.

        Planning the next fetch, deciding the metadata is complete and
        extracting the tags walk the same structures; each walk runs once.
        """
        try:
            value: T = self._memo[key]
        except KeyError:
            value = self._memo[key] = compute()
        return value

    def held(self) -> int:
        """Total number of bytes held."""
        return sum(len(c) for c in self._chunks)

    def extent(self) -> int:
        """Length of the presented file: the size, else the furthest byte held."""
        if self.size is not None:
            return self.size
        if not self._starts:
            return 0
        return self._starts[-1] + len(self._chunks[-1])

    def read_at(self, pos: int, n: int) -> bytes:
        """Up to `n` bytes at `pos` (short at the end), gaps as zero bytes.

        Short, too, once ``MAX_GAP_FILL`` zeros were handed out: what a read
        allocates is bounded by the bytes held, not by a length field.
        """
        end = min(pos + max(n, 0), self.extent())
        if pos < 0 or end <= pos:
            return b""
        i = max(bisect.bisect_right(self._starts, pos) - 1, 0)
        if i < len(self._starts):
            s, c = self._starts[i], self._chunks[i]
            if s <= pos and end <= s + len(c):  # the common case: inside one chunk
                return c[pos - s : end - s]
        out = bytearray()
        zeros = MAX_GAP_FILL
        here = pos
        while here < end:
            if i < len(self._starts) and self._starts[i] + len(self._chunks[i]) <= here:
                i += 1
                continue
            s = self._starts[i] if i < len(self._starts) else end
            if s > here:  # a gap up to the next chunk (or the end)
                fill = min(s, end) - here
                if fill > zeros:
                    out += bytes(zeros)
                    break
                zeros -= fill
                out += bytes(fill)
                here += fill
                continue
            c = self._chunks[i]
            hi = min(s + len(c), end)
            out += c[here - s : hi - s]
            here = hi
        return bytes(out)

    def reader(self, base: int = 0) -> SpanReader:
        """A read-only file object over the file from `base` on, gaps as zeros."""
        return SpanReader(self, base)


class SpanReader(io.RawIOBase):
    """Seekable file object over a `Spans`, optionally shifted to start at `base`.

    Every read is reported to `on_read(abs_start, abs_end)` when set, which is
    how the exifread walk is turned into a list of byte ranges it needs.
    After `max_reads` reads or `max_bytes` bytes, reads raise ``ReadBudgetExceeded``.
    """

    def __init__(self, spans: Spans, base: int = 0,
                 on_read: Callable[[int, int], None] | None = None,
                 max_reads: int = MAX_READS, max_bytes: int = MAX_READ_BYTES) -> None:
        super().__init__()
        self._spans = spans
        self._base = base
        self._pos = 0
        self.on_read = on_read
        self.reads_left = max_reads
        self.bytes_left = max_bytes

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._spans.extent() - self._base + offset
        else:
            raise ValueError(f"bad whence {whence}")
        if pos < 0:
            raise ValueError("negative seek position")
        self._pos = pos
        return pos

    def read(self, size: int | None = -1) -> bytes:
        length = self._spans.extent() - self._base
        if size is None or size < 0:
            size = max(0, length - self._pos)
        size = min(size, max(0, length - self._pos))
        start = self._base + self._pos
        if size > 0:  # reads at the end cost nothing: not counted
            self.reads_left -= 1
        if self.reads_left < 0 or self.bytes_left <= 0:
            raise ReadBudgetExceeded("read budget of one walk exceeded")
        if self.on_read is not None and size > 0:
            self.on_read(start, start + size)
        data = self._spans.read_at(start, min(size, self.bytes_left))
        self.bytes_left -= len(data)
        self._pos += len(data)
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        return self.read(-1)
