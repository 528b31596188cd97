"""Resume a crawl killed at any moment with every image recorded exactly once.

Scrapy's ``JOBDIR`` keeps the dupefilter's ``requests.seen`` safely (one line
per request, line-buffered) but not the scheduler's disk queues: queuelib
writes their state only on a clean close, and requests already taken from the
queue are lost at a SIGKILL. So, with ``JOBDIR`` set, imgprint:

* keeps pending requests in memory (``JournalScheduler``), and journals every
  page and image it discovers in ``JOBDIR/imgprint-journal.jsonl`` (one line a
  ``write()``: a kill can cut only the last line, which is ignored);
* treats the feed files as the truth of what is done: each run lists its local
  feed files in ``JOBDIR/imgprint-feeds.txt``; on resume their complete lines
  are the recorded images, and a line cut by the kill is removed (its image is
  fetched again);
* on resume requests what was discovered and not done: pages not parsed to the
  end, images without a record.

Exactly once holds across local feed files written with ``-o`` (append) or a
``%(time)s`` URI; a non-local feed (S3) is not read back on resume.

Settings: ``JOBDIR``. Stats: ``imgprint/resume/pages``, ``imgprint/resume/images``,
``imgprint/resume/recorded``, ``imgprint/resume/repaired_lines``.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from scrapy.core.scheduler import Scheduler
from scrapy.extensions.feedexport import FeedExporter

logger = logging.getLogger(__name__)

JOURNAL = "imgprint-journal.jsonl"
FEED_LIST = "imgprint-feeds.txt"


class JournalScheduler(Scheduler):
    """Scrapy's scheduler without disk queues; the journal replaces them."""

    def _dqdir(self, jobdir: str | None) -> str | None:
        return None


def repair_feed(path: Path) -> int:
    """Cut a partial last line (left by a kill); return the bytes removed."""
    try:
        f = path.open("rb+")
    except FileNotFoundError:
        return 0
    with f:
        size = pos = f.seek(0, os.SEEK_END)
        keep = 0
        while pos > 0:
            start = max(0, pos - 65536)
            f.seek(start)
            newline = f.read(pos - start).rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            pos = start
        if keep < size:
            f.truncate(keep)
        return size - keep


def read_records(path: Path) -> list[dict[str, Any]]:
    records = []
    try:
        with path.open("rb") as f:
            for line in f:
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue
    except FileNotFoundError:
        pass
    return records


def local_path(uri: str) -> Path | None:
    parts = urlsplit(uri)
    if parts.scheme in ("", "file"):
        return Path(unquote(parts.path) if parts.scheme else uri)
    if len(parts.scheme) == 1:  # a Windows drive letter
        return Path(uri)
    return None


@dataclass
class ResumeState:
    pages: dict[str, int] = field(default_factory=dict)  # page -> depth
    pages_done: set[str] = field(default_factory=set)
    images: dict[str, list[str]] = field(default_factory=dict)  # image -> pages
    recorded: set[str] = field(default_factory=set)
    repaired: int = 0

    @property
    def pending_pages(self) -> dict[str, int]:
        return {p: d for p, d in self.pages.items() if p not in self.pages_done}

    @property
    def pending_images(self) -> dict[str, list[str]]:
        return {u: p for u, p in self.images.items() if u not in self.recorded}


class Journal:
    def __init__(self, jobdir: str | Path):
        self.dir = Path(jobdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / JOURNAL
        self._file = None

    def load(self) -> ResumeState:
        """What earlier runs of this job discovered and recorded."""
        state = ResumeState()
        for entry in read_records(self.path):
            if "page" in entry:
                state.pages.setdefault(entry["page"], entry.get("depth", 0))
            elif "page_done" in entry:
                state.pages_done.add(entry["page_done"])
            elif "image" in entry:
                pages = state.images.setdefault(entry["image"], [])
                if entry.get("on") and entry["on"] not in pages:
                    pages.append(entry["on"])
        feed_list = self.dir / FEED_LIST
        if feed_list.exists():
            for line in dict.fromkeys(feed_list.read_text().splitlines()):
                feed = Path(line)
                state.repaired += bool(repair_feed(feed))
                state.recorded.update(
                    r["url"] for r in read_records(feed) if "url" in r and not r.get("seen_before")
                )
        return state

    def _write(self, entry: dict[str, Any]) -> None:
        if self._file is None:
            self._file = self.path.open("a", encoding="utf-8", buffering=1)
        self._file.write(json.dumps(entry) + "\n")

    def page(self, url: str, depth: int) -> None:
        self._write({"page": url, "depth": depth})

    def page_done(self, url: str) -> None:
        self._write({"page_done": url})

    def image(self, url: str, page: str | None) -> None:
        self._write({"image": url, "on": page})

    def note_feeds(self, crawler: Any) -> None:
        """List this run's local feed files, so the next run can read them back."""
        exporters = [e for e in crawler.extensions.middlewares if isinstance(e, FeedExporter)]
        paths = [local_path(slot.uri) for e in exporters for slot in e.slots]
        with (self.dir / FEED_LIST).open("a", encoding="utf-8") as f:
            for path in paths:
                if path is not None:
                    f.write(f"{path.resolve()}\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
