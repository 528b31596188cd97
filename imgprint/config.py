"""Every ``IMGPRINT_*`` and ``TOR_*`` setting, read and checked once.

``Config.from_settings(settings)`` reads them all, checks type and range, and
raises one ``ConfigError`` naming the setting and the value
(``IMGPRINT_MIN_SIZE: expected a size in bytes ... got '20x'``). Each
component builds its ``Config`` in ``from_crawler``; ``scrapy crawl``
(``imgprint.commands.crawl``) builds it before the crawl starts, so a bad value
stops the crawl before any request is sent, with one line and exit status 2.

Sizes are whole numbers of bytes, as in Scrapy's own settings
(``DOWNLOAD_MAXSIZE``): ``20480``, not ``20k`` (a unit is refused, not guessed).
Booleans take ``true/false``, ``yes/no``, ``on/off``, ``1/0`` in any case;
choices (``IMGPRINT_FETCH_MODE``) any case. An ``IMGPRINT_*`` or ``TOR_*`` name
that no component reads is an error too (a typo would silently do nothing), with
the near names as a suggestion (``IMGPRINT_MIN_SIZ: unknown setting; did you mean
IMGPRINT_MIN_SIZE?``); so is an unknown ``-a`` argument.

Spider arguments are checked here as well (``check_spider_args``): only ``url``,
``urls``, ``depth`` and ``render`` (plus names starting with ``_``, which Scrapyd
adds).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from imgprint.record_caps import MAX_METADATA_VALUE


class ConfigError(ValueError):
    """A setting or spider argument has a value imgprint cannot use."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def parse_size(name: str, value: Any, minimum: int = 0) -> int:
    """A whole number of bytes, at least ``minimum``."""
    if isinstance(value, bool) or not re.fullmatch(r"\s*\d+\s*", str(value)):
        raise ConfigError(f"{name}: expected a whole number of bytes, got {value!r}")
    n = int(value)
    if n < minimum:
        raise ConfigError(f"{name}: expected at least {minimum} bytes, got {value!r}")
    return n


def parse_count(name: str, value: Any, minimum: int = 0) -> int:
    """A whole number, at least ``minimum``."""
    try:
        if isinstance(value, bool) or isinstance(value, float):
            raise ValueError
        n = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{name}: expected a whole number, got {value!r}") from None
    if n < minimum:
        raise ConfigError(f"{name}: expected a whole number of at least {minimum},"
                          f" got {value!r}")
    return n


def parse_text_cap(name: str, value: Any) -> int:
    """Characters a text metadata value may keep: 16 to the record's own
    ceiling (``imgprint.record_caps.MAX_METADATA_VALUE``)."""
    n = parse_count(name, value, minimum=16)
    if n > MAX_METADATA_VALUE:
        raise ConfigError(f"{name}: at most {MAX_METADATA_VALUE} characters, got {value!r}")
    return n


def parse_processes(name: str, value: Any) -> int:
    """Worker processes for the image work: 0 (one per CPU core), 1 (threads in
    the crawl's process) or more, at most 256 (a typo must not fork thousands)."""
    n = parse_count(name, value)
    if n > 256:
        raise ConfigError(f"{name}: at most 256 processes (0: one per CPU core), got {value!r}")
    return n


def parse_render_memory(name: str, value: Any) -> int:
    """0 (no limit) or at least 256 MiB: a renderer needs ~200 MB to start."""
    n = parse_size(name, value)
    if 0 < n < 256 * 1024 * 1024:
        raise ConfigError(f"{name}: 0 (no limit) or at least 268435456 bytes (256 MiB),"
                          f" got {value!r}")
    return n


def parse_seconds(name: str, value: Any) -> float:
    """A non-negative number of seconds."""
    try:
        if isinstance(value, bool):
            raise ValueError
        n = float(str(value).strip())
    except ValueError:
        raise ConfigError(f"{name}: expected a number of seconds, got {value!r}") from None
    if not n >= 0 or n == float("inf"):  # also refuses NaN
        raise ConfigError(f"{name}: expected a number of seconds of at least 0, got {value!r}")
    return n


