"""Find the images a browser could show on an HTML page, and the links to follow.

Pure functions over a parsel ``Selector`` and the page URL, so they can be tested
without a crawl.

Hostile pages cost bounded time and memory: the CSS ``url(...)`` pattern is
linear (an unclosed ``url(url(url(...`` no longer backtracks quadratically),
attribute values are read as plain strings (no ``Selector`` per match), at most
``limit`` URLs come back (the spider's ``IMGPRINT_MAX_IMAGES_PER_PAGE`` and
``IMGPRINT_MAX_LINKS_PER_PAGE``), and one malformed reference (a bad port,
``http://[::1``, a bad ``<base href>``) is skipped alone, never the page.

A reference (or ``<base href>``) longer than ``max_length`` (the spider passes
Scrapy's ``URLLENGTH_LIMIT``, 2,083) is dropped before it is joined: w3lib's
``safe_url_string`` takes ~95 bytes of memory a character, 1.15 GB for one
10 MB ``src``, and its request would be dropped by ``UrlLengthMiddleware``
anyway. A dropped image reference comes back among the skipped ones as a
``TooLong`` stand-in (its first characters and its length), which
``count_too_long`` counts; a dropped ``<base href>`` leaves references
resolving against the page.
"""

from __future__ import annotations

import re
from posixpath import splitext
from urllib.parse import urljoin, urlsplit

from parsel import Selector
from w3lib.url import safe_url_string

from imgprint.discovery_stream import stream_refs, truncated_by_depth

#: Scrapy's default ``URLLENGTH_LIMIT``, for callers without settings.
MAX_URL_LENGTH = 2083

IMAGE_EXTENSIONS = frozenset(
    ".jpg .jpeg .jpe .jfif .png .gif .webp .tif .tiff .heic .heif .avif .bmp .jxl".split()
)
# Linear: no branch can run past the next quote or parenthesis.
_CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^()'"\s]*))\s*\)""", re.IGNORECASE)
#: Characters of one style attribute scanned for url(...).
MAX_STYLE_CHARS = 65536
_META_IMAGE_NAMES = (
    "og:image",
    "og:image:url",
    "og:image:secure_url",
    "twitter:image",
    "twitter:image:src",
)


def parse_srcset(srcset: str) -> list[str]:
    """Every candidate URL of a ``srcset`` value (WHATWG's splitting rules).

    URLs may contain commas; a candidate ends at whitespace, and a comma directly
    after the URL ends it too.
    """
    urls = []
    pos, n = 0, len(srcset)
    while pos < n:
        while pos < n and (srcset[pos].isspace() or srcset[pos] == ","):
            pos += 1
        start = pos
        while pos < n and not srcset[pos].isspace():
            pos += 1
        url = srcset[start:pos]
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            # Skip the descriptors ("2x", "300w"); parentheses may hold commas.
            depth = 0
            while pos < n and not (srcset[pos] == "," and depth == 0):
                depth += {"(": 1, ")": -1}.get(srcset[pos], 0)
                pos += 1
        if url:
            urls.append(url)
    return urls


def _values(sel: Selector, xpath: str) -> list[str]:
    """String results of `xpath`, without a parsel Selector per match."""
    return [str(v) for v in sel.root.xpath(xpath, smart_strings=False)]


class TooLong(str):
    """Stands in, among skipped references, for one longer than the limit."""

    @classmethod
    def of(cls, ref: str) -> TooLong:
        return cls(f"{ref[:64]}… ({len(ref)} characters)")


def count_too_long(skipped: list[str]) -> int:
    """How many of ``absolute_urls``' skipped references were too long."""
    return sum(isinstance(ref, TooLong) for ref in skipped)


def base_url(sel: Selector, page_url: str, max_length: int = MAX_URL_LENGTH) -> str:
    """The URL relative references resolve against: ``<base href>`` or the page
    (also when the ``<base href>`` is malformed or longer than ``max_length``)."""
    hrefs = _values(sel, "//base/@href")
    href = hrefs[0].strip() if hrefs else ""
    if not href or len(href) > max_length:
        return page_url
    try:
        base = urljoin(page_url, href)
        urlsplit(base).port  # noqa: B018 - raises on a bad port
    except ValueError:
        return page_url
    return base


def looks_like_image_url(url: str) -> bool:
    try:
        return splitext(urlsplit(url).path.lower())[1] in IMAGE_EXTENSIONS
    except ValueError:  # http://[::1 and the like: absolute_urls skips it
        return False


def css_urls(style: str) -> list[str]:
    """The URLs of ``url(...)`` in a style value (its first MAX_STYLE_CHARS)."""
    return [next(g for g in m.groups() if g is not None)
            for m in _CSS_URL.finditer(style[:MAX_STYLE_CHARS])]


