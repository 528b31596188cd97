"""What a crawl recorded, counted from its records, and the summary shown at close.

Plain functions and one dataclass: ``Tally.add(record)`` for each record the
feeds get; ``summary_lines`` turns a tally, the crawl's stats and its feeds
into the few lines ``scrapy crawl`` logs at the end.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from itemadapter import ItemAdapter

from imgprint.items import ImageRecord


def error_kind(error: str) -> str:
    """``HTTP 404``, ``timeout``, ``connection refused``, ``EXIF not readable``…"""
    kind = error.split(":", 1)[0].strip()
    kind = re.sub(r"\s+", " ", kind)
    return kind[:40] + ("…" if len(kind) > 40 else "")


@dataclass
class Tally:
    records: int = 0  # image records (not seen_before ones)
    seen_again: int = 0
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


def summary_lines(tally: Tally, stats: Mapping[str, Any], feeds: list[str]) -> list[str]:
    """The human summary: records, fingerprints, errors by kind, bytes, feeds."""
    pages = int(stats.get("imgprint/pages", 0))
    failed = int(stats.get("imgprint/pages/failed", 0))
    small = int(stats.get("imgprint/images/small", 0))
    lines = [f"{tally.records} images recorded ({tally.seen_again} later sightings) from"
             f" {pages} pages ({failed} failed)"]
    lines.append(f"fingerprinted {tally.fingerprinted}, small {small} (under"
                 f" IMGPRINT_MIN_SIZE), with EXIF {tally.with_exif}, with XMP {tally.with_xmp},"
                 f" with IPTC {tally.with_iptc}, with GPS {tally.with_gps},"
                 f" metadata incomplete {tally.incomplete}")
    if tally.errors:
        kinds = ", ".join(f"{kind} ×{n}" for kind, n in tally.errors.most_common(6))
        more = len(tally.errors) - 6
        lines.append(f"errors {tally.error_count}: {kinds}" + (f", {more} more kinds"
                                                                if more > 0 else ""))
    else:
        lines.append("errors 0")
    share = (f" ({100 * tally.bytes_fetched / tally.sizes_known:.1f} %)"
             if tally.sizes_known else "")
    lines.append(f"fetched {human_bytes(tally.bytes_fetched)} of images totalling"
                 f" {human_bytes(tally.sizes_known)}{share};"
                 f" {human_bytes(int(stats.get('downloader/response_bytes', 0)))} received"
                 " in all")
    lines.append("feed: " + (", ".join(feeds) if feeds else "none"))
    return lines


def resume_command(argv: list[str]) -> str:
    """The command line that resumes this crawl (same arguments, same JOBDIR), from
    ``sys.argv`` as Scrapy leaves it: the command name taken out."""
    return shlex.join(["scrapy", "crawl", *argv[1:]])
