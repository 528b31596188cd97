"""Deep crawls keep their pending work bounded (issue 23, finding 5).

Pages outrank images in the scheduler, and ``IMGPRINT_MAX_PENDING_IMAGES``
used to hold back seed pages only: with ``-a depth=1``, every linked page was
parsed before its images were fetched, so every image request waited in
memory (1,000 pages x 1,000 images: 1,405 MB) or in Redis (~0.9 KB an image).
Now no page is handed out while more images than the limit are pending, or
``PAGE_WINDOW`` pages are being fetched or parsed, so pending images stay under
the limit plus ``PAGE_WINDOW`` pages' worth.

A generated site (a seed linking to many pages, many images each), served by
Twisted's static.File; once with the local frontier, once on Redis (the peak
number of keys there, polled during the crawl).
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from PIL import Image

from imgprint.frontier.state import PAGE_WINDOW
from tests.conftest import PROJECT, run_crawl, static_server
from tests.services import redis_server

pytestmark = pytest.mark.crawl

LIMIT = 100  # IMGPRINT_MAX_PENDING_IMAGES
PER_PAGE = 50  # images on each linked page
#: Most images pending: the limit, plus the images of the pages started while
#: under it.
BOUND = LIMIT + PAGE_WINDOW * PER_PAGE


def deep_site(root: Path, pages: int, images: int = PER_PAGE) -> None:
    """``/index.html`` linking to ``pages`` pages, each showing ``images``
    distinct image URLs (one 8x8 PNG under many query strings)."""
    (root / "p").mkdir(parents=True)
    png = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(png, "PNG")
    (root / "img.png").write_bytes(png.getvalue())
    (root / "index.html").write_text("<html><body>" + "".join(
        f'<a href="/p/{i}.html">{i}</a>' for i in range(pages)) + "</body></html>")
    for i in range(pages):
        (root / "p" / f"{i}.html").write_text("<html><body>" + "".join(
            f'<img src="/img.png?p={i}&amp;n={j}">' for j in range(images)) + "</body></html>")


def served_peak(requests: list[dict], per_page: int = PER_PAGE) -> int:
    """The most images known and not yet served, as the server saw it (a
    page's images counted as known once the page is served): it needs nothing
    of the crawler's, so it tells the same before and after."""
    known = served = peak = 0
    for r in requests:
        if r["path"].startswith("/p/"):
            known += per_page
        elif r["path"].startswith("/img.png"):
            served += 1
        peak = max(peak, known - served)
    return peak


def stat(log: str, key: str) -> int | None:
    m = re.search(rf"'{re.escape(key)}': (\d+)", log)
    return int(m.group(1)) if m else None


def test_linked_pages_wait_while_images_are_pending(tmp_path):
    root = tmp_path / "site"
    deep_site(root, 200)  # 10,000 images; the crawl stops after 1,500 records
    server = static_server(root, tmp_path / "access.jsonl")
    try:
        crawl = run_crawl(tmp_path, "-a", f"url={server.url('/index.html')}", "-a", "depth=1",
                          settings={"IMGPRINT_MAX_PENDING_IMAGES": LIMIT,
                                    "CLOSESPIDER_ITEMCOUNT": 1500,
                                    "IMGPRINT_PROGRESS_BAR": "false"})
        served = server.requests()
    finally:
        server.stop()
    assert crawl.returncode == 0, crawl.log[-3000:]
    assert len(crawl.records) >= 1500
    peak = stat(crawl.log, "imgprint/images/pending_max")
    print(f"\npending at most {peak} (bound {BOUND}); as served {served_peak(served)}")
    # Pages served but not yet parsed hold at most PAGE_WINDOW pages' images
    # more (before: 8,821, every page served first).
    assert served_peak(served) <= BOUND + PAGE_WINDOW * PER_PAGE
    assert peak is not None and LIMIT < peak <= BOUND
    assert (stat(crawl.log, "imgprint/scheduler/pages_held") or 0) > 0


def test_every_page_and_image_is_done_in_the_end(tmp_path):
    """The pages held back are all parsed, every image recorded once with its page."""
    root = tmp_path / "site"
    deep_site(root, 30, 20)
    server = static_server(root, tmp_path / "access.jsonl")
    try:
        crawl = run_crawl(tmp_path, "-a", f"url={server.url('/index.html')}", "-a", "depth=1",
                          settings={"IMGPRINT_MAX_PENDING_IMAGES": 20,
                                    "IMGPRINT_PROGRESS_BAR": "false"})
    finally:
        server.stop()
    assert crawl.returncode == 0, crawl.log[-3000:]
    pages = {}
    for r in crawl.records:
        assert not r.get("seen_before"), r
        pages[r["url"].split("/", 3)[3]] = r["pages"]
    assert len(pages) == 600
    assert all(p == [server.url(f"/p/{k.split('=')[1].split('&')[0]}.html")]
               for k, p in pages.items())
    assert stat(crawl.log, "imgprint/images/pending_max") <= 20 + PAGE_WINDOW * 20


class RedisKeys:
    """The most keys (and bytes of memory) a Redis server held, polled every 20 ms."""

    def __init__(self, port: int):
        self.client = redis.Redis(port=port)
        self.peak = self.memory = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.client.dbsize())
            self.memory = max(self.memory, self.client.info("memory")["used_memory"])
            time.sleep(0.02)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        self.client.close()
        return self.peak


def test_redis_frontier_keeps_its_size(tmp_path):
    """One key an image pending (the pages that found it): the keys stay near
    the bound while the crawl goes through 1,000 of 6,000 images."""
    root = tmp_path / "site"
    deep_site(root, 120)
    seeds = tmp_path / "seeds.txt"
    server = static_server(root, tmp_path / "access.jsonl")
    store = redis_server(tmp_path)
    seeds.write_text(server.url("/index.html") + "\n")
    keys = RedisKeys(store.port)
    try:
        argv = [sys.executable, "-m", "scrapy", "crawl", "images", "-O",
                str(tmp_path / "w.jsonl"), "-a", f"urls={seeds}", "-a", "depth=1"]
        for key, value in {"IMGPRINT_REDIS_URL": f"redis://127.0.0.1:{store.port}/0",
                           "IMGPRINT_MAX_PENDING_IMAGES": LIMIT, "CLOSESPIDER_ITEMCOUNT": 1000,
                           "IMGPRINT_PROGRESS_BAR": "false"}.items():
            argv += ["-s", f"{key}={value}"]
        proc = subprocess.run(argv, cwd=PROJECT, capture_output=True, text=True, timeout=300)
    finally:
        peak = keys.stop()
        store.stop()
        server.stop()
    records = [json.loads(line) for line in (tmp_path / "w.jsonl").read_text().splitlines()]
    assert len(records) >= 1000, proc.stderr[-3000:]
    pending = stat(proc.stderr, "imgprint/images/pending_max")
    print(f"\nRedis keys at most {peak}, {keys.memory / 1e6:.1f} MB; pending at most"
          f" {pending} (bound {BOUND})")
    # Besides the queued images: those leased (at most CONCURRENT_REQUESTS), in
    # the pipeline, found by pages whose requests are not queued yet (at most
    # PAGE_WINDOW pages'), ~10 fixed keys. Before: 5,367 keys.
    assert peak <= BOUND + PAGE_WINDOW * PER_PAGE
    assert pending is not None and pending <= BOUND
