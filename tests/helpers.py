"""Helpers shared by the tests: where the corpus is, and the crawler's fetch
path run over a local file (the follow-up loop with a download injected)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from scrapy.http import Response

from imgprint.fingerprint.phash import MAX_THUMBNAIL_BYTES
from imgprint.formats import Spans
from imgprint.middlewares.followup import Budget, FollowupResult, fetch_spans

PROJECT = Path(__file__).resolve().parents[1]
SHARED = PROJECT.parent / "shared"
CORPUS = SHARED / "corpus"
EX = CORPUS / "exif-samples"
ME = CORPUS / "metadata-extractor"
PREFIX = 10241

# Whether the running test is marked ``crawl`` (set by conftest): servers and
# crawls refuse to start in an unmarked test, so the unit layer stays fast.
CRAWL_TEST = {"marked": True}


def require_crawl_marker(what: str) -> None:
    if not CRAWL_TEST["marked"]:
        raise RuntimeError(f"{what} in a test not marked `crawl`: add @pytest.mark.crawl")


def whole(data: bytes) -> Spans:
    """Spans holding all of ``data``."""
    spans = Spans(len(data))
    spans.add(0, data)
    return spans


def file_download(data: bytes, log: list[tuple[int, int]] | None = None):
    """A follow-up download served from ``data`` as a Range-honouring server would."""

    async def download(start: int, end: int) -> Response:
        if log is not None:
            log.append((start, end))
        last = min(end, len(data)) - 1
        return Response("http://local/file", status=206, body=data[start:last + 1],
                        headers={"Content-Range": f"bytes {start}-{last}/{len(data)}"})

    return download


def crawled_result(data: bytes, followups: int = 2, budget: int = 262144,
                   content_bytes: int = 4096, scan_bytes: int = 65536,
                   prefix: int = PREFIX,
                   hash_followups: int = 2) -> tuple[Spans, FollowupResult]:
    """What the crawler holds of ``data``: its first bytes, then the crawler's own
    follow-up loop (``fetch_spans``) within the default budgets."""
    spans = Spans(len(data))
    spans.add(0, data[:prefix])
    limits = Budget(followups, budget, content_bytes, MAX_THUMBNAIL_BYTES, scan_bytes,
                    hash_followups if followups else 0)
    result = asyncio.run(fetch_spans(spans, file_download(data), limits))
    return spans, result


def crawled(data: bytes, followups: int = 2, budget: int = 262144,
            content_bytes: int = 4096, scan_bytes: int = 65536) -> Spans:
    return crawled_result(data, followups, budget, content_bytes, scan_bytes)[0]


def project_crawler(spidercls=None, **settings):
    """A crawler with imgprint's settings plus ``settings``, built in-process
    (``scrapy.utils.test.get_crawler``): components can be built from it."""
    from scrapy.utils.test import get_crawler

    from imgprint import settings as project_settings

    values = {k: getattr(project_settings, k) for k in dir(project_settings) if k.isupper()}
    return get_crawler(spidercls, settings_dict={**values, **settings})
