"""Image discovery: every form a browser renders, on a real page served on loopback."""

from __future__ import annotations

from collections import Counter

import pytest
from parsel import Selector

from imgprint.discovery import find_images, find_links, parse_srcset
from tests.conftest import CORPUS, run_crawl, static_server

JPG = CORPUS / "exif-samples" / "jpg"
SOURCES = ["Canon_40D.jpg", "Canon_40D_photoshop_import.jpg", "Canon_PowerShot_S40.jpg",
           "Fujifilm_FinePix_E500.jpg", "Konica_Minolta_DiMAGE_Z3.jpg", "Nikon_COOLPIX_P1.jpg",
           "Ricoh_Caplio_RR330.jpg", "WWL_(Polaroid)_ION230.jpg", "exif-org/nikon-e950.jpg",
           "exif-org/sanyo-vpcsx550.jpg", "exif-org/sony-cybershot.jpg",
           "exif-org/sony-powershota5.jpg"]
NAMES = [s.rsplit("/", 1)[-1] for s in SOURCES]

PAGE1 = """<!doctype html><html><head>
<meta property="og:image" content="/i/{9}">
<meta name="twitter:image" content="http://HOST/i/{10}">
</head><body>
<img src="/i/{0}">
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-src="sub/../i/{1}">
<img srcset="/i/{2} 1x, /i/{3} 2x" data-srcset="/i/{4} 300w">
<picture><source srcset="/i/{5}"><img src="/i/{0}"></picture>
<a href="/i/{6}">full size</a> <a href="/page2.html">next</a>
<div style="background-image: url('/i/{7}')"></div>
<img src="javascript:alert(1)"> <img src="ftp://example.invalid/x.jpg">
</body></html>"""

PAGE2 = """<html><head><base href="/i/"></head><body>
<img src="{0}"><img src="{8}"><img src="{11}">
</body></html>"""


def test_parse_srcset_keeps_every_candidate():
    assert parse_srcset("a.jpg 1x, b.jpg 2x") == ["a.jpg", "b.jpg"]
    assert parse_srcset("a,1.jpg 100w,b.jpg") == ["a,1.jpg", "b.jpg"]
    assert parse_srcset("x.jpg, y.jpg") == ["x.jpg", "y.jpg"]
    assert parse_srcset("  ") == []


def test_find_images_resolves_against_base_and_page():
    sel = Selector(text='<base href="http://cdn.test/a/"><img src="b.jpg">'
                        '<img src="//other.test/c.png"><img src="data:,x">')
    images, skipped = find_images(sel, "http://site.test/page")
    assert images == ["http://cdn.test/a/b.jpg", "http://other.test/c.png"]
    assert skipped == []


def test_find_links_same_site_only():
    sel = Selector(text='<a href="/p2">x</a><a href="http://www.site.test/p3">y</a>'
                        '<a href="http://elsewhere.test/">z</a><a href="/big.jpg">i</a>')
    assert find_links(sel, "http://site.test/") == ["http://site.test/p2",
                                                    "http://www.site.test/p3"]


def make_site(root):
    (root / "i").mkdir(parents=True)
    for source, name in zip(SOURCES, NAMES, strict=True):
        (root / "i" / name).symlink_to(JPG / source)
    return root


@pytest.mark.crawl
def test_every_form_and_duplicates_across_pages(tmp_path):
    root = make_site(tmp_path / "site")
    server = static_server(root, tmp_path / "access.jsonl")
    try:
        host = f"127.0.0.1:{server.port}"
        (root / "page1.html").write_text(PAGE1.format(*NAMES).replace("HOST", host))
        (root / "page2.html").write_text(PAGE2.format(*NAMES))
        seeds = tmp_path / "urls.txt"
        seeds.write_text(f"{server.url('/page1.html')}\n{server.url('/page2.html')}\n")
        crawl = run_crawl(tmp_path, "-a", f"urls={seeds}")
        requests = server.requests()
    finally:
        server.stop()
    assert crawl.returncode == 0, crawl.log[-2000:]
    records = crawl.by_path()
    assert set(records) == {f"/i/{name}" for name in NAMES}
    assert not [r for r in records.values() if r.get("error")]
    # Seen on both pages, fetched once, one record listing both pages.
    shared = records[f"/i/{NAMES[0]}"]
    pages = {server.url("/page1.html"), server.url("/page2.html")}
    sightings = [r for r in crawl.records if r["url"].endswith(NAMES[0])]
    assert set().union(*(r["pages"] for r in sightings)) == pages
    assert len([r for r in sightings if not r.get("seen_before")]) == 1
    assert shared["image_size"] == 7958 and "sha256_first_10240_bytes" not in shared
    gets = Counter(r["path"] for r in requests if r["path"].startswith("/i/"))
    assert len(gets) == len(NAMES)
    assert all(n == records[path]["requests"] for path, n in gets.items())
    assert "skipped_scheme" in crawl.log  # javascript: and ftp: counted in stats


