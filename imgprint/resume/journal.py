"""The job's journal, and what earlier runs of the job left to do.

``JOBDIR/imgprint-journal.jsonl`` gets one line per discovery, written whole
and flushed at once (a kill can cut only the last line):

* ``{"page": url, "depth": n}``: a page request was made;
* ``{"page_done": url}``: the page was parsed to the end, failed or dropped;
* ``{"image": url, "on": page}``: the page references the image.

``load_state`` reads the job back into a ``ResumeState``: first the URLs
recorded in the job's feed files (``imgprint.resume.feeds``), then the journal,
keeping pages not done and images not recorded. Both are streamed line by line;
partial last lines are cut first, so this run appends after whole lines.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from imgprint.resume.feeds import listed_feeds, recorded_urls
from imgprint.resume.lines import cut_partial_line, json_lines

logger = logging.getLogger(__name__)

JOURNAL = "imgprint-journal.jsonl"


@dataclass
class ResumeState:
    """What earlier runs of a job did; empty for a new job (or without ``JOBDIR``)."""

    # Page URL -> depth, for every page ever requested by the job.
    pages: dict[str, int] = field(default_factory=dict)
    # Pages requested and not parsed to the end (url -> depth).
    pending_pages: dict[str, int] = field(default_factory=dict)
    # Images without a record -> the pages that referenced them.
    pending_images: dict[str, list[str]] = field(default_factory=dict)
    # Image URLs with a complete record in the job's feeds.
    recorded: set[str] = field(default_factory=set)
    # Partial feed lines (cut by a kill) removed on load.
    repaired: int = 0


def _read_feeds(jobdir: Path, state: ResumeState) -> None:
    for feed in listed_feeds(jobdir):
        state.repaired += bool(cut_partial_line(feed))
        state.recorded.update(recorded_urls(feed))


def _read_journal(path: Path, state: ResumeState) -> None:
    done: set[str] = set()
    for entry in json_lines(path):
        if "page" in entry:
            state.pages.setdefault(entry["page"], entry.get("depth", 0))
        elif "page_done" in entry:
            done.add(entry["page_done"])
        elif "image" in entry and entry["image"] not in state.recorded:
            pages = state.pending_images.setdefault(entry["image"], [])
            page = entry.get("on")
            if page and page not in pages:
                pages.append(page)
    state.pending_pages = {p: d for p, d in state.pages.items() if p not in done}


def load_state(jobdir: Path) -> ResumeState:
    """What earlier runs of the job in ``jobdir`` discovered and recorded."""
    state = ResumeState()
    _read_feeds(jobdir, state)
    path = jobdir / JOURNAL
    cut = cut_partial_line(path)
    if cut:
        logger.debug("Removed a partial last line (%d bytes) from %s", cut, path)
    _read_journal(path, state)
    return state


class Journal:
    """Appends discoveries to ``JOBDIR/imgprint-journal.jsonl``, a line a write."""

    def __init__(self, jobdir: str | Path):
        self.dir = Path(jobdir)
        self.path = self.dir / JOURNAL
        self._file: IO[str] | None = None

    def _write(self, entry: dict[str, Any]) -> None:
        if self._file is None:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8", buffering=1)
        self._file.write(json.dumps(entry) + "\n")

    def page(self, url: str, depth: int) -> None:
        self._write({"page": url, "depth": depth})

    def page_done(self, url: str) -> None:
        self._write({"page_done": url})

    def image(self, url: str, page: str | None) -> None:
        self._write({"image": url, "on": page})

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
