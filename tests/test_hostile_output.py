"""What a hostile server or file can put into the output (issue 12, findings
12, 13, 15): the HTTP cache, feed lines, log lines, Content-Range."""

from __future__ import annotations

import io
import json
import shutil
import struct
from pathlib import Path

import pytest
from scrapy.utils.misc import load_object

from imgprint.http import log_safe, parse_content_range, parse_int
from imgprint.items import ImageRecord
from tests.conftest import CORPUS, run_crawl, static_server
from tests.helpers import project_crawler

SEPARATORS = "a\u2028b\u2029c\u0085d"


def test_feed_lines_escape_line_separators():
    """Finding 13: U+2028/U+2029/U+0085 written raw split one record into four
    lines for ``str.splitlines()`` readers."""
    settings = project_crawler().settings
    exporter_class = load_object(settings.getdict("FEED_EXPORTERS")["jsonlines"])
    out = io.BytesIO()
    exporter = exporter_class(out, encoding="utf-8", fields_to_export=None)
    record = ImageRecord("http://example.com/x.jpg")
    record.set(exif={"Image ImageDescription": SEPARATORS}, software=SEPARATORS)
    exporter.start_exporting()
    exporter.export_item(record)
    exporter.export_item(record)
    exporter.finish_exporting()
    text = out.getvalue().decode("utf-8")
    lines = text.splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0])["exif"]["Image ImageDescription"] == SEPARATORS


def test_log_values_are_escaped():
    """Finding 13: a Content-Type with ESC sequences cleared the terminal."""
    hostile = b"text/x\x1b[2J\x1b[1;1H2026-01-01 [images] INFO: fake\r\nline\xe2\x80\xa8"
    text = log_safe(hostile)
    assert "\x1b" not in text and "\n" not in text and "\r" not in text
    assert "\\x1b[2J" in text
    assert log_safe("x" * 1000).endswith("…truncated")


def test_not_a_page_warning_escapes_the_content_type(caplog):
    from scrapy.http import Request, Response
    from scrapy.statscollectors import MemoryStatsCollector

    from imgprint.spiders.images import ImagesSpider

    crawler = project_crawler(ImagesSpider)
    crawler.stats = MemoryStatsCollector(crawler)
    spider = ImagesSpider.from_crawler(crawler, url="http://example.com/")
    hostile = b"application/x\x1b[2J\x1b[1;1H2026-01-01 [images] INFO: fake"
    response = Response("http://example.com/", headers={"Content-Type": hostile},
                        body=b"\0" * 10, request=Request("http://example.com/"))
    list(spider.parse_page(response))
    text = caplog.text
    assert "Not a page or an image" in text and "\x1b" not in text


def test_content_range_with_thousands_of_digits():
    """Finding 15: int() refuses more than 4,300 digits: no record at all."""
    assert parse_content_range("bytes 0-10240/" + "9" * 5000) == (None, None, None)
    assert parse_content_range("bytes " + "1" * 5000 + "-2/3") == (None, None, None)
    assert parse_int(b"9" * 5000) is None
    assert parse_content_range("bytes 0-10240/1000000") == (0, 10240, 1000000)


def _tiff_with_description(text: str) -> bytes:
    value = text.encode("utf-8") + b"\0"
    entries = [(256, 4, 1, 1), (257, 4, 1, 1), (270, 2, len(value), 8 + 2 + 12 * 3 + 4)]
    data = b"II*\0" + struct.pack("<IH", 8, len(entries))
    data += b"".join(struct.pack("<HHII", *e) for e in entries) + bytes(4) + value
    return data + bytes(30000)


@pytest.mark.crawl
def test_hostile_server_output(tmp_path):
    """Findings 12 and 13 end to end: seeds that are images under
    application/octet-stream or text/html get image records and stay out of the
    HTTP cache; separators in EXIF stay escaped in the feed."""
    site = tmp_path / "site"
    site.mkdir()
    jpg = (CORPUS / "exif-samples" / "jpg" / "Konica_Minolta_DiMAGE_Z3.jpg").read_bytes()
    (site / "photo.bin").write_bytes(jpg)
    (site / "photo.html").write_bytes(jpg)
    (site / "sep.tif").write_bytes(_tiff_with_description(SEPARATORS))
    types = [".bin=application/octet-stream", ".html=text/html", ".tif=image/tiff"]
    server = static_server(site, tmp_path / "access.jsonl", types)
    try:
        seeds = tmp_path / "urls.txt"
        seeds.write_text("".join(server.url(f"/{n}") + "\n"
                                 for n in ("photo.bin", "photo.html", "sep.tif")))
        cache = tmp_path / "cache"
        crawl = run_crawl(tmp_path, "-a", f"urls={seeds}",
                          settings={"HTTPCACHE_ENABLED": "True", "HTTPCACHE_DIR": str(cache)})
    finally:
        server.stop()
    assert crawl.returncode == 0, crawl.log[-3000:]
    records = crawl.by_path()
    for name in ("/photo.bin", "/photo.html"):
        assert records[name]["sha256_first_10240_bytes"], records[name]
        assert records[name]["exif"] and records[name]["http_status"] == 200
    cached = [p.read_bytes() for p in Path(cache).rglob("response_body")]
    assert not any(jpg[1000:1100] in body for body in cached), "an image was cached"
    assert records["/sep.tif"]["exif"]["Image ImageDescription"] == SEPARATORS
    assert len(crawl.output.read_text(encoding="utf-8").splitlines()) == len(crawl.records)
    shutil.rmtree(cache, ignore_errors=True)
