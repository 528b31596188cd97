"""One worker's part in a crawl on the shared frontier (``IMGPRINT_REDIS_URL``).

An extension; ``NotConfigured`` without the setting, raised without a message:
a component that is simply off is not worth a warning on every run. It:

* renews this worker's leases every third of ``IMGPRINT_REDIS_LEASE`` (a dead
  worker stops renewing, and its requests go back to the queue);
* commits a record once the feed exporter has written it: flushes the feed
  files, then marks the image recorded and releases its lease in one script
  (``Frontier.commit``). A kill between the two leaves the record written and
  the lease out, so the image is fetched again and the retaking worker finds it
  not yet recorded: the one window for a second record is that round trip. Pages
  that found the image after its record was made get a ``seen_before`` line;
* keeps an idle worker open while the queue is not empty or any worker holds a
  lease (expired leases are put back here too), and marks the crawl finished
  when neither is true: a later worker on the same crawl refuses to start;
* stops the worker cleanly (finish reason ``redis_unreachable``, ``scrapy
  crawl`` exit status 5) when Redis is gone for longer than
  ``IMGPRINT_REDIS_RETRY``.

Must run after ``FeedExporter`` (order > 0): its ``item_scraped`` handler writes
the line this one commits. Settings: ``IMGPRINT_REDIS_*``. Stats:
``imgprint/redis/*``, ``imgprint/images/seen_before``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import DontCloseSpider, NotConfigured
from twisted.internet import task

from imgprint.config import Config
from imgprint.frontier import OWED_ATTR, is_on
from imgprint.frontier.shared import RedisFrontier
from imgprint.frontier.state import CrawlState
from imgprint.items import ImageRecord, page_chunks
from imgprint.scrapy_internals import flush_feeds

if TYPE_CHECKING:
    from imgprint.frontier.store import Frontier

logger = logging.getLogger(__name__)
LOST_REASON = "redis_unreachable"


class FrontierWorker:
    def __init__(self, crawler: Any, config: Config):
        self.crawler = crawler
        self.config = config
        self.state = CrawlState.of(crawler)
        self.frontier: Frontier | None = None
        self._beat: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> FrontierWorker:
        if not is_on(crawler.settings):
            raise NotConfigured  # no message: Scrapy would log "Disabled ..." as a WARNING
        ext = cls(crawler, Config.from_crawler(crawler))
        connect = crawler.signals.connect
        connect(ext.spider_opened, signal=signals.spider_opened)
        connect(ext.spider_closed, signal=signals.spider_closed)
        connect(ext.spider_idle, signal=signals.spider_idle)
        connect(ext.item_scraped, signal=signals.item_scraped)
        connect(ext.item_done, signal=signals.item_dropped)
        connect(ext.item_done, signal=signals.item_error)
        connect(ext.spider_error, signal=signals.spider_error)
        return ext

    def spider_opened(self, spider: Any) -> None:
        shared = self.state.frontier
        assert isinstance(shared, RedisFrontier)
        self.frontier = shared.store
        self.frontier.stats = self.crawler.stats  # not there yet when the spider is made
        self.frontier.on_lost = self.lost
        logger.info("Worker %s on crawl %r (frontier %s)", self.frontier.token,
                    self.config.redis_crawl, self.frontier.key("*"))
        self._beat = task.LoopingCall(self.frontier.renew)
        self._beat.start(self.config.redis_lease / 3, now=False)

    def spider_closed(self, spider: Any, reason: str) -> None:
        if self._beat is not None and self._beat.running:
            self._beat.stop()
        if self.frontier is not None:
            self.frontier.client.close()

    def spider_idle(self, spider: Any) -> None:
        frontier = self.frontier
        if frontier is None or frontier.lost is not None:
            return
        queued, leased = frontier.state()
        if queued or leased:
            # Other workers' requests may still add work, or die and leave it.
            raise DontCloseSpider
        frontier.finish()
        logger.info("Frontier of crawl %r is empty and no lease is out: crawl finished",
                    self.config.redis_crawl)

    def item_scraped(self, item: Any, response: Any, spider: Any) -> None:
        owed = getattr(item, OWED_ATTR, None)
        if owed is None or self.frontier is None:
            return
        flush_feeds(self.crawler)  # the line is in the file before it counts as done
        late = self.frontier.commit(*owed)
        if late:
            self.crawler.stats.inc_value("imgprint/images/seen_before")
            for pages in page_chunks(late, self.config.max_pages_per_record):
                self.state.emit_late(ImageRecord.sighting(owed[0], pages))

    def item_done(self, item: Any, response: Any, spider: Any, **kwargs: Any) -> None:
        """A record dropped or failed in a pipeline: done all the same."""
        owed = getattr(item, OWED_ATTR, None)
        if owed is not None and self.frontier is not None:
            self.frontier.commit(*owed)

    def spider_error(self, failure: Any, response: Any, spider: Any) -> None:
        self.state.frontier.lease_done(getattr(response, "request", None))

    def lost(self, exc: Exception) -> None:
        from imgprint.preflight import redacted

        logger.error("Redis at %s unreachable for more than %s s (%s): stopping this"
                     " worker. Its leased requests go back to the queue %s s after its"
                     " last renewal.", redacted(self.config.redis_url),
                     self.config.redis_retry, exc, self.config.redis_lease)
        self.crawler.stats.set_value("imgprint/redis/lost", 1)
        engine = self.crawler.engine
        if engine is not None:
            asyncio.get_event_loop().call_soon(
                lambda: asyncio.ensure_future(engine.close_spider_async(reason=LOST_REASON)))
