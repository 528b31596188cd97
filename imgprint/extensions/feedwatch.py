"""Notice a feed that could not be written, so ``scrapy crawl`` can exit 4.

Scrapy's ``FeedExporter`` logs a failed upload or file write as one ERROR line
(``Error storing jsonlines feed (12 items) in: s3://…``; or an error in its
``item_scraped`` handler when the file cannot be written) and carries on: the
crawl would exit 0 with its records lost. ``FeedWatch`` listens to the
exporter's logger and to Scrapy's signal-error logger for those records and
keeps one line per failed feed (``failures``), with the exception's message.

No settings. Stats: ``imgprint/feeds/failed``.
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy import signals

from imgprint.preflight import redacted

LOGGERS = ("scrapy.extensions.feedexport", "scrapy.utils.signal")


class _Catch(logging.Handler):
    def __init__(self, watch: FeedWatch):
        super().__init__(logging.ERROR)
        self.watch = watch

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        error = record.exc_info[1] if record.exc_info else None
        why = f"{type(error).__name__}: {error}" if error else "see the log"
        if message.startswith("Error storing "):
            self.watch.failed(f"{redacted(message.removeprefix('Error storing '))}: {why}")
        elif "FeedExporter" in message or "FeedSlot" in message:
            self.watch.failed(f"writing a record failed: {why}")


class FeedWatch:
    def __init__(self, crawler: Any):
        self.crawler = crawler
        self.failures: list[str] = []
        self._handler = _Catch(self)
        for name in LOGGERS:
            logging.getLogger(name).addHandler(self._handler)
        crawler.signals.connect(self.engine_stopped, signal=signals.engine_stopped)

    @classmethod
    def from_crawler(cls, crawler: Any) -> FeedWatch:
        return cls(crawler)

    def failed(self, line: str) -> None:
        if line not in self.failures:
            self.failures.append(line)
            self.crawler.stats.inc_value("imgprint/feeds/failed")

    def engine_stopped(self) -> None:
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(self._handler)
