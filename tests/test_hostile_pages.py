"""Hostile pages in a real crawl (issue 12, findings 6 and 14): a 10 MiB page
with 370,000 ``<img>`` took 1.33 GB before the first record; a malformed URL
lost every image of its page."""

from __future__ import annotations

import re

import pytest

from tests.conftest import CORPUS, run_crawl, static_server

GOOD = CORPUS / "exif-samples" / "jpg" / "Konica_Minolta_DiMAGE_Z3.jpg"


@pytest.mark.crawl
def test_huge_page_and_malformed_urls(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "ok.jpg").symlink_to(GOOD)
    imgs = "".join(f"<img src=/m/{i:06d}.jpg>" for i in range(370_000))  # 9.3 MB
    (site / "huge.html").write_text(f"<html><body>{imgs}</body></html>")
    (site / "bad.html").write_text(
        '<img src="http://example.com:99999/x.jpg"><img src="http://[::1">'
        '<img src="/ok.jpg"><img src="/status/404/y.jpg">')
    server = static_server(site, tmp_path / "access.jsonl")
    try:
        seeds = tmp_path / "urls.txt"
        seeds.write_text(server.url("/huge.html") + "\n" + server.url("/bad.html") + "\n")
        crawl = run_crawl(tmp_path, "-a", f"urls={seeds}", timeout=300,
                          settings={"MEMUSAGE_ENABLED": "True", "RETRY_ENABLED": "False",
                                    "MEMUSAGE_CHECK_INTERVAL_SECONDS": "0.2"})
    finally:
        server.stop()
    assert crawl.returncode == 0, crawl.log[-3000:]
    records = crawl.by_path()
    # Finding 14: the page's good image survives its malformed neighbours.
    assert records["/ok.jpg"]["sha256_first_10240_bytes"]
    assert "/status/404/y.jpg" in records
    # Finding 6: at most IMGPRINT_MAX_IMAGES_PER_PAGE of the huge page's images.
    huge = [p for p in records if p.startswith("/m/")]
    assert len(huge) == 1000
    assert "'imgprint/pages/images_capped': 1" in crawl.log
    # The crawl's own peak (memusage/max would carry the test runner's in).
    peak = int(re.search(r"'imgprint/memory/peak': (\d+)", crawl.log).group(1))
    print(f"\npeak RSS {peak / 1e6:.0f} MB")
    # The lxml tree of the page dominates (it was 1.33 GB before the first record).
    assert peak < 600e6
