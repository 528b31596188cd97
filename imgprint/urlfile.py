"""Read seed URLs: one URL a line; blank lines, ``#`` lines and inline `` # comments``
(a ``#`` after white space) ignored. A ``#`` inside a URL (a fragment) is kept.
A line without a scheme (``www.example.org/x``) is refused with a hint to add one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


class UrlFileError(Exception):
    """The URL file cannot be read at all."""


@dataclass(frozen=True)
class BadLine:
    lineno: int
    text: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.lineno}: {self.reason}: {shown(self.text)!r}"


def shown(text: str, limit: int = 200) -> str:
    """``text`` fit for a log line: at most ``limit`` characters of it."""
    return text if len(text) <= limit else text[:limit] + "…truncated"


INLINE_COMMENT = re.compile(r"\s+#.*$")
# host.tld[/...] or host:port[/...] without a scheme: the user meant http(s)://.
SCHEMELESS = re.compile(r"^[\w-]+(\.[\w-]+)+(:\d+)?(/.*)?$|^localhost(:\d+)?(/.*)?$",
                        re.IGNORECASE)


def check_url(url: str) -> str | None:
    """Return why ``url`` cannot be crawled, or None when it can."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"malformed URL ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        if SCHEMELESS.match(url) and "://" not in url:
            return f"not an http(s) URL: no scheme; did you mean 'https://{shown(url)}'?"
        return "not an http(s) URL"
    if not parts.hostname:
        return "URL has no host"
    return None


def parse_lines(lines: list[str]) -> tuple[list[str], list[BadLine]]:
    """Split lines into crawlable URLs (in order, without repeats) and bad lines."""
    urls: dict[str, None] = {}
    bad: list[BadLine] = []
    for lineno, raw in enumerate(lines, 1):
        line = INLINE_COMMENT.sub("", raw).strip()
        if not line or line.startswith("#"):
            continue
        reason = check_url(line)
        if reason:
            bad.append(BadLine(lineno, line, reason))
        else:
            urls.setdefault(line)
    return list(urls), bad


def read_url_file(path: str | Path) -> tuple[list[str], list[BadLine]]:
    """Read a URL file; raise UrlFileError with a one-line message if it can't be read."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise UrlFileError(f"URL file not found: {path}") from None
    except OSError as exc:
        raise UrlFileError(f"cannot read URL file {path}: {exc.strerror or exc}") from None
    return parse_lines(text.splitlines())
