"""The short cuts taken for CPU per image (issue 22) give what the long ways give:
the feed exporters' fields straight from the record, the tally's, the stats
collector without Scrapy's wrapper, the guard's kept checks, and no per-request
DEBUG records above DEBUG."""

from __future__ import annotations

import io
import logging
import subprocess
import sys

import pytest
from scrapy.exporters import JsonItemExporter, JsonLinesItemExporter
from scrapy.settings import Settings
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler

from imgprint.commands.crawl import PER_REQUEST_LOGGERS, skip_per_request_debug
from imgprint.exporters import JsonExporter, JsonLinesExporter, SeparatorSafeEncoder
from imgprint.extensions.tally import Tally
from imgprint.items import FIELDS, ImageRecord
from imgprint.middlewares.netguard import refusal
from imgprint.stats import StatsCollector
from tests.conftest import PROJECT


def records() -> list[ImageRecord]:
    full = ImageRecord("http://example.org/a.jpg", pages=["http://example.org/"])
    full.set(image_size=40000, etag="abc", exif={"Image Make": "Canon", "odd": "\u2028x\x85"},
             sha256_first_10240_bytes="0" * 64, width=10, height=20, has_xmp=True,
             gps={"lat": 1.5, "lon": -2.25}, xmp={"dc:title": ["a", "b"]}, requests=2,
             comment="=HYPERLINK(\"x\")\u2029", error="EXIF not readable: x")
    small = ImageRecord("http://example.org/b.png")
    small.set(image_size=100, http_status=206)
    return [full, small, ImageRecord.sighting("http://example.org/a.jpg", ["http://x/"])]


def exported(cls: type, scrapy_cls: type | None = None, **options) -> bytes:
    out = io.BytesIO()
    exporter = (scrapy_cls or cls)(out, encoding="utf-8", **options)
    if scrapy_cls is not None:  # Scrapy's walk with imgprint's encoder
        exporter.encoder = SeparatorSafeEncoder(**exporter._kwargs)
    exporter.start_exporting()
    for record in records():
        exporter.export_item(record)
    exporter.finish_exporting()
    return out.getvalue()


@pytest.mark.parametrize("options", [
    {"fields_to_export": FIELDS}, {}, {"fields_to_export": ["url", "exif", "width"]},
    {"fields_to_export": {"url": "address", "exif": "tags"}},  # renamed: the long way
    {"fields_to_export": FIELDS, "export_empty_fields": True},  # the long way
])
@pytest.mark.parametrize("ours, scrapys", [(JsonLinesExporter, JsonLinesItemExporter),
                                           (JsonExporter, JsonItemExporter)])
def test_feed_lines_are_those_of_scrapys_walk(ours, scrapys, options):
    fast = exported(ours, **options)
    assert fast == exported(ours, scrapys, **options)
    assert b"\\u2028" in fast  # escaped, never raw
    assert "\u2028".encode() not in fast and "\u2029".encode() not in fast


def test_the_tally_reads_records_as_the_adapter_does():
    direct, through_dicts = Tally(), Tally()
    for record in records():
        direct.add(record)
        through_dicts.add(record.to_dict())  # a plain dict goes through ItemAdapter
    assert direct == through_dicts
    assert (direct.records, direct.seen_again, direct.with_exif, direct.with_gps) == (2, 1, 1, 1)


def test_the_stats_collector_counts_as_scrapys():
    crawler = get_crawler()
    ours, scrapys = StatsCollector(crawler), MemoryStatsCollector(crawler)
    for stats in (ours, scrapys):
        stats.inc_value("a")
        stats.inc_value("a", 2)
        stats.inc_value("b", start=10)
        stats.max_value("m", 3)
        stats.max_value("m", 1)
        stats.min_value("n", 3)
        stats.min_value("n", 1)
        stats.set_value("s", "x")
    ours.inc_value("a", spider=None)  # accepted (Scrapy would warn)
    scrapys.inc_value("a")
    assert ours.get_stats() == scrapys.get_stats() == {"a": 4, "b": 11, "m": 3, "n": 1,
                                                         "s": "x"}
    assert ours.get_value("missing", 7) == 7


def test_the_guard_sees_new_seed_hosts():
    seeds = {"example.org"}
    assert refusal("127.0.0.1", ["127.0.0.1"], seeds) is not None
    assert refusal("127.0.0.1", ["127.0.0.1"], seeds) is not None  # kept, same answer
    seeds.add("127.0.0.1.")  # a seed host learnt later (trailing dot, as typed)
    assert refusal("127.0.0.1", ["127.0.0.1"], seeds) is None
    assert refusal("127.0.0.1", ["127.0.0.1"], {"example.org"}) is not None  # another set
    assert refusal("example.org", ["93.184.215.14"], set()) is None


@pytest.mark.parametrize("level, enabled, expected", [
    ("INFO", True, logging.INFO), ("WARNING", True, logging.WARNING),
    ("DEBUG", True, logging.NOTSET), ("INFO", False, logging.NOTSET)])
def test_per_request_debug_lines_are_not_made_above_debug(level, enabled, expected):
    loggers = [logging.getLogger(name) for name in PER_REQUEST_LOGGERS]
    saved = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.NOTSET)
        skip_per_request_debug(Settings({"LOG_LEVEL": level, "LOG_ENABLED": enabled}))
        assert [lg.level for lg in loggers] == [expected] * len(loggers)
    finally:
        for lg, old in zip(loggers, saved, strict=True):
            lg.setLevel(old)


# -- start-up (issue 22 item 4) ---------------------------------------------------------
def test_components_switched_off_are_left_out_and_come_back_when_switched_on():
    from scrapy.utils.project import get_project_settings

    from imgprint.commands.crawl import skip_switched_off

    def components(**values):
        settings = get_project_settings()
        for name, value in values.items():
            settings.set(name, value, "cmdline")
        skip_switched_off(settings)
        # What Scrapy builds its lists from (it imports every key it finds here).
        return (set(settings.get_component_priority_dict_with_base("EXTENSIONS")),
                set(settings.get_component_priority_dict_with_base("DOWNLOADER_MIDDLEWARES")))

    remote = "scrapy.extensions.remote_control.RemoteControl"
    telnet = "scrapy.extensions.telnet.TelnetConsole"
    cookies = "scrapy.downloadermiddlewares.cookies.CookiesMiddleware"
    extensions, middlewares = components()
    assert not {remote, telnet} & extensions and cookies not in middlewares
    assert "scrapy.extensions.feedexport.FeedExporter" in extensions
    extensions, middlewares = components(REMOTE_CONTROL_ENABLED=True, TELNETCONSOLE_ENABLED=True,
                                         COOKIES_ENABLED=True)
    assert {remote, telnet} <= extensions and cookies in middlewares


def test_the_http11_handler_is_imported_with_a_short_stack_and_the_right_names():
    # In a fresh interpreter: the modules must not have been imported before.
    code = """
import inspect, sys
from imgprint.handlers.tor import http11_handler_class
real = inspect.stack
handler = http11_handler_class()
assert inspect.stack is real
factory = sys.modules["scrapy.core.downloader.contextfactory"]
tls = sys.modules["scrapy.core.downloader.tls"]
# create_deprecated_class named the modules that made the aliases
print(handler.__name__, factory.ScrapyClientContextFactory.__module__,
      tls.ScrapyClientTLSOptions.__module__)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["HTTP11DownloadHandler", "scrapy.core.downloader.contextfactory",
                   "scrapy.core.downloader.tls"]
