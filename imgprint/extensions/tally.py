"""What a crawl recorded, counted from its records, and the summary shown at close.

Plain functions and one dataclass: ``Tally.add(record)`` for each record the
feeds get; ``summary_lines`` turns a tally, the crawl's stats and its feeds
into the few lines ``scrapy crawl`` logs at the end. ``LinksNotFollowed``
counts, at the close, the same-site links the depth limit left out (stats key
``imgprint/links/not_followed``), so the summary can say how to follow them.

The summary counts what a user can check: images recorded from pages and from
image seeds, failed pages and failed image seeds apart (a failed image seed
still gets an error record), every failure in the ``errors`` line, and "1
image", "2 images".
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from itemadapter import ItemAdapter
from scrapy import signals

from imgprint import signals as imgprint_signals
from imgprint.frontier.state import CrawlState
from imgprint.items import ImageRecord


def error_kind(error: str) -> str:
    """``HTTP 404``, ``timeout``, ``connection refused``, ``EXIF not readable``…"""
    kind = error.split(":", 1)[0].strip()
    kind = re.sub(r"\s+", " ", kind)
    return kind[:40] + ("…" if len(kind) > 40 else "")


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 image``, ``2 images``, ``0 later sightings``."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


@dataclass
class Tally:
    records: int = 0  # image records (not seen_before ones)
    seen_again: int = 0
    seed_images: int = 0  # records of seeds that are images (pages == [])
    seed_images_failed: int = 0  # of which the seed failed: an error record, no bytes
    fingerprinted: int = 0
    small: int = 0
    with_exif: int = 0
    with_gps: int = 0
    with_xmp: int = 0
    with_iptc: int = 0
    incomplete: int = 0
    bytes_fetched: int = 0
    sizes_known: int = 0  # total size of the images whose size is known
    errors: Counter[str] = field(default_factory=Counter)

    def add(self, item: Any) -> None:
        # An ImageRecord's set fields are its attributes (imgprint.items): read
        # them directly, not through an item adapter (11 lookups a record,
        # most of them of unset fields, each a caught exception).
        record: Mapping[str, Any] = (item.__dict__ if isinstance(item, ImageRecord)
                                     else ItemAdapter(item))
        if record.get("seen_before"):
            self.seen_again += 1
            return
        self.records += 1
        if not record.get("pages"):
            self.seed_images += 1
            if record.get("error") and not record.get("bytes_fetched"):
                self.seed_images_failed += 1
        if record.get("sha256_first_10240_bytes"):
            self.fingerprinted += 1
        if record.get("exif"):
            self.with_exif += 1
        if record.get("gps"):
            self.with_gps += 1
        if record.get("xmp"):
            self.with_xmp += 1
        if record.get("iptc"):
            self.with_iptc += 1
        if record.get("metadata_incomplete"):
            self.incomplete += 1
        if record.get("error"):
            self.errors[error_kind(str(record["error"]))] += 1
        size = record.get("image_size")
        if isinstance(size, int):
            self.sizes_known += size
        self.bytes_fetched += int(record.get("bytes_fetched") or 0)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


def summary_lines(tally: Tally, stats: Mapping[str, Any], feeds: list[str],
                  depth: int = 0) -> list[str]:
    """The human summary: what was crawled and what was not, fingerprints,
    errors by kind, bytes, feeds. ``depth`` is the crawl's ``-a depth``."""
    pages = int(stats.get("imgprint/pages", 0))
    pages_failed = int(stats.get("imgprint/pages/failed", 0))
    seeds_failed = tally.seed_images_failed
    failed = [counted(n, noun) for n, noun in ((pages_failed, "page"),
                                               (seeds_failed, "image seed")) if n]
    seeds = int(stats.get("imgprint/seeds", 0))
    crawled = not seeds or int(stats.get("imgprint/seeds/failed", 0)) < seeds
    if not crawled:
        which = f" ({', '.join(failed)})" if failed else ""
        lines = [f"nothing was crawled: {'the seed' if seeds == 1 else f'all {seeds} seeds'}"
                 f" failed{which}; the errors above say why"]
    else:
        lines = [crawled_line(tally, pages, failed), *not_followed_lines(stats, depth)]
        small = int(stats.get("imgprint/images/small", 0))
        lines.append(f"fingerprinted {tally.fingerprinted}, small {small} (under"
                     f" IMGPRINT_MIN_SIZE), with EXIF {tally.with_exif}, with XMP"
                     f" {tally.with_xmp}, with IPTC {tally.with_iptc}, with GPS"
                     f" {tally.with_gps}, metadata incomplete {tally.incomplete}")
    kinds = Counter({"failed page": pages_failed}) if pages_failed else Counter()
    kinds.update(tally.errors)
    if kinds:
        shown = ", ".join(f"{kind} ×{n}" for kind, n in kinds.most_common(6))
        more = len(kinds) - 6
        lines.append(f"errors {sum(kinds.values())}: {shown}"
                     + (f", {more} more kinds" if more > 0 else ""))
    else:
        lines.append("errors 0")
    if crawled:
        share = (f" ({100 * tally.bytes_fetched / tally.sizes_known:.1f} %)"
                 if tally.sizes_known else "")
        lines.append(f"fetched {human_bytes(tally.bytes_fetched)} of images totalling"
                     f" {human_bytes(tally.sizes_known)}{share};"
                     f" {human_bytes(int(stats.get('downloader/response_bytes', 0)))}"
                     " received in all")
    lines.append("feed: " + (", ".join(feeds) if feeds else "none"))
    if seeds_failed and tally.records == seeds_failed:
        lines[-1] += (f" ({counted(seeds_failed, 'error record')}: the failed image"
                      f" seed{'s' if seeds_failed > 1 else ''})")
    return lines


