"""Issue 24, problem 5: what README.md and the docs say matches what the program
prints and records, and their figures come from a bench run they name."""

from __future__ import annotations

import re

import pytest

from imgprint.config import Config
from imgprint.urlfile import parse_lines
from tests.helpers import PROJECT, project_crawler

README = (PROJECT / "README.md").read_text()
OPERATING = (PROJECT / "docs" / "operating.md").read_text()
RECORDS = (PROJECT / "docs" / "records.md").read_text()
BENCHMARKS = (PROJECT / "docs" / "benchmarks.md").read_text()


def test_the_bad_seed_line_is_shown_as_the_spider_logs_it():
    # ImagesSpider.seed_urls: logger.warning("%s: %s (skipped)", path, line)
    _, [bad] = parse_lines(["https://example.org/", "www.example.org/gallery.html"])
    line = f"WARNING: seeds.txt: {bad} (skipped)"
    assert line in README.splitlines()
    assert line in OPERATING.splitlines()


def test_the_share_of_a_full_download_is_the_bench_figure_it_cites():
    found = re.search(r"the server sends ([\d.]+) % of the bytes a\s+full download costs:"
                      r" ([\d,]+) bytes against ([\d,]+), measured by\s+`bench/speed.py`",
                      README)
    assert found, "README: the bytes figure and its source"
    share, ours, full = found.group(1), found.group(2), found.group(3)
    assert re.search(rf"\| loopback \| imgprint \|.*\| {ours} \|", BENCHMARKS)
    assert re.search(rf"\| loopback \| full download \|.*\| {full} \|", BENCHMARKS)
    ratio = 100 * int(ours.replace(",", "")) / int(full.replace(",", ""))
    assert f"{ratio:.1f}" == share


def test_the_requests_field_is_described_with_the_settings_that_bound_it():
    config = Config.from_crawler(project_crawler())
    row = next(line for line in RECORDS.splitlines() if line.startswith("| `requests` |"))
    assert "`IMGPRINT_FOLLOWUPS` + `IMGPRINT_HASH_FOLLOWUPS`" in row
    assert f"{config.followups + config.hash_followups} by default" in row


@pytest.mark.crawl
def test_the_requests_range_on_the_corpus_is_the_documented_one(corpus_crawl):
    crawl, _ = corpus_crawl
    row = next(line for line in RECORDS.splitlines() if line.startswith("| `requests` |"))
    low, high = map(int, re.search(r"On the corpus site (\d+) to (\d+)", row).groups())
    seen = [r["requests"] for r in crawl.records if "requests" in r]
    assert (min(seen), max(seen)) == (low, high)
    config = Config.from_crawler(project_crawler())
    assert high <= 1 + config.followups + config.hash_followups  # range mode: no HEAD
