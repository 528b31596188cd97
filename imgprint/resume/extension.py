"""``ResumeExtension``: journal what the spider discovers, hand it back on resume.

Enabled by ``JOBDIR`` (``NotConfigured`` without it). In ``from_crawler`` it
checks the feeds (``check_jobdir_feeds``: a ``ConfigError`` stops the crawl
before any request) and loads what earlier runs of the job left to do
(``load_state``). Then it follows these signals:

* ``spider_opened``: lists this run's local feed files in
  ``JOBDIR/imgprint-feeds.txt`` (the feed exporter's slots exist by then: this
  extension's order number must be above ``FeedExporter``'s 0) and sets the
  stats below;
* ``imgprint.signals.page_scheduled``/``page_finished``/``image_found``: one
  journal line each;
* ``imgprint.signals.resume_requested``: answers with the loaded
  ``ResumeState``;
* ``spider_closed``: closes the journal.

Settings read: ``JOBDIR`` and, through ``check_jobdir_feeds``, ``FEEDS``,
``FEED_EXPORT_BATCH_ITEM_COUNT``, ``FEED_URI``/``FEED_FORMAT``,
``IMGPRINT_DEFAULT_FEED``.

Stats: ``imgprint/resume/pages`` and ``imgprint/resume/images`` (left to do by
earlier runs), ``imgprint/resume/recorded`` (images recorded by them),
``imgprint/resume/repaired_lines`` (partial feed lines removed).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured

from imgprint import signals as imgprint_signals
from imgprint.resume.feeds import check_jobdir_feeds, note_feeds
from imgprint.resume.journal import Journal, ResumeState, load_state
from imgprint.scrapy_internals import feed_uris

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class ResumeExtension:
    """Makes a crawl with ``JOBDIR`` resumable after a kill (module docstring)."""

    def __init__(self, crawler: Crawler, jobdir: Path, state: ResumeState):
        self.crawler = crawler
        self.jobdir = jobdir
        self.state = state
        self.journal = Journal(jobdir)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ResumeExtension:
        jobdir = crawler.settings.get("JOBDIR")
        if not jobdir:
            raise NotConfigured("JOBDIR is not set: nothing to resume")
        check_jobdir_feeds(crawler.settings)
        path = Path(jobdir)
        path.mkdir(parents=True, exist_ok=True)
        ext = cls(crawler, path, load_state(path))
        connect = crawler.signals.connect
        connect(ext.spider_opened, signal=signals.spider_opened)
        connect(ext.spider_closed, signal=signals.spider_closed)
        connect(ext.page_scheduled, signal=imgprint_signals.page_scheduled)
        connect(ext.page_finished, signal=imgprint_signals.page_finished)
        connect(ext.image_found, signal=imgprint_signals.image_found)
        connect(ext.resume_requested, signal=imgprint_signals.resume_requested)
        return ext

    # -- Scrapy signals --------------------------------------------------------------
    def spider_opened(self, spider: Any) -> None:
        note_feeds(self.jobdir, feed_uris(self.crawler))
        state = self.state
        stats = self.crawler.stats
        assert stats is not None
        stats.set_value("imgprint/resume/pages", len(state.pending_pages))
        stats.set_value("imgprint/resume/images", len(state.pending_images))
        stats.set_value("imgprint/resume/recorded", len(state.recorded))
        stats.set_value("imgprint/resume/repaired_lines", state.repaired)
        if state.pages:
            logger.info(
                "Resuming job %s: %d images recorded, %d pages and %d images to do"
                " (%d partial feed lines removed)",
                self.jobdir, len(state.recorded), len(state.pending_pages),
                len(state.pending_images), state.repaired,
            )

    def spider_closed(self, spider: Any) -> None:
        self.journal.close()

    # -- imgprint signals ----------------------------------------------------------
    def page_scheduled(self, url: str, depth: int) -> None:
        self.journal.page(url, depth)

    def page_finished(self, url: str) -> None:
        self.journal.page_done(url)

    def image_found(self, url: str, page: str | None = None) -> None:
        self.journal.image(url, page)

    def resume_requested(self) -> ResumeState:
        return self.state
