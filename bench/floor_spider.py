"""The floor: the least a Scrapy spider does to fingerprint a site's images.

    scrapy runspider bench/floor_spider.py -a urls=URLS_FILE -O out.jsonl

Follows each page in URLS_FILE, finds every image the way the full-download
baseline does (``img`` ``src``/``data-src``, ``srcset``), asks for its first
10,241 bytes with one ranged GET and records the SHA-256 of what came back:
one request per image and nothing else (no follow-ups, EXIF, facts or
perceptual hash). ``bench/speed.py`` runs it from outside the project, with
``CONCURRENT_ITEMS = 1`` and imgprint's concurrency, so the ratio of imgprint to
it is what imgprint's work costs over Scrapy's own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import scrapy
from scrapy.http import Request, Response

RANGE = b"bytes=0-10240"


class Floor(scrapy.Spider):
    name = "floor"
    custom_settings = {
        "LOG_LEVEL": "INFO", "ROBOTSTXT_OBEY": False, "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False, "REMOTE_CONTROL_ENABLED": False,
        "CONCURRENT_ITEMS": 1, "CONCURRENT_REQUESTS": 64, "CONCURRENT_REQUESTS_PER_DOMAIN": 64,
    }

    def __init__(self, urls: str, **kw: Any) -> None:
        super().__init__(**kw)
        with open(urls) as fh:
            self.start_urls = [u.strip() for u in fh if u.strip()]

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Request]:
        srcs = response.css("img::attr(src), img::attr(data-src)").getall()
        srcs += [c.split()[0] for s in response.css("[srcset]::attr(srcset)").getall()
                 for c in s.split(",") if c.strip()]
        for src in dict.fromkeys(srcs):
            if not src.startswith("data:"):
                yield response.follow(src, self.image,
                                      headers={"Range": RANGE, "Accept-Encoding": "identity"})

    def image(self, response: Response) -> Iterator[dict[str, Any]]:
        total = (response.headers.get(b"Content-Range") or b"").rpartition(b"/")[2]
        yield {"url": response.url, "status": response.status,
               "image_size": int(total) if total.isdigit() else len(response.body),
               "sha256_first_10240_bytes": hashlib.sha256(response.body[:10241]).hexdigest()}
