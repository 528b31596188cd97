"""HTTP facts the fetch path reads from headers: sizes, ranges, types, ETags.

Pure functions over header values (``bytes`` or ``str``) and responses.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.http import Response

# At most 19 digits a number (2**63 > 10**18): a server's 4,300-digit number
# would raise in int() (Python's digit limit) instead of being refused.
_CONTENT_RANGE = re.compile(
    r"^\s*bytes\s+(?:(\d{1,19})-(\d{1,19})|\*)\s*/\s*(\d{1,19}|\*)\s*$", re.I)
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d{1,19})-(\d{1,19})\s*$", re.I)


def _text(value: bytes | str) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def normalize_etag(value: bytes | str | None) -> str | None:
    """ETag without the weak ``W/`` prefix and quotes, as the seed tool stored it."""
    if value is None:
        return None
    value = _text(value).strip()
    if value[:2].upper() == "W/":
        value = value[2:]
    return value.strip('"') or None


def parse_content_range(value: bytes | str | None) -> tuple[int | None, int | None, int | None]:
    """``Content-Range: bytes a-b/total`` as (a, b, total); None for absent parts.

    ``bytes */total`` (416 answers) gives (None, None, total).
    """
    if value is None:
        return None, None, None
    m = _CONTENT_RANGE.match(_text(value))
    if not m:
        return None, None, None
    first, last, total = m.groups()
    return (
        int(first) if first is not None else None,
        int(last) if last is not None else None,
        int(total) if total not in (None, "*") else None,
    )


def parse_int(value: bytes | str | None) -> int | None:
    """A non-negative integer header value, or None."""
    try:
        if value is not None and len(value) > 32:
            return None  # no real size has that many digits; int() would refuse past 4,300
        n = int(value) if value is not None else None
    except ValueError:
        return None
    return n if n is not None and n >= 0 else None


def range_header(start: int, end: int) -> bytes:
    """``Range`` value for the half-open span [start, end)."""
    return f"bytes={start}-{end - 1}".encode()


def range_end(value: bytes | str | None) -> int | None:
    """The end (exclusive) of a ``Range: bytes=a-b`` value, as ``range_header``
    writes it; None for no or another form of Range."""
    m = _RANGE.match(_text(value or b""))
    return int(m.group(2)) + 1 if m else None


def original_url(request: Request | None) -> str:
    """The URL the spider asked for, before any redirect."""
    assert request is not None  # a callback's response always has its request
    return request.meta.get("redirect_urls", [request.url])[0]


def total_size(response: Response) -> int | None:
    """The file's full size in bytes, from whatever the answer says; None if unknown.

    206 and 416: the total of ``Content-Range``. 200 or a HEAD answer:
    ``Content-Length``, which describes the whole representation even when the
    download was cut short.
    """
    if response.status in (206, 416):
        return parse_content_range(response.headers.get(b"Content-Range"))[2]
    return parse_int(response.headers.get(b"Content-Length"))


def content_encoding(response: Response) -> str | None:
    """A ``Content-Encoding`` other than identity, lower-cased; None if none."""
    value = (response.headers.get(b"Content-Encoding") or b"").strip().lower()
    return value.decode("latin-1") if value and value != b"identity" else None


def range_problem(response: Response, start: int) -> str | None:
    """Why a 200/206 answer's body is not the file's bytes from ``start`` (from
    byte 0 for a 200), or None when it is."""
    encoding = content_encoding(response)
    if encoding:
        return f"server applied Content-Encoding {encoding}: the bytes are not the file's"
    if response.status == 206:
        first, _, _ = parse_content_range(response.headers.get(b"Content-Range"))
        if first != start:
            cr = (response.headers.get(b"Content-Range") or b"missing").decode("latin-1")
            return f"206 answer with Content-Range {cr!r}, not from byte {start}"
    return None


def log_safe(value: bytes | str | None, limit: int = 200) -> str:
    """A header value (or any server-given text) fit for one log line: control
    characters, ESC sequences and line separators escaped, cut at `limit`."""
    if value is None:
        return "none"
    text = _text(value)
    cut = len(text) > limit
    text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text[:limit])
    return text + ("…truncated" if cut else "")


def is_image_type(content_type: bytes | str | None) -> bool:
    return bool(content_type) and _text(content_type or "").strip().lower().startswith("image/")


def looks_like_html(body: bytes) -> bool:
    """An HTML document where image bytes were expected (an error or login page)."""
    start = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--"))