def parse_band(name: str, value: Any) -> float:
    """The top band's share of the picture's height: 0 (no band) or 0.05 to 1
    (a thinner band is a few rows, too few for a hash to tell pictures apart)."""
    try:
        if isinstance(value, bool):
            raise ValueError
        n = float(str(value).strip())
    except ValueError:
        n = -1.0
    if not (n == 0 or 0.05 <= n <= 1):  # also refuses NaN
        raise ConfigError(f"{name}: expected 0 (no band) or a share from 0.05 to 1,"
                          f" got {value!r}")
    return n


def parse_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{name}: expected true or false (yes/no, on/off, 1/0), got {value!r}")


def parse_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    text = str(value).strip().lower()
    if text not in choices:
        raise ConfigError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return text


def parse_text(name: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigError(f"{name}: expected a string, got {value!r}")
    return value


def parse_proxies(name: str, value: Any) -> list[str]:
    """SOCKS5 proxy URLs, as a list or a comma-separated string."""
    if isinstance(value, str):
        items = [p.strip() for p in value.split(",") if p.strip()]
    elif isinstance(value, (list, tuple)):
        items = [str(p).strip() for p in value]
    else:
        raise ConfigError(f"{name}: expected a list of socks5h:// URLs, got {value!r}")
    for proxy in items:
        parts = urlsplit(proxy)
        if parts.scheme not in ("socks5", "socks5h") or not parts.hostname:
            raise ConfigError(f"{name}: expected socks5h://host:port URLs, got {proxy!r}")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise ConfigError(f"{name}: bad port in {proxy!r}") from None
    return items


def parse_field_name(name: str, value: Any) -> str:
    """An item field's name: a non-empty string."""
    text = parse_text(name, value).strip()
    if not text:
        raise ConfigError(f"{name}: expected an item field name, got {value!r}")
    return text


def parse_redis_url(name: str, value: Any) -> str:
    """Empty (no shared frontier) or a redis://, rediss:// or unix:// URL."""
    text = parse_text(name, value).strip()
    if not text:
        return ""
    parts = urlsplit(text)
    if parts.scheme not in ("redis", "rediss", "unix") or (
            parts.scheme != "unix" and not parts.hostname) or (
            parts.scheme == "unix" and not parts.path):
        raise ConfigError(f"{name}: expected redis://host:port/db (or rediss://, unix://),"
                          f" got {value!r}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ConfigError(f"{name}: bad port in {value!r}") from None
    return text


def parse_crawl_name(name: str, value: Any) -> str:
    text = parse_text(name, value)
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", text):
        raise ConfigError(f"{name}: expected 1 to 64 letters, digits, '.', '_' or '-',"
                          f" got {value!r}")
    return text


def parse_lease(name: str, value: Any) -> float:
    seconds = parse_seconds(name, value)
    if seconds < 1:
        raise ConfigError(f"{name}: expected at least 1 second, got {value!r}")
    return seconds


def did_you_mean(name: str, known: list[str] | tuple[str, ...], prefix: str = "") -> str:
    """``"; did you mean X?"`` for the known name closest to a misspelled ``name``
    (any case; difflib's ratio over what follows ``IMGPRINT_``/``TOR_``, which
    every setting shares), else ``""``."""

    def stem(n: str) -> str:
        n = n.lower()
        return n.split("_", 1)[1] if n.startswith(("imgprint_", "tor_")) else n

    by_stem = {stem(k): k for k in known}
    close = difflib.get_close_matches(stem(name), list(by_stem), n=1, cutoff=0.6)
    return f"; did you mean {prefix}{by_stem[close[0]]}?" if close else ""


FETCH_MODES = ("range", "head")
RENDER_MODES = ("off", "on", "auto")

# Setting name -> (Config attribute, parser). Parsers take (name, value).
_FIELDS: dict[str, tuple[str, Callable[[str, Any], Any]]] = {
    "IMGPRINT_URLS_FILE": ("urls_file", parse_text),
    "IMGPRINT_DEFAULT_FEED": ("default_feed", parse_text),
    "IMGPRINT_RANGE_BYTES": ("range_bytes", lambda n, v: parse_size(n, v, minimum=1)),
    "IMGPRINT_MIN_SIZE": ("min_size", parse_size),
    "IMGPRINT_FETCH_MODE": ("fetch_mode", lambda n, v: parse_choice(n, v, FETCH_MODES)),
    "IMGPRINT_MAX_PENDING_IMAGES": ("max_pending_images", parse_count),
    "IMGPRINT_FOLLOWUPS": ("followups", parse_count),
    "IMGPRINT_FOLLOWUP_BYTES": ("followup_bytes", parse_size),
    "IMGPRINT_FOLLOWUP_AHEAD_BYTES": ("followup_ahead_bytes", parse_size),
    "IMGPRINT_MULTI_RANGE": ("multi_range", parse_bool),
    "IMGPRINT_HASH_FOLLOWUPS": ("hash_followups", parse_count),
    "IMGPRINT_CONTENT_BYTES": ("content_bytes", parse_size),
    "IMGPRINT_PHASH_SCAN_BYTES": ("phash_scan_bytes", parse_size),
    "IMGPRINT_PHASH_BAND": ("phash_band", parse_band),
    "IMGPRINT_PHASH_BAND_BYTES": ("phash_band_bytes", parse_size),
    "IMGPRINT_PHASH_WORKERS": ("phash_workers", lambda n, v: parse_count(n, v, minimum=1)),
    "IMGPRINT_PROCESSES": ("processes", parse_processes),
    "IMGPRINT_METADATA_MAX_CHARS": ("metadata_max_chars", parse_text_cap),
    "IMGPRINT_RETRY_BACKOFF_BASE": ("retry_backoff_base", parse_seconds),
    "IMGPRINT_RETRY_BACKOFF_MAX": ("retry_backoff_max", parse_seconds),
    "IMGPRINT_NETGUARD_ENABLED": ("netguard_enabled", parse_bool),
    "IMGPRINT_GUARD_PRIVATE": ("guard_private", parse_bool),
    "IMGPRINT_PAGE_MAXSIZE": ("page_maxsize", parse_size),
    "IMGPRINT_RENDER": ("render", lambda n, v: parse_choice(n, v, RENDER_MODES)),
    "IMGPRINT_RENDER_PAGES": ("render_pages", lambda n, v: parse_count(n, v, minimum=1)),
    "IMGPRINT_RENDER_WAIT": ("render_wait", parse_seconds),
    "IMGPRINT_RENDER_SCROLLS": ("render_scrolls", parse_count),
    "IMGPRINT_RENDER_MEMORY": ("render_memory", parse_render_memory),
    "IMGPRINT_MAX_IMAGES_PER_PAGE": ("max_images_per_page", parse_count),
    "IMGPRINT_MAX_PAGES_PER_DEPTH": ("max_pages_per_depth", parse_count),
    "IMGPRINT_MAX_PAGES_PER_RECORD": ("max_pages_per_record",
                                      lambda n, v: parse_count(n, v, minimum=1)),
    "IMGPRINT_MAX_PER_SITE": ("max_per_site", parse_count),
    "IMGPRINT_PROGRESS_INTERVAL": ("progress_interval", parse_seconds),
    "IMGPRINT_PROGRESS_BAR": ("progress_bar", parse_bool),
    "TOR_PROXIES": ("tor_proxies", parse_proxies),
    "TOR_ALL": ("tor_all", parse_bool),
    "TOR_USER_AGENT": ("tor_user_agent", parse_text),
    "TOR_DOWNLOAD_TIMEOUT": ("tor_download_timeout", parse_seconds),
    "TOR_RETRY_TIMES": ("tor_retry_times", parse_count),
    "TOR_CONCURRENCY_PER_HOST": ("tor_concurrency_per_host", parse_count),
    "TOR_MIDDLEWARE_ENABLED": ("tor_middleware_enabled", parse_bool),
    "IMGPRINT_REDIS_URL": ("redis_url", parse_redis_url),
    "IMGPRINT_REDIS_CRAWL": ("redis_crawl", parse_crawl_name),
    "IMGPRINT_REDIS_LEASE": ("redis_lease", parse_lease),
    "IMGPRINT_REDIS_RETRY": ("redis_retry", parse_seconds),
    "IMGPRINT_IMAGES_URLS_FIELD": ("images_urls_field", parse_field_name),
    "IMGPRINT_IMAGES_RESULT_FIELD": ("images_result_field", parse_field_name),
}


@dataclass(frozen=True)
class Config:
    """imgprint's settings, checked (see docs/settings.md)."""

    urls_file: str
    default_feed: str
    range_bytes: int
    min_size: int
    fetch_mode: str
    max_pending_images: int
    followups: int
    followup_bytes: int
    followup_ahead_bytes: int
    multi_range: bool
    hash_followups: int
    content_bytes: int
    phash_scan_bytes: int
    phash_band: float
    phash_band_bytes: int
    phash_workers: int
    processes: int
    metadata_max_chars: int
    retry_backoff_base: float
    retry_backoff_max: float
    netguard_enabled: bool
    guard_private: bool
    page_maxsize: int
    render: str
    render_pages: int
    render_wait: float
    render_scrolls: int
    render_memory: int
    max_images_per_page: int
    max_pages_per_depth: int
    max_pages_per_record: int
    max_per_site: int
    progress_interval: float
    progress_bar: bool
    tor_proxies: list[str]
    tor_all: bool
    tor_user_agent: str
    tor_download_timeout: float
    tor_retry_times: int
    tor_concurrency_per_host: int
    tor_middleware_enabled: bool
    redis_url: str
    redis_crawl: str
    redis_lease: float
    redis_retry: float
    images_urls_field: str
    images_result_field: str

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | Any) -> Config:
        """Read and check every setting; raise ConfigError naming the first bad one."""
        names = list(settings.keys()) if hasattr(settings, "keys") else []
        unknown = sorted(n for n in names if n.startswith(("IMGPRINT_", "TOR_"))
                         and n not in _FIELDS)
        if unknown:
            raise ConfigError(f"{unknown[0]}: unknown setting"
                              f"{did_you_mean(unknown[0], list(_FIELDS))}"
                              " (docs/settings.md lists imgprint's settings)")
        values = {}
        for name, (attr, parse) in _FIELDS.items():
            raw = settings.get(name)
            if raw is None:
                raise ConfigError(f"{name}: missing (imgprint.settings defines it)")
            values[attr] = parse(name, raw)
        return cls(**values)

    @classmethod
    def from_crawler(cls, crawler: Any) -> Config:
        return cls.from_settings(crawler.settings)


SPIDER_ARGS = ("url", "urls", "depth", "render")


@dataclass(frozen=True)
class SpiderArgs:
    url: str | None = None
    urls: str | None = None
    depth: int = 0
    render: str | None = None  # None: the IMGPRINT_RENDER setting decides


def check_spider_args(args: Mapping[str, Any]) -> SpiderArgs:
    """The ``-a`` arguments of ``scrapy crawl images``, checked."""
    for name in args:
        if name not in SPIDER_ARGS and not name.startswith("_"):
            raise ConfigError(f"-a {name}: unknown argument{did_you_mean(name, SPIDER_ARGS, '-a ')}"
                              f" (the images spider takes {', '.join(SPIDER_ARGS)})")
    if args.get("url") is not None and args.get("urls") is not None:
        raise ConfigError("-a url and -a urls: give one seed URL or one URL file, not both")
    depth = parse_count("-a depth", args.get("depth", 0))
    render = args.get("render")
    if render is not None:
        render = parse_choice("-a render", render, RENDER_MODES)
    return SpiderArgs(url=args.get("url"), urls=args.get("urls"), depth=depth, render=render)
