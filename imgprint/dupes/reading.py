"""Reading: records out of feed files, whatever their layout.

:func:`iter_file` streams ``(line, record)`` pairs out of imgprint feeds (JSON
lines, a JSON list as ``-O x.json`` writes it, gzip'd or not) and out of the
seed tool's files (an indented JSON list, or a single object). No file is
ever read whole, and no line or value longer than :data:`bounds.MAX_LINE_BYTES` is
held: the rest of it is read past in chunks and the line reported. What cannot
be used goes to an ``on_error`` callback as an :class:`InputError`, and reading
goes on: nesting, a line too long, a value too deep cost only their own line.
Anything but JSON lines goes to the streaming decoder in :mod:`.document`.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from typing import IO, cast

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
from imgprint.dupes.document import Document

__all__ = ["FEED_SUFFIXES", "InputError", "OnError", "Record", "crowded", "expand_paths",
           "iter_file", "records_in", "short_error", "size_text"]

# Suffixes taken when a directory is given instead of a file.
FEED_SUFFIXES = (".jsonl", ".jl", ".json", ".ndjson")

# The URL of a JSON line written as imgprint writes it (``url`` first, no escape
# in it): enough to pass over a line without parsing it.
_URL_FIRST = re.compile(rb'\{\s*"url"\s*:\s*"([^"\\]*)"')

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


def iter_file(path: str | Path, on_error: OnError,
              only: Collection[str] | None = None) -> Iterator[Record]:
    """Yield ``(line, record)`` for every record in a feed file, whatever its format.

    JSON lines are parsed one line at a time (a bad line costs only itself);
    anything else (a JSON list, the seed tool's indented list, a single object)
    goes through a streaming decoder, so no file is ever read whole. With
    ``only``, JSON lines whose ``url`` comes first and is not in it are passed
    over unparsed (a speed-up: other records may still be yielded).
    """
    path = Path(path)
    name = str(path)
    try:
        with _open(path) as f:
            offset, start = _first_text(f)
            if not start:
                return
            # Read the whole first line (a record can be longer than the peek);
            # not kept: it may be as long as the bound.
            f.seek(offset)
            lines = start[:1] == b"{" and _is_object(f.readline(bounds.MAX_LINE_BYTES))
            f.seek(0)
            if lines:
                yield from _iter_lines(f, name, on_error, only)
            elif start[:1] in (b"[", b"{"):
                text = io.TextIOWrapper(f, encoding="utf-8-sig", errors="replace")
                yield from Document(text, name, on_error).records()
            else:
                on_error(InputError(name, 1, "not JSON: expected a JSON object, list or lines"))
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        on_error(InputError(name, None, f"cannot read: {exc}"))


def _first_text(f: IO[bytes]) -> tuple[int, bytes]:
    """Where the first non-blank byte is, and the bytes from there to the end of a
    4 KiB read; ``b""`` for a blank file (read through, never held)."""
    offset = 0
    while head := f.read(4096):
        start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if start:
            return offset + len(head) - len(start), start
        offset += len(head)
    return offset, b""


def _is_object(line: bytes) -> bool:
    if crowded(line):
        return True  # _iter_lines reports it
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError, MemoryError):
        return False


def _iter_lines(f: IO[bytes], name: str, on_error: OnError,
                only: Collection[str] | None = None) -> Iterator[Record]:
    loads = json.loads
    lineno = 0
    while line := f.readline(bounds._CHUNK):
        lineno += 1
        if only is not None and (m := _URL_FIRST.match(line)):
            try:
                if m[1].decode() not in only:
                    continue
            except UnicodeDecodeError:
                continue
        if len(line) == bounds._CHUNK and not line.endswith(b"\n"):
            whole, length = _long_line(f, line)
            if whole is None:
                limit = size_text(bounds.MAX_LINE_BYTES)
                on_error(InputError(name, lineno, f"line longer than {limit} "
                                                  f"({length:,} bytes): skipped"))
                continue
            line = whole
            if crowded(line):
                on_error(InputError(name, lineno, f"line of more than {bounds.MAX_LINE_VALUES:,} "
                                                  "values: skipped"))
                continue
        try:
            value = loads(line)
        except (ValueError, RecursionError) as exc:
            if line.strip():
                on_error(InputError(name, lineno, f"bad JSON: {short_error(exc)}"))
            continue
        except MemoryError:
            # Parsed, a line under the bound can still take many times its size.
            on_error(InputError(name, lineno, "line too large to parse in memory: skipped"))
            continue
        if type(value) is dict:
            yield lineno, value
        else:
            yield from records_in(value, name, lineno, on_error)


def _long_line(f: IO[bytes], first: bytes) -> tuple[bytes | None, int]:
    """The rest of a line read a chunk at a time: the whole line, or None (its
    chunks dropped, the rest read past) once it is longer than the bound; its length."""
    parts = [first]
    length = len(first)
    while chunk := f.readline(bounds._CHUNK):
        length += len(chunk)
        end = chunk.endswith(b"\n")
        if length - end > bounds.MAX_LINE_BYTES:
            parts.clear()
        elif parts:
            parts.append(chunk)
        if end:
            break
    return (b"".join(parts) if parts else None), length