def _streamed_image_refs(text: str) -> tuple[list[str], str | None]:
    found = stream_refs(text)
    kinds = found.kinds
    refs = kinds["src"] + kinds["poster"]
    for srcset in kinds["srcset"]:
        refs += parse_srcset(srcset)
    refs += kinds["meta"]
    for style in kinds["style"]:
        refs += css_urls(style)
    refs += [h for h in kinds["a"] if looks_like_image_url(h.strip())]
    return refs, found.base


def _raw_image_refs(sel: Selector) -> list[str]:
    refs: list[str] = []
    refs += _values(sel, "//img/@src | //img/@data-src | //input[@type='image']/@src")
    refs += _values(sel, "//video/@poster")
    for srcset in _values(sel, "//img/@srcset | //img/@data-srcset | //picture/source/@srcset"
                          " | //picture/source/@data-srcset"):
        refs += parse_srcset(srcset)
    for name in _META_IMAGE_NAMES:
        refs += _values(sel, f"//meta[@property='{name}' or @name='{name}']/@content")
    for style in _values(sel, "//@style"):
        refs += css_urls(style)
    refs += [h for h in _values(sel, "//a/@href") if looks_like_image_url(h.strip())]
    return refs


def absolute_url(ref: str, base: str) -> str:
    """`ref` resolved against `base`, in the form Request.url will have (keys of
    the spider's maps must match it); ValueError when it is malformed."""
    url = safe_url_string(urljoin(base, ref).split("#", 1)[0])
    parts = urlsplit(url)
    parts.port  # noqa: B018 - raises on a port past 65535
    if parts.scheme.lower() in ("http", "https") and not parts.hostname:
        raise ValueError(f"no host in {url!r}")
    return url


def absolute_urls(refs: list[str], base: str, limit: int = 0,
                  max_length: int = MAX_URL_LENGTH) -> tuple[list[str], list[str]]:
    """Resolve references; return (http(s) URLs in order without repeats, at most
    `limit` of them (0: all), and the refs skipped).

    ``data:`` URIs are dropped silently (they hold no remote image); other
    schemes and malformed URLs come back in the skipped list so the caller can
    count them, and references longer than `max_length` (0: no limit) as a
    ``TooLong`` stand-in each.
    """
    found: dict[str, None] = {}
    skipped: list[str] = []
    for ref in refs:
        if limit and len(found) >= limit:
            break
        ref = ref.strip()
        if not ref or ref.lower().startswith("data:"):
            continue
        if max_length and len(ref) > max_length:
            skipped.append(TooLong.of(ref))
            continue
        try:
            url = absolute_url(ref, base)
        except ValueError:
            skipped.append(ref)
            continue
        if urlsplit(url).scheme.lower() in ("http", "https"):
            found.setdefault(url)
        else:
            skipped.append(ref)
    return list(found), skipped


def find_images(sel: Selector, page_url: str, limit: int = 0, text: str | None = None,
                max_length: int = MAX_URL_LENGTH) -> tuple[list[str], list[str]]:
    """Image URLs on a page (every form a browser renders; at most `limit`, 0:
    all) and the refs skipped (those longer than `max_length` as ``TooLong``).
    With the page's `text`, a page nested deeper than lxml's tree can hold is
    read again without a tree (``discovery_stream``)."""
    if text is not None and truncated_by_depth(sel, text):
        refs, href = _streamed_image_refs(text)
        base = page_url
        href = (href or "").strip()
        if href and len(href) <= max_length:
            try:
                base = absolute_url(href, page_url)
            except ValueError:
                pass
        return absolute_urls(refs, base, limit, max_length)
    return absolute_urls(_raw_image_refs(sel), base_url(sel, page_url, max_length), limit,
                         max_length)


def same_site(url: str, other: str) -> bool:
    """Same host, ignoring a leading ``www.``."""
    a = (urlsplit(url).hostname or "").removeprefix("www.")
    b = (urlsplit(other).hostname or "").removeprefix("www.")
    return a == b


def find_links(sel: Selector, page_url: str, limit: int = 0,
               max_length: int = MAX_URL_LENGTH) -> list[str]:
    """Same-site page links (not images) to follow when crawling deeper (at most
    `limit`, 0: all; none longer than `max_length`)."""
    hrefs = [h for h in _values(sel, "//a/@href")
             if len(h) <= max_length and not looks_like_image_url(h.strip())]
    urls, _ = absolute_urls(hrefs, base_url(sel, page_url, max_length), 0, max_length)
    same = [u for u in urls if same_site(u, page_url)]
    return same[:limit] if limit else same
