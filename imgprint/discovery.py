"""Find the images a browser could show on an HTML page, and the links to follow.

Pure functions over a parsel ``Selector`` and the page URL, so they can be tested
without a crawl.
"""

from __future__ import annotations

import re
from posixpath import splitext
from urllib.parse import urljoin, urlsplit

from parsel import Selector
from w3lib.url import safe_url_string

IMAGE_EXTENSIONS = frozenset(
    ".jpg .jpeg .jpe .jfif .png .gif .webp .tif .tiff .heic .heif .avif .bmp .jxl".split()
)
_CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)""", re.IGNORECASE | re.DOTALL)
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


def base_url(sel: Selector, page_url: str) -> str:
    """The URL relative references resolve against: ``<base href>`` or the page."""
    href = sel.xpath("//base/@href").get()
    return urljoin(page_url, href.strip()) if href and href.strip() else page_url


def looks_like_image_url(url: str) -> bool:
    return splitext(urlsplit(url).path.lower())[1] in IMAGE_EXTENSIONS


def _raw_image_refs(sel: Selector) -> list[str]:
    refs: list[str] = []
    refs += sel.xpath("//img/@src | //img/@data-src | //input[@type='image']/@src").getall()
    refs += sel.xpath("//video/@poster").getall()
    for srcset in sel.xpath(
        "//img/@srcset | //img/@data-srcset | //picture/source/@srcset"
        " | //picture/source/@data-srcset"
    ).getall():
        refs += parse_srcset(srcset)
    for name in _META_IMAGE_NAMES:
        refs += sel.xpath(
            f"//meta[@property='{name}' or @name='{name}']/@content"
        ).getall()
    for style in sel.xpath("//@style").getall():
        refs += [m.group(2) for m in _CSS_URL.finditer(style)]
    refs += [h for h in sel.xpath("//a/@href").getall() if looks_like_image_url(h.strip())]
    return refs


def absolute_urls(refs: list[str], base: str) -> tuple[list[str], list[str]]:
    """Resolve references; return (http(s) URLs in order without repeats, skipped refs).

    ``data:`` URIs are dropped silently (they hold no remote image); other
    schemes come back in the skipped list so the caller can count them.
    """
    found: dict[str, None] = {}
    skipped = []
    for ref in refs:
        ref = ref.strip()
        if not ref or ref.lower().startswith("data:"):
            continue
        try:
            url = urljoin(base, ref)
        except ValueError:
            skipped.append(ref)
            continue
        # The form Request.url will have: keys of the spider's maps must match it.
        url = safe_url_string(url.split("#", 1)[0])
        if urlsplit(url).scheme.lower() in ("http", "https"):
            found.setdefault(url)
        else:
            skipped.append(ref)
    return list(found), skipped


def find_images(sel: Selector, page_url: str) -> tuple[list[str], list[str]]:
    """Image URLs on a page (every form a browser renders) and the refs skipped."""
    return absolute_urls(_raw_image_refs(sel), base_url(sel, page_url))


def same_site(url: str, other: str) -> bool:
    """Same host, ignoring a leading ``www.``."""
    a = (urlsplit(url).hostname or "").removeprefix("www.")
    b = (urlsplit(other).hostname or "").removeprefix("www.")
    return a == b


def find_links(sel: Selector, page_url: str) -> list[str]:
    """Same-site page links (not images) to follow when crawling deeper."""
    hrefs = [h for h in sel.xpath("//a/@href").getall() if not looks_like_image_url(h.strip())]
    urls, _ = absolute_urls(hrefs, base_url(sel, page_url))
    return [u for u in urls if same_site(u, page_url)]
