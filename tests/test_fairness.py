"""Per-site fairness (issue 12, finding 17): one slow site must not hold every
download slot. Site A's page links 80 images that drip one byte a second (each
holds its slot until DOWNLOAD_TIMEOUT); site B's page, answered a second later
(when A's images are in the downloader), links 5 quick ones. B's images must
not wait for A's timeouts."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from tests.conftest import CORPUS, Server, run_crawl

SLOW_IMAGES = 80
TIMEOUT = 6


@pytest.mark.crawl
def test_a_slow_site_does_not_hold_every_slot(tmp_path):
    jpg = CORPUS / "exif-samples" / "jpg" / "Konica_Minolta_DiMAGE_Z3.jpg"
    files = tmp_path / "files"
    files.mkdir()
    for i in range(SLOW_IMAGES):
        shutil.copy(jpg, files / f"a{i}.jpg")
    for i in range(5):
        shutil.copy(jpg, files / f"b{i}.jpg")
    faulty = Server([sys.executable, "-m", "tests.servers.faulty_site", str(files),
                     "--log", str(tmp_path / "faulty.jsonl")], tmp_path / "faulty.jsonl")
    pages = tmp_path / "pages"
    pages.mkdir()
    port = faulty.port
    (pages / "a.html").write_text("".join(
        f'<img src="http://127.0.0.1:{port}/drip/a{i}.jpg">' for i in range(SLOW_IMAGES)))
    (pages / "b.html").write_text("".join(
        f'<img src="http://localhost:{port}/ok/b{i}.jpg">' for i in range(5)))
    site = Server([sys.executable, "-m", "tests.servers.static_site", str(pages), "--log",
                   str(tmp_path / "pages.jsonl"), "--slow", "b.html=1"], tmp_path / "pages.jsonl")
    try:
        seeds = tmp_path / "urls.txt"
        seeds.write_text(f"http://127.0.0.1:{site.port}/a.html\n"
                         f"http://localhost:{site.port}/b.html\n")
        crawl = run_crawl(tmp_path, "-a", f"urls={seeds}", timeout=300, settings={
            "DOWNLOAD_TIMEOUT": str(TIMEOUT), "RETRY_ENABLED": "False",
            "IMGPRINT_GUARD_PRIVATE": "False"})
    finally:
        faulty.stop()
        site.stop()
    assert crawl.returncode == 0, crawl.log[-3000:]
    log = [json.loads(line) for line in (tmp_path / "faulty.jsonl").read_text().splitlines()]
    first_drip = min(e["t"] for e in log if e["fault"] == "drip")
    quick = [e["t"] - first_drip for e in log if e["fault"] == "ok"]
    assert len(quick) >= 5
    assert max(quick) < TIMEOUT / 2, f"site B waited {max(quick):.1f} s for site A"
    records = crawl.by_path()
    assert all("sha256_first_10240_bytes" in records[f"/ok/b{i}.jpg"] for i in range(5))
    assert "'imgprint/scheduler/parked'" in crawl.log
