"""The feeds of a job: which ones resume can use, and what they recorded.

With ``JOBDIR`` the feed files are the truth of what is done, so every run of a
job must append JSON lines to local files that the next run can read back:
``-o out.jsonl`` (append) or a ``%(time)s`` file name (a new file each run).
``check_jobdir_feeds`` refuses the rest before any request is sent:

* ``-O`` (``overwrite``): a rerun would erase the records it skips fetching;
* a format other than JSON lines: a ``.json`` array cannot be appended to (a
  rerun cut the first run's closing ``]``), ``csv``/``xml`` cannot be read back;
* batch feeds (``batch_item_count``, ``FEED_EXPORT_BATCH_ITEM_COUNT``);
* only non-local feeds (``s3://``, ``ftp://``, ``stdout:``): none is read back.
  They are accepted next to a local JSON-lines feed, in batches too, when their
  name holds ``%(time)s``/``%(batch_time)s``/``%(batch_id)d`` (else each resumed
  run would replace the first run's object with its own records).

Settings read: ``JOBDIR``, ``FEEDS``, ``FEED_EXPORT_BATCH_ITEM_COUNT``,
``FEED_URI``/``FEED_FORMAT`` (deprecated by Scrapy, still honoured by it),
``IMGPRINT_DEFAULT_FEED`` (the file name suggested in messages).

Each run lists its local feed files in ``JOBDIR/imgprint-feeds.txt``;
``recorded_urls`` streams one of them and keeps only the URLs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path, PureWindowsPath
from typing import Any
from urllib.parse import unquote, urlsplit

from scrapy.settings import BaseSettings, Settings

from imgprint.config import ConfigError
from imgprint.resume.lines import json_lines

FEED_LIST = "imgprint-feeds.txt"
JSON_LINES = ("jsonlines", "jsonl", "jl")
DEFAULT_FEED = "output/images-%(time)s.jsonl"


def local_path(uri: str) -> Path | None:
    """The file a feed URI writes to, or None when it is not a local file."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme == "" or PureWindowsPath(uri).drive:
        return Path(uri)
    return None


def configured_feeds(settings: BaseSettings) -> dict[str, dict[str, Any]]:
    """``FEEDS`` (and the deprecated ``FEED_URI``) as URI -> options."""
    feeds: dict[str, dict[str, Any]] = {}
    if settings.get("FEED_URI"):
        feeds[str(settings["FEED_URI"])] = {"format": settings.get("FEED_FORMAT")}
    for uri, options in settings.getdict("FEEDS").items():
        feeds[str(uri)] = dict(options or {})
    return feeds


def _suggestion(uri: str, settings: BaseSettings) -> str:
    path = local_path(uri)
    if path is not None and "%(batch" not in uri:
        return str(path.with_suffix(".jsonl"))
    return settings.get("IMGPRINT_DEFAULT_FEED") or DEFAULT_FEED


def _feed_problem(uri: str, options: Mapping[str, Any], settings: BaseSettings) -> str | None:
    """Why this feed cannot take part in a job, saying what to use instead."""
    use = _suggestion(uri, settings)
    if options.get("overwrite") is True:
        return (f"JOBDIR: feed {uri} is overwritten (-O) at each run, which erases the records"
                f" a resumed run relies on; use -o {use} (append) or a %(time)s file name")
    fmt = options.get("format") or Path(uri).suffix.removeprefix(".")  # as Scrapy infers it
    if fmt not in JSON_LINES:
        return (f"JOBDIR: feed {uri} has format {fmt or 'none'}, which a resumed run can"
                f" neither append to nor read back; use -o {use} (JSON lines)")
    batch = options.get("batch_item_count")
    if batch is None:
        batch = settings.getint("FEED_EXPORT_BATCH_ITEM_COUNT")
    if local_path(uri) is None:
        # Remote feeds are not read back (a local one is); each run must upload
        # to new objects, or a resumed run replaces the first run's object.
        if urlsplit(uri).scheme != "stdout" and not re.search(r"%\((time|batch_time|batch_id)\)",
                                                               uri):
            return (f"JOBDIR: feed {uri} would be replaced by each resumed run with only its"
                    " own records; put %(time)s (or %(batch_id)d with batches) in its name")
        return None
    if batch:
        return (f"JOBDIR: feed {uri} is split into batches of {batch} items, which a resumed"
                " run cannot read back; unset FEED_EXPORT_BATCH_ITEM_COUNT/batch_item_count"
                f" and use -o {use}")
    return None


def check_jobdir_feeds(settings: BaseSettings | Mapping[str, Any]) -> None:
    """Raise ``ConfigError`` when ``JOBDIR`` is set and the feeds cannot resume.

    Needs at least one local JSON-lines feed written in append mode; every
    feed must be JSON lines, not overwritten, not in batches (module docstring).
    """
    if not isinstance(settings, BaseSettings):
        settings = Settings(dict(settings))
    if not settings.get("JOBDIR"):
        return
    feeds = configured_feeds(settings)
    for uri, options in feeds.items():
        problem = _feed_problem(uri, options, settings)
        if problem:
            raise ConfigError(problem)
    if not any(local_path(uri) is not None for uri in feeds):
        use = settings.get("IMGPRINT_DEFAULT_FEED") or DEFAULT_FEED
        what = f"{', '.join(feeds)} cannot be read back" if feeds else "no feed is set"
        raise ConfigError(f"JOBDIR: a resumed run reads the job's records back from a local"
                          f" JSON-lines feed, and {what}; add -o {use}")


def listed_feeds(jobdir: Path) -> list[Path]:
    """The local feed files of the job's earlier runs, each once."""
    try:
        text = (jobdir / FEED_LIST).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [Path(line) for line in dict.fromkeys(text.splitlines()) if line]


def note_feeds(jobdir: Path, uris: Iterable[str]) -> list[Path]:
    """Add this run's local feed files to the job's list; return the ones added."""
    known = set(listed_feeds(jobdir))
    paths = (local_path(uri) for uri in uris)
    new = list(dict.fromkeys(p.resolve() for p in paths if p is not None))
    new = [p for p in new if p not in known]
    if new:
        with (jobdir / FEED_LIST).open("a", encoding="utf-8") as f:
            f.writelines(f"{path}\n" for path in new)
    return new


def recorded_urls(path: Path) -> Iterator[str]:
    """The ``url`` of every complete record in a feed file, streamed.

    Short records for pages seen after the image was recorded
    (``seen_before``) do not count: they hold no fingerprint.
    """
    for record in json_lines(path):
        url = record.get("url")
        if isinstance(url, str) and not record.get("seen_before"):
            yield url
