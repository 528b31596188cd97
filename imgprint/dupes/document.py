"""The streaming decoder for feeds that are not JSON lines.

A JSON list as ``-O x.json`` writes it, the seed tool's indented list, a
single object or several: :class:`Document` decodes their values one at a
time from a text buffer refilled a chunk at a time, so no file is read whole
and no value longer than ``bounds.MAX_LINE_BYTES`` is held. A bad value is
reported and reading resumes at the next line that opens an object.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from typing import IO

from imgprint.dupes import bounds
from imgprint.dupes.bounds import (
    InputError,
    OnError,
    Record,
    crowded,
    records_in,
    short_error,
    size_text,
)

# Bounds are read from ``bounds`` when used (tests lower them there).
_MAX_CHUNK = 8 << 20
# A line that opens an array element: where parsing resumes after a bad element.
_RESYNC = re.compile(r"\n[ \t]*\{")


class Document:
    """Stream the values of a JSON document: a list of records, one object or several.

    The text is read ``_CHUNK`` characters at a time into ``buf``; ``pos`` is
    where decoding resumes. Line numbers are counted forward only, from a
    mark, so that naming the line of each record stays linear in the file size.
    """

    def __init__(self, f: IO[str], name: str, on_error: OnError) -> None:
        self.f = f
        self.name = name
        self.on_error = on_error
        self.decode = json.JSONDecoder().raw_decode
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.mark, self.mark_line = 0, 1
        self.depth = 0  # 1 inside the top-level list

    def records(self) -> Iterator[Record]:
        while True:
            if not self._skip_blank():
                if self.depth:
                    self._error(self.line_at(self.pos), "bad JSON: unterminated list")
                return
            c = self.buf[self.pos]
            if c == "[" and not self.depth:
                self.depth = 1
                self.pos += 1
                continue
            if c == "]" and self.depth:
                self.depth = 0
                self.pos += 1
                continue
            try:
                value, end = self.decode(self.buf, self.pos)
            except (ValueError, RecursionError, MemoryError) as exc:
                if self._bad_value(exc):
                    continue
                return
            yield from records_in(value, self.name, self.line_at(self.pos), self.on_error)
            self.pos = end

    def refill(self) -> bool:
        """Drop buf[:pos], append a chunk; False at end of file.

        A value spanning chunks is decoded again after each: the chunk grows
        with what is kept (up to ``_MAX_CHUNK``), so a long value costs a few
        dozen attempts, not one a MiB.
        """
        if self.eof:
            return False
        self.mark_line = self.line_at(self.pos)
        chunk = self.f.read(min(max(bounds._CHUNK, len(self.buf) - self.pos), _MAX_CHUNK))
        self.buf = self.buf[self.pos :] + chunk
        self.pos = self.mark = 0
        self.eof = not chunk
        return bool(chunk)

    def line_at(self, i: int) -> int:
        if i < self.mark:
            return self.mark_line - self.buf.count("\n", i, self.mark)
        self.mark_line += self.buf.count("\n", self.mark, i)
        self.mark = i
        return self.mark_line

    def _skip_blank(self) -> bool:
        """Move past whitespace and commas, reading on; False at end of file."""
        while True:
            buf, pos = self.buf, self.pos
            while pos < len(buf) and buf[pos] in " \t\r\n,":
                pos += 1
            self.pos = pos
            if pos < len(buf):
                return True
            if not self.refill():
                return False

    def _bad_value(self, exc: ValueError | RecursionError | MemoryError) -> bool:
        """Read on, or report the value and skip it; False at end of file."""
        epos = getattr(exc, "pos", None) or self.pos
        # A value cut by the chunk boundary fails at (or, for a string, before)
        # the end of the buffer: read on before calling it bad.
        truncated = len(self.buf) - epos <= 16 or str(exc).startswith("Unterminated string")
        if truncated and not self.eof:
            # The text held, in memory (4 bytes a character once one is astral).
            if sys.getsizeof(self.buf) < bounds.MAX_LINE_BYTES:
                self.refill()
                # Only a value read on past a chunk can be long: checked here,
                # before the next decode attempt parses it.
                if not crowded(self.buf, self.pos):
                    return True
                message = f"value of more than {bounds.MAX_LINE_VALUES:,} values: skipped"
            else:
                message = f"value longer than {size_text(bounds.MAX_LINE_BYTES)}: skipped"
            self._error(self.line_at(self.pos), message)
            return self._resync()
        self._error(self.line_at(max(epos, self.pos)), f"bad JSON: {short_error(exc)}")
        return self._resync()

    def _resync(self) -> bool:
        """Resume at the next line that opens an object; False at end of file.

        That is the next list element in both Scrapy's and the seed tool's layout.
        """
        start = self.pos + 1
        while (m := _RESYNC.search(self.buf, start)) is None:
            # Keep a last newline: it may start a match.
            self.pos = max(self.pos, len(self.buf) - 1)
            if not self.refill():
                return False
            start = 0
        self.pos = m.end() - 1
        return True

    def _error(self, line: int, message: str) -> None:
        self.on_error(InputError(self.name, line, message))