@pytest.mark.crawl
def test_depth_follows_same_site_links(tmp_path):
    root = make_site(tmp_path / "site")
    (root / "page1.html").write_text(f'<img src="/i/{NAMES[0]}"><a href="/page2.html">n</a>')
    (root / "page2.html").write_text(f'<img src="/i/{NAMES[1]}">')
    server = static_server(root, tmp_path / "access.jsonl")
    try:
        shallow = run_crawl(tmp_path, "-a", f"url={server.url('/page1.html')}",
                            output="shallow.jsonl")
        deep = run_crawl(tmp_path, "-a", f"url={server.url('/page1.html')}", "-a", "depth=1",
                         output="deep.jsonl")
    finally:
        server.stop()
    assert set(shallow.by_path()) == {f"/i/{NAMES[0]}"}
    assert set(deep.by_path()) == {f"/i/{NAMES[0]}", f"/i/{NAMES[1]}"}


@pytest.mark.crawl
def test_seed_that_is_an_image_is_decided_by_content_type(tmp_path):
    root = make_site(tmp_path / "site")
    (root / "i" / "photo.bin").symlink_to(JPG / "Canon_PowerShot_S40.jpg")
    server = static_server(root, tmp_path / "access.jsonl", types=[".bin=image/jpeg"])
    try:
        crawl = run_crawl(tmp_path, "-a", f"url={server.url('/i/photo.bin')}")
        sent = server.requests()
    finally:
        server.stop()
    [record] = crawl.records
    assert record["sha256_first_10240_bytes"] == (
        "c629c7247153f59599727db141ee1f3c5e4a5a3cc90fa88e2e97d3d78c2fc823")
    assert record["image_size"] == 32764
    assert len(sent) == 1


# --- hostile pages (issue 12) -----------------------------------------------------


def test_unclosed_css_url_is_linear():
    """Finding 2: ``url(url(url(...`` never closed took 32 s at 156 KB."""
    import time

    page = ('<img src="/first.jpg"><div style="background-image:' + "url(" * 250_000
            + '">x</div><div style="background:url(\'/b.png\')"></div><img src="/last.jpg">')
    started = time.perf_counter()
    images, _ = find_images(Selector(text=page), "http://site.test/p")
    assert time.perf_counter() - started < 1.0
    assert images == ["http://site.test/first.jpg", "http://site.test/last.jpg",
                      "http://site.test/b.png"]


def test_css_url_forms():
    from imgprint.discovery import css_urls

    assert css_urls("""a url( "x y.jpg" ) url(z.png) URL('q.gif') url(a(b).jpg)""") == [
        "x y.jpg", "z.png", "q.gif"]


@pytest.mark.parametrize("bad", ["http://example.com:99999/x.jpg", "http://[::1",
                                 "http://[::1/x.jpg", "https://:80/x.jpg"])
def test_a_malformed_url_costs_only_itself(bad):
    """Finding 14: one bad URL raised in discovery and lost the whole page."""
    page = f'<img src="/a.jpg"><img src="{bad}"><a href="{bad}">l</a><img src="/b.jpg">'
    images, skipped = find_images(Selector(text=page), "http://site.test/p")
    assert images == ["http://site.test/a.jpg", "http://site.test/b.jpg"]
    assert set(skipped) == {bad}
    assert find_links(Selector(text=page + '<a href="/next">n</a>'), "http://site.test/p") == [
        "http://site.test/next"]


@pytest.mark.parametrize("base", ["http://[::1", "http://example.com:99999/"])
def test_a_bad_base_href_falls_back_to_the_page(base):
    page = f'<base href="{base}"><img src="a.jpg">'
    assert find_images(Selector(text=page), "http://site.test/d/p")[0] == [
        "http://site.test/d/a.jpg"]


def test_images_per_page_are_capped():
    page = "".join(f'<img src="/{i}.jpg">' for i in range(5000))
    images, _ = find_images(Selector(text=page), "http://site.test/p", limit=1001)
    assert len(images) == 1001 and images[0] == "http://site.test/0.jpg"


def test_images_past_deep_nesting_are_found():
    """Finding 7: past ~2,030 unclosed nested elements lxml stops (libxml2's
    depth limit) and every later image was silently dropped."""
    page = ('<img src="/first.jpg">' + "<div>" * 3000 + '<img src="/deep.jpg">'
            '<picture><source srcset="/s.jpg 1x"></picture>' + "</div>" * 10
            + '<img src="/last.jpg">')
    images, _ = find_images(Selector(text=page), "http://site.test/p", text=page)
    assert images == ["http://site.test/first.jpg", "http://site.test/deep.jpg",
                      "http://site.test/last.jpg", "http://site.test/s.jpg"]
