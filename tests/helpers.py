"""Helpers shared by the tests: where the corpus is, and the crawler's fetch
path run over a local file (``imgprint.fetch.replay``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from imgprint.fetch.loop import FollowupResult
from imgprint.fetch.replay import PREFIX, replay, shipped_budget
from imgprint.spans import Spans

PROJECT = Path(__file__).resolve().parents[1]
SHARED = PROJECT.parent / "shared"
CORPUS = SHARED / "corpus"
EX = CORPUS / "exif-samples"
ME = CORPUS / "metadata-extractor"

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


def crawled_result(data: bytes, followups: int | None = None, budget: int | None = None,
                   content_bytes: int | None = None, scan_bytes: int | None = None,
                   prefix: int = PREFIX, hash_followups: int | None = None,
                   ahead: int | None = None, multi: bool = False,
                   log: list | None = None, band: float | None = None
                   ) -> tuple[Spans, FollowupResult]:
    """What a crawl holds of ``data`` (``imgprint.fetch.replay``): its first bytes,
    then the crawler's own follow-ups within the shipped budget, with the
    given parts of it changed; one range a follow-up unless ``multi``."""
    changes = {"requests": followups, "bytes": budget, "content_bytes": content_bytes,
               "scan_bytes": scan_bytes, "hash_requests": hash_followups,
               "ahead_bytes": ahead, "band": band}
    limits = replace(shipped_budget(), **{k: v for k, v in changes.items() if v is not None})
    image = replay(data, limits, prefix=prefix, multi=multi, log=log)
    assert image.spans is not None and image.followup is not None, image.error
    return image.spans, image.followup


def crawled(data: bytes, **budget: int) -> Spans:
    return crawled_result(data, **budget)[0]


def project_config(**overrides):
    """imgprint's ``Config`` from the project's settings plus ``overrides`` given
    as on the command line (``-s``), checked as a crawl checks them."""
    from scrapy.settings import Settings

    from imgprint import settings as project_settings
    from imgprint.config import Config

    settings = Settings()
    settings.setmodule(project_settings, priority="project")
    for key, value in overrides.items():
        settings.set(key, value, priority="cmdline")
    return Config.from_settings(settings)


def project_crawler(spidercls=None, **settings):
    """A crawler with imgprint's settings plus ``settings``, built in-process
    (``scrapy.utils.test.get_crawler``): components can be built from it."""
    from scrapy.utils.test import get_crawler

    from imgprint import settings as project_settings

    values = {k: getattr(project_settings, k) for k in dir(project_settings) if k.isupper()}
    return get_crawler(spidercls, settings_dict={**values, **settings})
