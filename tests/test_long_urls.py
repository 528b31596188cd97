"""References longer than ``URLLENGTH_LIMIT`` (issue 23, finding 4): a 10.4 MB
``src``, ``srcset``, ``og:image`` or ``<base href>`` cost ~95 bytes of memory a
character in w3lib's ``safe_url_string`` (1.15 GB for one), and Scrapy's
``UrlLengthMiddleware`` logged whole URLs."""

from __future__ import annotations

import re
import shutil

import pytest
from parsel import Selector

from imgprint.discovery import count_too_long, find_images, find_links
from imgprint.urlfile import parse_lines
from tests.conftest import run_crawl, static_server
from tests.helpers import EX

LONG = 10_400_000  # characters: the page stays under IMGPRINT_PAGE_MAXSIZE (10 MiB)


def test_long_references_are_dropped_before_joining():
    ref = "/img/" + "a" * 5000 + ".jpg"
    page = (f'<img src="{ref}"><img srcset="{ref} 2x, /ok.jpg 1x"><img src="/fine.jpg">'
            f'<a href="{ref[:-4]}">next</a><a href="/p2">p2</a>')
    images, skipped = find_images(Selector(text=page), "http://site.test/p", max_length=2083)
    assert images == ["http://site.test/fine.jpg", "http://site.test/ok.jpg"]
    assert count_too_long(skipped) == 2
    assert max(map(len, skipped)) < 200  # a stand-in, fit for a log line
    assert find_links(Selector(text=page), "http://site.test/p", max_length=2083) == [
        "http://site.test/p2"]
    # A <base href> past the limit is ignored: relative refs resolve against the page.
    based = f'<base href="http://site.test/{"b" * 5000}/"><img src="x.jpg">'
    assert find_images(Selector(text=based), "http://site.test/d/p", max_length=2083)[0] == [
        "http://site.test/d/x.jpg"]


def test_a_long_bad_seed_line_is_reported_in_part():
    _, bad = parse_lines(["www.example.org/" + "x" * 1_000_000, "ftp://" + "y" * 1_000_000])
    assert len(bad) == 2 and max(len(str(b)) for b in bad) < 600
    assert "did you mean 'https://www.example.org/xxx" in str(bad[0])


@pytest.mark.crawl
def test_ten_megabyte_references_cost_their_length_not_a_gigabyte(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(EX / "jpg" / "Canon_40D.jpg", site / "ok.jpg")
    ref = "/img/" + "a" * (LONG - 9) + ".jpg"
    pages = {
        "src.html": f'<img src="{ref}"><img src="/ok.jpg">',
        "srcset.html": f'<img srcset="{ref} 2x">',
        "og.html": f'<meta property="og:image" content="{ref}">',
        # A relative ref against a 10 MB base joins into a 10 MB URL.
        "base.html": f'<base href="http://127.0.0.1/{"b" * LONG}/"><img src="x.jpg">',
        # Short enough to join, 9,000 characters once percent-encoded: Scrapy's
        # UrlLengthMiddleware drops it, and logged all of it.
        "wide.html": f'<img src="/{"é" * 1500}.jpg">',
    }
    for name, body in pages.items():
        (site / name).write_text(f"<html><head></head><body>{body}</body></html>")
    server = static_server(site, tmp_path / "access.jsonl")
    try:
        seeds = tmp_path / "urls.txt"
        seeds.write_text("".join(server.url(f"/{name}") + "\n" for name in pages))
        crawl = run_crawl(tmp_path, "-a", f"urls={seeds}", timeout=300,
                          settings={"MEMUSAGE_ENABLED": "True",
                                    "MEMUSAGE_CHECK_INTERVAL_SECONDS": "0.2"})
    finally:
        server.stop()
    assert crawl.returncode == 0, crawl.log[-3000:]
    records = crawl.by_path()
    assert records["/ok.jpg"]["http_status"] == 206 and records["/ok.jpg"]["exif"]
    assert records["/x.jpg"]["http_status"] == 404  # resolved against the page
    assert "'imgprint/images/too_long': 3" in crawl.log
    assert "'urllength/request_ignored_count': 1" in crawl.log
    # The crawl's own peak (memusage/max would carry the test runner's in).
    peak = int(re.search(r"'imgprint/memory/peak': (\d+)", crawl.log).group(1))
    longest = max(map(len, crawl.log.splitlines()))
    print(f"\npeak RSS {peak / 1e6:.0f} MB, longest log line {longest} characters")
    assert longest < 2000
    assert peak < 600e6  # 1,371 MB before (the report: 1.15 GB for one reference)
