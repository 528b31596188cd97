"""imgprint's scheduler with its queue and dupefilter in Redis (``IMGPRINT_REDIS_URL``).

``RedisScheduler`` is ``imgprint.scheduler.Scheduler`` (retries wait in it,
per-site parking) over ``FrontierQueue``, which replaces the layer below it,
Scrapy's in-memory queues and dupefilter, with the shared frontier:

* ``enqueue_request``: a new request is serialized (``Request.to_dict``, pickled:
  Redis must be trusted, as with scrapy-redis) and pushed, its fingerprint added
  to the crawl's ``seen`` set in the same script, so two workers finding the
  same page queue it once. ``False`` (a duplicate) makes the engine send
  ``request_dropped`` as Scrapy's own dupefilter would.
* ``next_request``: leases the next request (``imgprint.frontier.store``); its
  lease id travels in ``meta["imgprint_lease"]`` and the spider acknowledges it
  when the request is done (``imgprint.frontier.shared``). While the crawl's
  queued images exceed ``IMGPRINT_MAX_PENDING_IMAGES`` (or this worker has
  ``PAGE_WINDOW`` pages running) it leases images only, so pages wait in
  Redis, not their images.
* A request that already holds a lease -- a retry or a redirect of a request
  this worker took -- stays in this worker's memory: its lease (renewed by
  ``imgprint.frontier.worker``) still covers it, and if the worker dies the
  original request is done again by another.

Settings: selected by the images spider when ``IMGPRINT_REDIS_URL`` is set
(``SCHEDULER``); ``IMGPRINT_MAX_PER_SITE`` as for ``imgprint.scheduler``.
Stats: ``imgprint/redis/*`` (``imgprint.frontier.store``).
"""

from __future__ import annotations

import pickle
import time
from collections import deque
from typing import Any

from scrapy import Request
from scrapy.core.scheduler import Scheduler as ScrapyScheduler
from scrapy.utils.request import request_from_dict

from imgprint.frontier import LEASE_KEY
from imgprint.frontier.shared import RedisFrontier
from imgprint.frontier.state import CrawlState
from imgprint.frontier.store import Frontier
from imgprint.scheduler import Scheduler

# Seconds the engine may see an empty shared queue before asking Redis again.
EMPTY_RECHECK = 1.0


class FrontierQueue(ScrapyScheduler):
    """The bottom of the scheduler: Redis instead of Scrapy's memory queue."""

    frontier: Frontier

    def open(self, spider: Any) -> Any:
        assert self.crawler is not None
        shared = CrawlState.of(self.crawler).frontier
        assert isinstance(shared, RedisFrontier)
        self.frontier = shared.store
        self._local: deque[Request] = deque()  # leased retries and redirects
        return super().open(spider)

    def enqueue_request(self, request: Request) -> bool:
        assert self.crawler is not None and self.stats is not None
        fingerprint = (None if request.dont_filter
                       else self.crawler.request_fingerprinter.fingerprint(request).hex())
        if LEASE_KEY in request.meta:
            if fingerprint is not None and not self.frontier.mark_seen(fingerprint):
                self.stats.inc_value("imgprint/redis/filtered")
                return False
            self._local.append(request)
            return True
        data = pickle.dumps(request.to_dict(spider=self.spider), protocol=5)
        return self.frontier.push(data, fingerprint, request.priority)

    def may_take(self) -> bool:
        """Whether to lease another request from Redis now."""
        return True

    def next_request(self) -> Request | None:
        if self._local:
            return self._local.popleft()
        if not self.may_take():
            return None
        # While images are pending over IMGPRINT_MAX_PENDING_IMAGES, lease images
        # only: the pages wait in Redis (``imgprint.scheduler``, ``take_pages``).
        popped = self.frontier.pop(pages=getattr(self, "take_pages", True))
        if popped is None:
            return None
        lease, data = popped
        request = request_from_dict(pickle.loads(data), spider=self.spider)  # noqa: S301
        request.meta[LEASE_KEY] = lease
        if self.frontier.seed_hosts_in_redis != self.frontier.seed_host_count:
            # Another worker seeded other hosts: the network guard must know them
            # before this request reaches it.
            assert self.crawler is not None
            CrawlState.of(self.crawler).learn_seed_hosts(self.frontier.seed_hosts())
        return request

    def __len__(self) -> int:
        frontier = self.frontier
        if not frontier.queued and time.monotonic() - frontier.queued_at > EMPTY_RECHECK:
            frontier.queued, frontier.queued_at = frontier.queue_length(), time.monotonic()
        return len(self._local) + frontier.queued

    def has_pending_requests(self) -> bool:
        return len(self) > 0


class RedisScheduler(Scheduler, FrontierQueue):
    """``imgprint.scheduler.Scheduler`` over the shared frontier.

    Requests parked because their site is busy stay leased to this worker, so it
    takes no new ones from Redis while ``CONCURRENT_REQUESTS`` of them wait here:
    otherwise one worker crawling one slow site would drain the shared queue into
    its parking and leave the other workers idle.
    """

    def may_take(self) -> bool:
        assert self.crawler is not None
        parked = sum(len(q) for q in self._parked.values())
        return parked < self.crawler.settings.getint("CONCURRENT_REQUESTS")
