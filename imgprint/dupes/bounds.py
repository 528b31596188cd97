"""What a feed line may cost `scrapy dupes`, and the errors it reports (a leaf).

``reading`` (JSON lines, the file) and ``document`` (a JSON list or object,
streamed) both read these bounds at use time: tests lower them here.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

_CHUNK = 1 << 20
# A line of JSON lines (bytes) or a value of a JSON document (its text in memory)
# longer than this is skipped and reported, never held whole. imgprint's own
# lines are well under 1 MB; the bound keeps a hostile line from taking gigabytes.
MAX_LINE_BYTES = 64 << 20
# Parsed, JSON takes up to 24 times its text (`{},` is a 64-byte dict): a line
# or value over 1 MiB holding more commas than this is skipped unparsed.
MAX_LINE_VALUES = 1_000_000
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


def records_in(value: Any, name: str, lineno: int, on_error: OnError) -> Iterator[Record]:
    """The objects in ``value``, lists flattened in order; the rest is one error.

    Iterative: a line of a thousand nested lists must not exhaust the stack. A
    line of millions of numbers is one error naming their types, not millions.
    """
    stack: list[Iterator[Any]] = [iter((value,))]
    others: Counter[str] = Counter()
    while stack:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
        elif isinstance(item, dict):
            yield lineno, item
        elif isinstance(item, list):
            stack.append(iter(item))
        else:
            others[type(item).__name__] += 1
    if others:
        n = others.total()
        what = f"{n:,} values" if n > 1 else "a value"
        on_error(InputError(name, lineno, f"not a record: {what} of type "
                                          f"{', '.join(sorted(others))}"))


_END = object()


def crowded(text: bytes | str, start: int = 0) -> bool:
    """Over 1 MiB from ``start`` with more than MAX_LINE_VALUES commas (within
    strings too: a false alarm needs a million commas in one record)."""
    if len(text) - start <= _CHUNK:
        return False
    if isinstance(text, bytes):
        return text.count(b",", start) > MAX_LINE_VALUES
    return text.count(",", start) > MAX_LINE_VALUES


def size_text(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n:,} bytes"


def short_error(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        # json's own "line 1 column 5 (char 4)" counts within the chunk or line it
        # was given, not the file: the caller names the line.
        text = f"{exc.msg} (column {exc.colno})"
    else:
        text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."