def crawled_line(tally: Tally, pages: int, failed: list[str]) -> str:
    """``493 images recorded (0 later sightings) from 25 pages; failed: 1 page``."""
    found = tally.seed_images - tally.seed_images_failed
    sources = [counted(pages, "page")] if pages or not found else []
    if found:
        sources.append(counted(found, "image seed"))
    line = (f"{counted(tally.records - tally.seed_images_failed, 'image')} recorded"
            f" ({counted(tally.seen_again, 'later sighting')}) from {' and '.join(sources)}")
    return line + (f"; failed: {', '.join(failed)}" if failed else "")


def not_followed_lines(stats: Mapping[str, Any], depth: int) -> list[str]:
    """What the depth limit and the per-page caps left out, and how to get it."""
    lines = []
    links = int(stats.get(LinksNotFollowed.KEY, 0))
    if links:
        lines.append(f"{counted(links, 'same-site link')} not followed: add -a"
                     f" depth={depth + 1} to follow {'it' if links == 1 else 'them'}")
    capped = int(stats.get("imgprint/pages/depth_capped", 0))
    if capped:
        lines.append(f"links not followed on {counted(capped, 'page')}:"
                     " IMGPRINT_MAX_PAGES_PER_DEPTH reached")
    capped = int(stats.get("imgprint/pages/images_capped", 0))
    if capped:
        lines.append(f"images not recorded on {counted(capped, 'page')}:"
                     " IMGPRINT_MAX_IMAGES_PER_PAGE reached")
    return lines


class LinksNotFollowed:
    """Counts, when the spider closes, the distinct same-site links the spider
    found on pages at its depth limit (``CrawlState.links_not_followed``) that no
    page request covered (a seed, or a page reached another way): stats key
    ``imgprint/links/not_followed``. Built by ``scrapy crawl`` for its summary."""

    KEY = "imgprint/links/not_followed"

    def __init__(self, crawler: Any):
        self.crawler = crawler
        self.pages: set[str] = set()
        crawler.signals.connect(self.page_scheduled, signal=imgprint_signals.page_scheduled)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    def page_scheduled(self, url: str, **_: Any) -> None:
        self.pages.add(url)

    def spider_closed(self, spider: Any) -> None:
        links = CrawlState.of(self.crawler).links_not_followed
        self.crawler.stats.set_value(self.KEY, len(links - self.pages))


def resume_command(argv: list[str]) -> str:
    """The command line that resumes this crawl (same arguments, same JOBDIR), from
    ``sys.argv`` as Scrapy leaves it: the command name taken out."""
    return shlex.join(["scrapy", "crawl", *argv[1:]])
