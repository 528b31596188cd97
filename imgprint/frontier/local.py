"""The frontier's interface, and the one-process frontier (no Redis).

``CrawlState`` (``imgprint.frontier.state``) holds one frontier: ``LocalFrontier`` here,
or ``imgprint.frontier.shared.RedisFrontier`` with ``IMGPRINT_REDIS_URL``. Both
answer the same questions, so nothing else branches on which one it is: which
pages reference an image not yet recorded, whether a page's image is new, how
much work waits, and (Redis only, no-ops here) the leases a record completes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

# What a page's reference to an image means (the Redis scripts use the same codes).
FOUND_ADDED, FOUND_NEW, FOUND_RECORDED, FOUND_KNOWN = 0, 1, 2, 3

if TYPE_CHECKING:
    from scrapy import Request

    from imgprint.items import ImageRecord


class Frontier(Protocol):
    def add_seed_hosts(self, hosts: Iterable[str]) -> set[str]:
        """Add this process's seed hosts; return the whole crawl's."""

    def found_many(self, urls: list[str], page: str) -> list[int]:
        """``page`` references each of ``urls``: a FOUND_* code for each."""

    def preload(self, pending: dict[str, list[str]]) -> None:
        """Images an earlier run left pending (resume), with their pages."""

    def take(self, url: str, request: Request | None) -> list[str] | None:
        """The pages of ``url`` for its record; None: recorded by another worker."""

    def owe(self, record: ImageRecord, request: Request) -> None:
        """Writing ``record`` completes ``request``'s lease."""

    def lease_done(self, request: Request | None) -> None:
        """``request`` is done and owes no record."""

    def dropped(self, url: str) -> list[str] | None:
        """An image request the dupefilter dropped: the pages still waiting on it."""

    def waiting(self, open_pages: int) -> tuple[int, int]:
        """(images queued or pending, pages queued or open): the seed window's input."""

    def overflow(self) -> list[tuple[str, list[str]]]:
        """Pages taken off pending images that reached the per-record cap, to be
        written now as sightings (each image keeps its newest page)."""

    def watch(self, changed: Callable[[], None]) -> None:
        """Call ``changed`` when ``waiting`` changes outside this process."""


class LocalFrontier:
    """The crawl's frontier in this process's memory."""

    def __init__(self, recorded: set[str] | None = None, max_pages: int = 0) -> None:
        # Image URL -> pages that referenced it, for images not yet recorded;
        # at most `max_pages` each (0: no cap), the rest in `_overflow`.
        self.pending: dict[str, list[str]] = {}
        self.max_pages = max_pages
        self._overflow: list[tuple[str, list[str]]] = []
        # Images recorded by an earlier run of this job (resume).
        self.recorded: set[str] = recorded if recorded is not None else set()

    def add_seed_hosts(self, hosts: Iterable[str]) -> set[str]:
        return {h for h in hosts if h}

    def found_many(self, urls: list[str], page: str) -> list[int]:
        return [self._found(url, page) for url in urls]

    def _found(self, url: str, page: str) -> int:
        pages = self.pending.get(url)
        if pages is not None:
            if page in pages:
                return FOUND_KNOWN
            pages.append(page)
            if self.max_pages and len(pages) > self.max_pages:
                self._overflow.append((url, pages[:-1]))
                del pages[:-1]
            return FOUND_ADDED
        if url in self.recorded:
            return FOUND_RECORDED
        # A URL recorded in this run comes back as new: its request is then
        # dropped by the dupefilter and `dropped` hands over the pages.
        self.pending[url] = [page]
        return FOUND_NEW

    def preload(self, pending: dict[str, list[str]]) -> None:
        self.pending.update(pending)

    def overflow(self) -> list[tuple[str, list[str]]]:
        out, self._overflow = self._overflow, []
        return out

    def take(self, url: str, request: Request | None) -> list[str] | None:
        return self.pending.pop(url, [])

    def owe(self, record: ImageRecord, request: Request) -> None:
        pass

    def lease_done(self, request: Request | None) -> None:
        pass

    def dropped(self, url: str) -> list[str] | None:
        return self.pending.pop(url, None)

    def waiting(self, open_pages: int) -> tuple[int, int]:
        return len(self.pending), open_pages

    def watch(self, changed: Callable[[], None]) -> None:
        pass  # nothing changes it but this process
