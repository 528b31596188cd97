"""Reading: records out of feed files, whatever their layout.

:func:`iter_file` streams ``(line, record)`` pairs out of imgprint feeds (JSON
lines, a JSON list as ``-O x.json`` writes it, gzip'd or not) and out of the
seed tool's files (an indented JSON list, or a single object). No file is
ever read whole; what cannot be used goes to an ``on_error`` callback as an
:class:`InputError`, and reading goes on.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

# Suffixes taken when a directory is given instead of a file.
FEED_SUFFIXES = (".jsonl", ".jl", ".json", ".ndjson")

_CHUNK = 1 << 20
# A single JSON value larger than this is reported as an error, not buffered on.
_MAX_VALUE = 64 << 20
# A line that opens an array element: where parsing resumes after a bad element.
_RESYNC = re.compile(r"\n[ \t]*\{")

Record = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class InputError:
    """A file or a line that could not be used."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "message": self.message}


OnError = Callable[[InputError], None]


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; a directory stands for the feed files under it (recursively)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and _is_feed_name(f.name)))
        else:
            out.append(p)
    return out


def _is_feed_name(name: str) -> bool:
    name = name.lower().removesuffix(".gz")
    return name.endswith(FEED_SUFFIXES)


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        # A GzipFile is a binary file, though typeshed does not call it IO[bytes].
        return cast(IO[bytes], gzip.open(path, "rb"))
    return open(path, "rb")


def iter_file(path: str | Path, on_error: OnError) -> Iterator[Record]:
    """Yield ``(line, record)`` for every record in a feed file, whatever its format.

    JSON lines are parsed one line at a time (a bad line costs only itself);
    anything else (a JSON list, the seed tool's indented list, a single object)
    goes through a streaming decoder, so no file is ever read whole.
    """
    path = Path(path)
    name = str(path)
    try:
        with _open(path) as f:
            head = f.read(4096)
            start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
            if not start:
                return
            # Read the whole first line (a record can be longer than the peek).
            f.seek(len(head) - len(start))
            first_line = f.readline(_MAX_VALUE)
            f.seek(0)
            if start[:1] == b"{" and _is_object(first_line):
                yield from _iter_lines(f, name, on_error)
            elif start[:1] in (b"[", b"{"):
                text = io.TextIOWrapper(f, encoding="utf-8-sig", errors="replace")
                yield from _Document(text, name, on_error).records()
            else:
                on_error(InputError(name, 1, "not JSON: expected a JSON object, list or lines"))
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        on_error(InputError(name, None, f"cannot read: {exc}"))


def _is_object(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return False


def _iter_lines(f: Iterable[bytes], name: str, on_error: OnError) -> Iterator[Record]:
    loads = json.loads
    for lineno, line in enumerate(f, 1):
        try:
            value = loads(line)
        except (ValueError, RecursionError) as exc:
            if line.strip():
                on_error(InputError(name, lineno, f"bad JSON: {_short(exc)}"))
            continue
        if type(value) is dict:
            yield lineno, value
        else:
            yield from _records_in(value, name, lineno, on_error)


def _records_in(value: Any, name: str, lineno: int, on_error: OnError) -> Iterator[Record]:
    if isinstance(value, dict):
        yield lineno, value
    elif isinstance(value, list):
        for item in value:
            yield from _records_in(item, name, lineno, on_error)
    else:
        on_error(InputError(name, lineno, f"not a record: {type(value).__name__}"))


class _Document:
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
            except (ValueError, RecursionError) as exc:
                if self._bad_value(exc):
                    continue
                return
            yield from _records_in(value, self.name, self.line_at(self.pos), self.on_error)
            self.pos = end

    def refill(self) -> bool:
        """Drop buf[:pos], append a chunk; False at end of file."""
        if self.eof:
            return False
        self.mark_line = self.line_at(self.pos)
        chunk = self.f.read(_CHUNK)
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

    def _bad_value(self, exc: ValueError | RecursionError) -> bool:
        """Read on, or report the value and skip it; False at end of file."""
        epos = getattr(exc, "pos", None) or self.pos
        # A value cut by the chunk boundary fails at (or, for a string, before)
        # the end of the buffer: read on before calling it bad.
        truncated = len(self.buf) - epos <= 16 or str(exc).startswith("Unterminated string")
        if truncated and not self.eof and len(self.buf) - self.pos < _MAX_VALUE:
            self.refill()
            return True
        self._error(self.line_at(max(epos, self.pos)), f"bad JSON: {_short(exc)}")
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


def _short(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        # json's own "line 1 column 5 (char 4)" counts within the chunk or line it
        # was given, not the file: the caller names the line.
        text = f"{exc.msg} (column {exc.colno})"
    else:
        text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."
