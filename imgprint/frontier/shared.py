"""The frontier of a crawl shared by many workers (``IMGPRINT_REDIS_URL``).

``RedisFrontier`` answers ``imgprint.frontier.local.Frontier``'s questions from
Redis (``imgprint.frontier.store``):

* Which pages reference an image, and whether it is recorded, live in Redis
  (``found_many``/``take``/``commit``): page A parsed by one worker and its
  image fetched by another still give one record listing every page.
* A leased request is acknowledged when it is done: a page when its callback
  has run to the end (its image and link requests are queued by then), an image
  when its record is written (``imgprint.frontier.worker`` commits it after the
  feed exporter wrote the line). A record carries its lease in ``OWED_ATTR``.
* Seed hosts are shared, so every worker's network guard allows every seed host.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from imgprint.frontier import LEASE_KEY, OWED_ATTR

if TYPE_CHECKING:
    from scrapy import Request

    from imgprint.frontier.store import Frontier as Store
    from imgprint.items import ImageRecord


class RedisFrontier:
    def __init__(self, store: Store) -> None:
        self.store = store

    def add_seed_hosts(self, hosts: Iterable[str]) -> set[str]:
        self.store.add_seed_hosts(hosts)
        return self.store.seed_hosts()

    def found_many(self, urls: list[str], page: str) -> list[int]:
        return self.store.found_many(urls, page)

    def preload(self, pending: dict[str, list[str]]) -> None:
        pass  # JOBDIR resume is refused with a shared frontier

    def take(self, url: str, request: Request | None) -> list[str] | None:
        pages = self.store.take(url)
        if pages is None:
            self.lease_done(request)
        return pages

    def owe(self, record: ImageRecord, request: Request) -> None:
        lease = request.meta.pop(LEASE_KEY, "")
        setattr(record, OWED_ATTR, (record.url, len(record.pages), lease))

    def lease_done(self, request: Request | None) -> None:
        if request is not None:
            lease = request.meta.pop(LEASE_KEY, None)
            if lease:
                self.store.ack(lease)

    def overflow(self) -> list[tuple[str, list[str]]]:
        return []  # Redis holds the pages; the record splits them (split_pages)

    def dropped(self, url: str) -> list[str] | None:
        return None  # pages wait in Redis; the scheduler filters there

    def waiting(self, open_pages: int) -> tuple[int, int]:
        # The whole crawl's queue: its requests other than pages, and its pages.
        store = self.store
        return max(store.queued - store.queued_pages, 0), store.queued_pages

    def watch(self, changed: Callable[[], None]) -> None:
        # Other workers' pushes and pops change the queue: the seed window follows.
        self.store.on_change = changed
