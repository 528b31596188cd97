"""Progress you can watch: one log line every few seconds, a bar on a terminal.

Replaces Scrapy's ``LogStats`` (whose "Crawled N pages" counts image answers
as pages). Every ``IMGPRINT_PROGRESS_INTERVAL`` seconds (default 10; 0: off)::

    Progress: pages 12 done, 13 pending | images 240 recorded, 180 pending,
    48.0/s (40.2/s overall) | 2.4 MB received | errors 3 | ETA ~4 s

"pending" pages are requested and not yet parsed; pending images are found and
not yet recorded; the ETA is pending images at the recent rate (more pages may
still add images). With ``IMGPRINT_PROGRESS_BAR`` (default true) and stderr a
terminal (not under Scrapyd, not with ``CI`` set), the same figures are also
redrawn once a second on one line of stderr, cleared before each log line.

It also keeps the ``Tally`` of the records (``imgprint.extensions.tally``) from
which ``scrapy crawl`` writes its summary at the end.

Settings: ``IMGPRINT_PROGRESS_INTERVAL``, ``IMGPRINT_PROGRESS_BAR``. Stats:
``imgprint/memory/peak`` (the crawl process's own peak RSS in bytes, at close).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

from scrapy import signals
from scrapy.exceptions import NotConfigured
from twisted.internet import task

from imgprint.config import Config
from imgprint.extensions.tally import Tally, human_bytes
from imgprint.frontier.state import CrawlState

logger = logging.getLogger(__name__)
BAR_SECONDS = 1.0


def progress_line(figures: dict[str, Any]) -> str:
    f = figures
    eta = ""
    if f["rate"] > 0 and f["images_pending"]:
        seconds = f["images_pending"] / f["rate"]
        eta = f" | ETA ~{seconds:.0f} s" if seconds >= 1 else " | ETA <1 s"
    return (f"pages {f['pages_done']} done, {f['pages_pending']} pending | images"
            f" {f['recorded']} recorded, {f['images_pending']} pending, {f['rate']:.1f}/s"
            f" ({f['overall']:.1f}/s overall) | {human_bytes(f['bytes'])} received |"
            f" errors {f['errors']}{eta}")


def bar_wanted(enabled: bool, stream: Any = None) -> bool:
    stream = stream or sys.stderr
    return (enabled and hasattr(stream, "isatty") and stream.isatty()
            and not os.environ.get("CI") and not os.environ.get("SCRAPYD_JOB"))


class _ClearBar(logging.Filter):
    """Clears the bar's line before a log line is written under it."""

    def __init__(self, progress: Progress):
        super().__init__()
        self.progress = progress

    def filter(self, record: logging.LogRecord) -> bool:
        self.progress.clear_bar()
        return True


def peak_rss() -> int | None:
    """This process's own peak resident size in bytes (Linux's VmHWM), or None.

    Scrapy's ``memusage/max`` is ``ru_maxrss``, which survives ``exec``: a crawl
    started by a big process (a test runner, a scheduler) reports that
    process's peak. VmHWM is the crawl's own address space's."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


class Progress:
    def __init__(self, crawler: Any, interval: float, bar: bool):
        self.crawler = crawler
        self.interval = interval
        self.tally = Tally()
        self.bar = bar
        self._bar_shown = False
        self._loops: list[task.LoopingCall] = []
        self._filter = _ClearBar(self)
        self._start = self._last_time = time.monotonic()
        self._last_recorded = 0
        crawler.signals.connect(self.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Any) -> Progress:
        if getattr(crawler.spidercls, "name", None) != "images":
            raise NotConfigured  # another spider: Scrapy's LogStats is off, nothing else
        config = Config.from_crawler(crawler)
        return cls(crawler, config.progress_interval, bar_wanted(config.progress_bar))

    def item_scraped(self, item: Any) -> None:
        self.tally.add(item)

    def figures(self, spider: Any) -> dict[str, Any]:
        stats = self.crawler.stats
        now = time.monotonic()
        recorded = self.tally.records
        recent = (recorded - self._last_recorded) / max(now - self._last_time, 1e-6)
        images, pages = CrawlState.of(self.crawler).waiting()
        return {
            "pages_done": int(stats.get_value("imgprint/pages", 0))
            + int(stats.get_value("imgprint/pages/not_html", 0)),
            "pages_pending": max(pages, 0),
            "recorded": recorded,
            "images_pending": images,
            "rate": recent,
            "overall": recorded / max(now - self._start, 1e-6),
            "bytes": int(stats.get_value("downloader/response_bytes", 0)),
            "errors": self.tally.error_count
            + int(stats.get_value("imgprint/pages/failed", 0)),
        }

    def spider_opened(self, spider: Any) -> None:
        self._start = self._last_time = time.monotonic()
        if self.interval:
            self._loops.append(self._every(self.interval, self.log_progress, spider))
        if self.bar:
            for handler in logging.getLogger().handlers:
                handler.addFilter(self._filter)
            self._loops.append(self._every(BAR_SECONDS, self.draw_bar, spider))

    def _every(self, seconds: float, function: Any, spider: Any) -> task.LoopingCall:
        loop = task.LoopingCall(function, spider)
        loop.start(seconds, now=False)
        return loop

    def log_progress(self, spider: Any) -> None:
        figures = self.figures(spider)
        self._last_time, self._last_recorded = time.monotonic(), figures["recorded"]
        logger.info("Progress: %s", progress_line(figures))

    def draw_bar(self, spider: Any) -> None:
        f = self.figures(spider)
        total = f["recorded"] + f["images_pending"]
        done = f["recorded"] / total if total else 0.0
        width = 30
        filled = int(done * width)
        line = (f"[{'#' * filled}{'.' * (width - filled)}] {f['recorded']}/{total} images"
                f" | {f['pages_pending']} pages pending | {f['overall']:.0f}/s")
        sys.stderr.write("\r\x1b[K" + line)
        sys.stderr.flush()
        self._bar_shown = True

    def clear_bar(self) -> None:
        if self._bar_shown:
            sys.stderr.write("\r\x1b[K")
            self._bar_shown = False

    def spider_closed(self, spider: Any) -> None:
        peak = peak_rss()
        if peak is not None:
            self.crawler.stats.set_value("imgprint/memory/peak", peak)
        for loop in self._loops:
            if loop.running:
                loop.stop()
        self.clear_bar()
        for handler in logging.getLogger().handlers:
            handler.removeFilter(self._filter)
