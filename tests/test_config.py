"""Configuration is checked once: every bad value is one error naming the setting."""

from __future__ import annotations

import pytest

from imgprint.config import ConfigError, check_spider_args, parse_size
from imgprint.middlewares.imagefetch import ImageFetchMiddleware
from tests.helpers import project_config as config
from tests.helpers import project_crawler


def test_defaults_are_valid():
    c = config()
    assert (c.range_bytes, c.min_size, c.fetch_mode, c.followups) == (10241, 20480, "range", 3)
    assert c.tor_proxies == ["socks5h://127.0.0.1:9050"] and c.guard_private is True


@pytest.mark.parametrize("value, expected", [("20480", 20480), (20480, 20480), (" 7 ", 7)])
def test_sizes_are_whole_numbers_of_bytes(value, expected):
    assert parse_size("X", value) == expected


# Every value the issue found running the crawl anyway, or refused without a name.
@pytest.mark.parametrize("name, value, words", [
    ("IMGPRINT_FOLLOWUPS", "two", "expected a whole number"),
    ("IMGPRINT_FOLLOWUPS", "-1", "at least 0"),
    ("IMGPRINT_MIN_SIZE", "20k", "expected a whole number of bytes, got '20k'"),
    ("IMGPRINT_FOLLOWUP_BYTES", "256k", "expected a whole number of bytes"),
    ("IMGPRINT_CONTENT_BYTES", "-1", "expected a whole number of bytes"),
    ("IMGPRINT_MAX_PENDING_IMAGES", "lots", "expected a whole number"),
    ("IMGPRINT_PAGE_MAXSIZE", "10MB", "expected a whole number of bytes"),
    ("IMGPRINT_GUARD_PRIVATE", "maybe", "expected true or false"),
    ("IMGPRINT_RETRY_BACKOFF_BASE", "half", "expected a number of seconds"),
    ("IMGPRINT_RETRY_BACKOFF_MAX", "-3", "at least 0"),
    ("IMGPRINT_RANGE_BYTES", "0", "at least 1"),
    ("IMGPRINT_FETCH_MODE", "bogus", "expected one of range, head"),
    ("TOR_ALL", "sometimes", "expected true or false"),
    ("TOR_PROXIES", "http://127.0.0.1:8080", "socks5h://"),
    ("TOR_DOWNLOAD_TIMEOUT", "forever", "number of seconds"),
    ("IMGPRINT_FOLOWUPS", "2", "unknown setting"),
])
def test_bad_values_name_the_setting(name, value, words):
    with pytest.raises(ConfigError) as err:
        config(**{name: value})
    message = str(err.value)
    assert message.startswith(f"{name}: ") and words in message and "\n" not in message


@pytest.mark.parametrize("name, value, attr, expected", [
    ("IMGPRINT_FETCH_MODE", "HEAD", "fetch_mode", "head"),
    ("IMGPRINT_GUARD_PRIVATE", "no", "guard_private", False),
    ("TOR_ALL", "yes", "tor_all", True),
    ("IMGPRINT_MIN_SIZE", "0", "min_size", 0),
    ("TOR_PROXIES", "socks5h://a:9050,socks5://b:9050", "tor_proxies",
     ["socks5h://a:9050", "socks5://b:9050"]),
])
def test_friendly_spellings_are_accepted(name, value, attr, expected):
    assert getattr(config(**{name: value}), attr) == expected


def test_components_refuse_a_bad_setting_when_built():
    crawler = project_crawler(IMGPRINT_MIN_SIZE="20x")
    with pytest.raises(ConfigError, match="IMGPRINT_MIN_SIZE"):
        ImageFetchMiddleware.from_crawler(crawler)


@pytest.mark.parametrize("args, words", [
    ({"dept": "2"}, "-a dept: unknown argument"),
    ({"URL": "http://x/"}, "-a URL: unknown argument"),
    ({"url": "http://x/", "urls": "u.txt"}, "not both"),
    ({"depth": "-1"}, "-a depth: expected a whole number of at least 0"),
    ({"depth": "two"}, "-a depth: expected a whole number"),
])
def test_bad_spider_arguments(args, words):
    with pytest.raises(ConfigError, match=words):
        check_spider_args(args)


def test_good_spider_arguments():
    args = check_spider_args({"url": "http://x/", "depth": "2", "_job": "abc"})
    assert (args.url, args.urls, args.depth) == ("http://x/", None, 2)


# Issue 11, bug 2: each of these ran the crawl anyway (losing every record, exit 0),
# was accepted silently, or failed without naming the setting.
BAD_CONFIG = [
    (["-s", "IMGPRINT_FOLLOWUPS=two"], "IMGPRINT_FOLLOWUPS: expected a whole number"),
    (["-s", "IMGPRINT_MIN_SIZE=20k"],
     "IMGPRINT_MIN_SIZE: expected a whole number of bytes, got '20k'"),
    (["-s", "IMGPRINT_FOLLOWUP_BYTES=256k"], "IMGPRINT_FOLLOWUP_BYTES: expected a whole number"),
    (["-s", "IMGPRINT_MAX_PENDING_IMAGES=lots"], "IMGPRINT_MAX_PENDING_IMAGES: expected"),
    (["-s", "IMGPRINT_PAGE_MAXSIZE=10MB"], "IMGPRINT_PAGE_MAXSIZE: expected a whole number"),
    (["-s", "IMGPRINT_GUARD_PRIVATE=maybe"], "IMGPRINT_GUARD_PRIVATE: expected true or false"),
    (["-s", "IMGPRINT_FOLLOWUPS=-1"], "IMGPRINT_FOLLOWUPS: expected a whole number of at least 0"),
    (["-s", "IMGPRINT_RETRY_BACKOFF_BASE=half"], "IMGPRINT_RETRY_BACKOFF_BASE: expected"),
    (["-s", "TOR_ALL=sometimes"], "TOR_ALL: expected true or false"),
    (["-s", "IMGPRINT_FETCH_MODE=bogus"], "IMGPRINT_FETCH_MODE: expected one of range, head"),
    (["-a", "depth=-1"], "-a depth: expected a whole number of at least 0"),
    (["-a", "dept=2"], "-a dept: unknown argument"),
    (["-a", "urls=u.txt"], "-a url and -a urls: give one seed URL or one URL file, not both"),
]


def _refusal(args: list[str]) -> str | None:
    """What ``scrapy crawl images ARGS`` refuses with, checked in-process by the
    crawl command's own pre-check (``check_before_crawl``)."""
    from imgprint.commands.crawl import check_before_crawl
    from imgprint.config import ConfigError
    from imgprint.spiders.images import ImagesSpider
    from tests.helpers import project_crawler

    settings = dict(a.split("=", 1) for flag, a in zip(args[::2], args[1::2], strict=True)
                    if flag == "-s")
    spargs = dict(a.split("=", 1) for flag, a in zip(args[::2], args[1::2], strict=True)
                  if flag == "-a")
    try:
        crawler = project_crawler(ImagesSpider, FEEDS={}, **settings)
        check_before_crawl(crawler, {"url": "http://127.0.0.1:9/p.html", **spargs})
    except ConfigError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("args, message", BAD_CONFIG, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else None)
def test_bad_configuration_is_refused_naming_it(args, message):
    refusal = _refusal(args)
    assert refusal is not None and refusal.startswith(message), refusal


def test_good_configuration_passes_the_check():
    assert _refusal(["-s", "IMGPRINT_FOLLOWUPS=2", "-a", "depth=1"]) is None
