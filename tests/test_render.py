"""Rendering in Debian's headless Chromium, against real servers on loopback.

One crawl with ``-a render=on`` (one browser) covers every page below; each
test reads what it needs from it. The pages build their images with
JavaScript in ways static discovery cannot see: URLs are assembled from
pieces in script. What must hold:

* every image is found, and its record says where (``found_by``);
* the browser never downloads an image: every image GET at the server is a
  ranged one (the crawler's), none comes whole;
* the browser reaches nothing on a private address that is not a seed host
  (the second server, on ``localhost``, sees no request at all);
* an onion page renders through the real SOCKS5 proxy (microsocks, in a
  namespace whose /etc/hosts alone knows the onion name), and neither the
  crawler (resolver audit) nor Chromium (its own net log) looks the name up;
* an image seed is fetched on the ranged path, not rendered.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_crawl, static_server
from tests.helpers import EX
from tests.test_tor import AUDIT, Socks, lookups, onion_name, seeds, stat

pytestmark = pytest.mark.crawl

ONION = onion_name("imgprint-render")
JPEGS = ["Canon_40D.jpg", "Canon_PowerShot_S40.jpg", "Fujifilm_FinePix_E500.jpg",
         "Konica_Minolta_DiMAGE_Z3.jpg", "Nikon_COOLPIX_P1.jpg", "Ricoh_Caplio_RR330.jpg"]
SCROLLS = 8


def page(body: str, charset: bool = True) -> str:
    meta = '<meta charset="utf-8">' if charset else ""
    return f"<!doctype html><html><head>{meta}</head><body>{body}</body></html>"


def build_site(root: Path, private: str) -> None:
    (root / "img").mkdir(parents=True)
    # Each page its own image names: an image is recorded for the first page
    # that shows it, so shared names would blur which page found what.
    for prefix in "slicvo":
        for n, name in enumerate(JPEGS):
            shutil.copy(EX / "jpg" / name, root / "img" / f"{prefix}{n}.jpg")
    shutil.copy(EX / "jpg" / JPEGS[0], root / "img" / "café.jpg")
    shutil.copy(EX / "jpg" / JPEGS[1], root / "img" / "seed.jpg")
    pages = {
        # 1 image in the HTML, 4 inserted by a script 300 ms after load.
        "scripted.html": page('<img src="img/s0.jpg"><script src="app.js"></script>'),
        "app.js": "setTimeout(() => { for (let i = 1; i <= 4; i++) { const im ="
                  " document.createElement('img'); im.src = 'img/s' + i + '.jpg';"
                  " document.body.appendChild(im); } }, 300);",
        # Images made only when their placeholder scrolls into view.
        "lazy.html": page(
            "".join(f'<div class="ph" data-n="{n}" style="height:1500px"></div>'
                    for n in (3, 4, 5))
            + "<script>const io = new IntersectionObserver(es => es.forEach(e => {"
              " if (!e.isIntersecting) return; io.unobserve(e.target);"
              " const im = document.createElement('img');"
              " im.src = 'img/l' + e.target.dataset.n + '.jpg'; e.target.appendChild(im); }));"
              " document.querySelectorAll('.ph').forEach(p => io.observe(p));</script>"),
        # Endless: each time the bottom shows, another screen and image.
        "infinite.html": page(
            '<div id="feed"></div><div id="end" style="height:10px"></div>'
            "<script>let n = 0; const feed = document.getElementById('feed');"
            " function more() { const d = document.createElement('div');"
            " d.style.height = '1200px'; const im = document.createElement('img');"
            " im.src = 'img/i' + (n % 6) + '.jpg?screen=' + n; n++; d.appendChild(im);"
            " feed.appendChild(d); }"
            " new IntersectionObserver(es => { if (es[0].isIntersecting) more(); })"
            ".observe(document.getElementById('end'));</script>"),
        # CSS only: an inline style set by script (in the DOM), and a rule
        # added through the CSSOM (only the browser's request shows it).
        "css.html": page(
            '<div class="hero" style="height:200px"></div><script>'
            "document.body.style.backgroundImage = 'url(img/c' + 1 + '.jpg)';"
            " document.styleSheets.length || document.head.appendChild("
            "document.createElement('style'));"
            " document.styleSheets[0].insertRule('.hero { background-image: url(img/c' + 2"
            " + '.jpg) }');</script>"),
        # A page (on a seed host) whose browser reaches for private addresses.
        "private.html": page(
            f'<link rel="stylesheet" href="{private}/x.css">'
            f'<script src="{private}/x.js"></script>'
            f'<iframe src="{private}/frame.html"></iframe>'
            f"<script>fetch('{private}/api.json').catch(() => {{}});"
            " fetch('http://10.255.255.1/lit.json').catch(() => {});"
            " const im = document.createElement('img'); im.src = 'img/v' + 5 + '.jpg';"
            " document.body.appendChild(im);</script>"),
        # No charset anywhere: Scrapy decodes UTF-8, Chromium alone would not.
        "enc.html": page("<script>const im = document.createElement('img');"
                         " im.src = 'img/caf' + 'é.jpg'; document.body.appendChild(im);</script>",
                         charset=False),
        # The onion page: its script comes through the proxy too.
        "onion.html": page('<img src="img/o0.jpg"><script src="onion.js"></script>'),
        "onion.js": "for (const n of [3, 4]) { const im = document.createElement('img');"
                    " im.src = 'img/o' + n + '.jpg'; document.body.appendChild(im); }",
    }
    for name, text in pages.items():
        (root / name).write_bytes(text.encode("utf-8"))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("render")
    private_root = tmp / "private"
    private_root.mkdir()
    for name in ("x.css", "x.js", "frame.html", "api.json"):
        (private_root / name).write_text("/* private */")
    private = static_server(private_root, tmp / "private.jsonl")
    socks = Socks(tmp, [ONION])
    root = tmp / "site"
    build_site(root, f"http://localhost:{private.port}")
    site = static_server(root, tmp / "site.jsonl")
    netlog = tmp / "netlog.json"
    audit = tmp / "lookups.txt"
    try:
        urls = [site.url(f"/{p}") for p in ("scripted.html", "lazy.html", "infinite.html",
                                             "css.html", "private.html", "enc.html",
                                             "img/seed.jpg")]
        urls.append(f"http://{ONION}:{site.port}/onion.html")
        crawl = run_crawl(tmp, "-a", seeds(tmp, urls), "-a", "render=on", settings={
            "TOR_PROXIES": socks.url, "EXTENSIONS": AUDIT, "RESOLVER_AUDIT_LOG": audit,
            "IMGPRINT_RENDER_SCROLLS": SCROLLS, "IMGPRINT_RENDER_WAIT": 4,
            "PLAYWRIGHT_LAUNCH_OPTIONS": json.dumps({"args": [f"--log-net-log={netlog}"]}),
        }, timeout=180)
        (tmp / "crawl.log").write_text(crawl.log)  # for a failing test's reader
        yield {"crawl": crawl, "site": site, "private": private, "socks": socks,
               "netlog": netlog, "audit": audit, "served": site.requests(),
               "private_served": private.requests()}
    finally:
        for server in (site, private, socks):
            server.stop()


def records_of(rendered, page_name: str) -> dict[str, dict]:
    """Image records of one page: image file name -> record."""
    return {r["url"].rsplit("/", 1)[1]: r for r in rendered["crawl"].records
            if any(p.endswith("/" + page_name) for p in r.get("pages", []))}


def test_crawl_ran_with_one_browser(rendered):
    crawl = rendered["crawl"]
    assert crawl.returncode == 0, crawl.log[-3000:]
    assert stat(crawl.log, "playwright/browser_count") == 1
    assert stat(crawl.log, "imgprint/render/pages") == 7  # every page, not the image seed
    assert "Traceback" not in crawl.log


def test_script_inserted_images(rendered):
    found = records_of(rendered, "scripted.html")
    assert set(found) == {f"s{n}.jpg" for n in range(5)}
    assert found["s0.jpg"]["found_by"] == "html"
    assert {found[f"s{n}.jpg"]["found_by"] for n in range(1, 5)} == {"dom"}
    assert all(r["http_status"] == 206 and "error" not in r for r in found.values())


def test_lazy_loaded_images(rendered):
    found = records_of(rendered, "lazy.html")
    assert set(found) == {"l3.jpg", "l4.jpg", "l5.jpg"}
    assert {r["found_by"] for r in found.values()} == {"dom"}


def test_infinite_scroll_is_bounded(rendered):
    crawl = rendered["crawl"]
    screens = [r for r in crawl.records if "screen=" in r["url"]]
    # More than one screen was loaded, and no more than the scroll steps allow.
    assert 2 <= len(screens) <= SCROLLS + 1, [r["url"] for r in screens]
    assert stat(crawl.log, "imgprint/render/scroll_capped") >= 1


def test_css_only_images(rendered):
    found = records_of(rendered, "css.html")
    assert found["c1.jpg"]["found_by"] == "dom"  # inline style, in the rendered DOM
    assert found["c2.jpg"]["found_by"] == "requests"  # CSSOM rule: the browser asked


def test_browser_never_downloads_an_image(rendered):
    # The seed is the crawler's (a plain GET, cut at the byte budget).
    images = [r for r in rendered["served"] if "/img/" in r["path"] and "seed" not in r["path"]]
    assert len(images) >= 20
    # The crawler always asks for a range; a browser's image GET never does.
    assert [r for r in images if r["method"] == "GET" and not r["range"]] == []
    crawl = rendered["crawl"]
    assert stat(crawl.log, "imgprint/render/aborted") >= 15


def test_private_addresses_refused_in_the_browser(rendered):
    crawl = rendered["crawl"]
    assert rendered["private_served"] == []  # css, script, iframe, fetch: none arrived
    assert stat(crawl.log, "imgprint/render/guard/refused") >= 4
    assert stat(crawl.log, "imgprint/render/refused_literal") >= 1
    # The browser did reach the seed host through the guard relay.
    assert stat(crawl.log, "imgprint/render/guard/connections") >= 1
    assert any(r["path"] == "/app.js" for r in rendered["served"])
    # The page's own image still came, on the ranged path.
    assert records_of(rendered, "private.html")["v5.jpg"]["http_status"] == 206


def test_rendered_page_decoded_as_scrapy_decodes_it(rendered):
    found = records_of(rendered, "enc.html")
    assert set(found) == {"caf%C3%A9.jpg"}
    assert found["caf%C3%A9.jpg"]["http_status"] == 206


def test_onion_page_renders_through_the_socks_proxy(rendered):
    found = records_of(rendered, "onion.html")
    assert set(found) == {"o0.jpg", "o3.jpg", "o4.jpg"}
    assert found["o3.jpg"]["found_by"] == "dom"
    # Only the browser asks for onion.js; neither it nor the crawler can
    # resolve the onion name, so it came through the proxy, by name.
    assert [r["host"] for r in rendered["served"] if r["path"] == "/onion.js"] == [
        f"{ONION}:{rendered['site'].port}"]
    targets = rendered["socks"].targets()
    assert targets and all(t.startswith(ONION + ":") for t in targets)
    assert not [n for n in lookups(rendered["audit"]) if ".onion" in n]
    # Chromium's own resolver never looked it up either. (Its net log shows it
    # does ask its host resolver for page hosts even through a SOCKS5 proxy;
    # the launch flag mapping *.onion to "not found" is what stops that.)
    log = json.loads(rendered["netlog"].read_text())
    types = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    asked = [e["params"].get("host", "") for e in log["events"]
             if types.get(e["type"], "").startswith("HOST_RESOLVER") and "params" in e]
    assert not [h for h in asked if ".onion" in str(h)], asked
    assert any(ONION in json.dumps(e.get("params", {})) for e in log["events"])


def test_image_seed_is_fetched_not_rendered(rendered):
    seed = [r for r in rendered["crawl"].records if r["url"].endswith("/img/seed.jpg")]
    assert len(seed) == 1 and seed[0]["sha256_first_10240_bytes"]
    assert "found_by" not in seed[0]
    # Every request for it is one the record counts (sniffing GET, follow-ups):
    # none from a browser.
    served = [r for r in rendered["served"] if r["path"] == "/img/seed.jpg"]
    assert len(served) == seed[0]["requests"]


def test_kill_and_resume_a_rendered_crawl(tmp_path):
    """SIGKILL while pages are being rendered, then resume: every image, static
    or script-built, recorded exactly once."""
    import signal
    import subprocess
    import sys
    import time
    from collections import Counter

    from tests.conftest import PROJECT

    root = tmp_path / "site"
    (root / "img").mkdir(parents=True)
    expected = set()
    for p in range(8):
        for n in range(4):
            shutil.copy(EX / "jpg" / JPEGS[(p + n) % 6], root / "img" / f"k{p}-{n}.jpg")
            expected.add(f"k{p}-{n}.jpg")
        (root / f"k{p}.html").write_text(page(
            f'<img src="img/k{p}-0.jpg"><script>setTimeout(() => {{ for (let n = 1; n < 4; n++)'
            " { const im = document.createElement('img');"
            f" im.src = 'img/k{p}-' + n + '.jpg'; document.body.appendChild(im); }} }}, 300);"
            "</script>"))
    site = static_server(root, tmp_path / "site.jsonl")
    seeds_file = tmp_path / "urls.txt"
    seeds_file.write_text("".join(site.url(f"/k{p}.html") + "\n" for p in range(8)))
    log = (tmp_path / "crawl.log").open("w")

    def start(out):
        return subprocess.Popen(
            [sys.executable, "-m", "scrapy", "crawl", "images", "-a", f"urls={seeds_file}",
             "-a", "render=on", "-o", str(out), "-s", f"JOBDIR={tmp_path / 'job'}",
             "-s", "CONCURRENT_REQUESTS=2", "-s", "IMGPRINT_RENDER_PAGES=1"],
            cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=log)

    try:
        first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
        proc = start(first)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline and not (
                first.exists() and "dom" in first.read_text()):
            time.sleep(0.05)
        killed = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert start(second).wait(timeout=120) == 0
    finally:
        site.stop()
    records = [json.loads(line) for out in (first, second) if out.exists()
               for line in out.read_text().splitlines()]
    counts = Counter(r["url"].rsplit("/", 1)[1] for r in records if not r.get("seen_before"))
    assert killed and first.read_text() and second.read_text()
    assert set(counts) == expected
    assert max(counts.values()) == 1
