"""Exit status of ``scrapy crawl images``: one test per rule (README, "Exit status").

0 ran and wrote its feeds; 1 Scrapy could not start; 2 refused before the first
request (and nothing written); 3 every seed failed; 4 a feed was not written.
Also: the closing summary, the progress line, and the resume hint after a
graceful stop with a JOBDIR.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import free_port, run_crawl, static_server
from tests.helpers import EX, PROJECT

pytestmark = pytest.mark.crawl

GOOD = EX / "jpg" / "Canon_PowerShot_S40.jpg"


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    (root / "a.jpg").symlink_to(GOOD)
    (root / "p.html").write_text('<img src="a.jpg"><img src="missing.jpg">')
    server = static_server(root, tmp_path / "access.jsonl")
    yield server
    server.stop()


def imgprint_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if "imgprint: " in line]


def test_0_when_the_crawl_ran_with_a_summary_and_progress(tmp_path, corpus_site):
    seeds = corpus_site.seed_file(tmp_path / "urls.txt")
    crawl = run_crawl(tmp_path, "-a", f"urls={seeds}",
                      settings={"IMGPRINT_PROGRESS_INTERVAL": 0.3})
    assert crawl.returncode == 0, crawl.log[-3000:]
    progress = [line for line in crawl.log.splitlines() if "Progress: pages" in line]
    assert progress, crawl.log[-3000:]
    assert " recorded, " in progress[-1] and "/s" in progress[-1] and "errors" in progress[-1]
    summary = crawl.log[crawl.log.index("Summary:"):]
    recorded = len([r for r in crawl.records if not r.get("seen_before")])
    assert f"{recorded} images recorded" in summary
    assert f"feed: {crawl.output}" in summary
    # Quiet start-up: no component lists, no settings dump, no version table.
    head = crawl.log[:crawl.log.index("Spider opened")]
    assert "Enabled downloader middlewares" not in head and "Overridden settings" not in head
    assert len(head.splitlines()) < 8, head


def test_1_when_scrapy_cannot_start(tmp_path, site):
    crawl = run_crawl(tmp_path, "-a", f"url={site.url('/p.html')}",
                      settings={"ITEM_PIPELINES": '{"no.such.Pipeline": 300}'})
    assert crawl.returncode == 1
    assert site.requests() == []


def test_2_a_missing_url_file_leaves_an_existing_output_untouched(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text('{"url": "http://example.org/earlier.jpg"}\n')
    before = (out.read_bytes(), out.stat().st_mtime_ns)
    crawl = run_crawl(tmp_path, "-a", f"urls={tmp_path / 'nope.txt'}")
    assert crawl.returncode == 2
    assert imgprint_lines(crawl.log) == [f"imgprint: URL file not found: {tmp_path / 'nope.txt'}"]
    assert (out.read_bytes(), out.stat().st_mtime_ns) == before
    assert "Spider opened" not in crawl.log


def test_2_a_url_file_without_a_url(tmp_path):
    seeds = tmp_path / "urls.txt"
    seeds.write_text("# only a comment\nwww.example.org/gallery\n")
    crawl = run_crawl(tmp_path, "-a", f"urls={seeds}")
    assert crawl.returncode == 2
    assert "no http(s) URL in it; line 2: not an http(s) URL: no scheme; did you mean" \
           " 'https://www.example.org/gallery'?" in crawl.log
    assert not crawl.output.exists()


def test_2_a_feed_that_cannot_be_written(tmp_path, site):
    (tmp_path / "file").write_text("")
    crawl = run_crawl(tmp_path, "-a", f"url={site.url('/p.html')}",
                      output="file/out.jsonl")
    assert crawl.returncode == 2
    assert imgprint_lines(crawl.log) == [
        f"imgprint: feed {tmp_path / 'file/out.jsonl'}: {tmp_path / 'file'} is not a directory"]
    assert site.requests() == []


def test_2_a_disabled_feed_storage_names_the_feed(tmp_path, site):
    # boto3/botocore absent, as with the README's install before this fix:
    # Scrapy "disables" the s3 scheme (and with it every feed) and crawls anyway.
    code = ("import sys; sys.modules['botocore'] = None; sys.modules['boto3'] = None;"
            " from scrapy.cmdline import execute; execute()")
    argv = [sys.executable, "-c", code, "crawl", "images", "-a", f"url={site.url('/p.html')}",
            "-O", "s3://bucket/out.jsonl", "-O", str(tmp_path / "local.jsonl")]
    proc = subprocess.run(argv, cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert ("imgprint: feed s3://bucket/out.jsonl: storage disabled: missing boto3 library;"
            " pip install -r requirements.txt") in proc.stderr
    assert site.requests() == [] and not (tmp_path / "local.jsonl").exists()


def test_3_when_every_seed_fails(tmp_path, site):
    seeds = tmp_path / "urls.txt"
    seeds.write_text(f"http://127.0.0.1:{free_port()}/page.html  # refused\n"
                     f"{site.url('/gone.html')}\n"
                     f"{site.url('/missing.jpg')} # an image seed\n")
    crawl = run_crawl(tmp_path, "-a", f"urls={seeds}")
    assert crawl.returncode == 3, crawl.log[-3000:]
    assert "imgprint: every seed failed (3 of 3)" in crawl.log
    assert f"Page failed: {site.url('/gone.html')}: HTTP 404" in crawl.log
    # The image seed gets an image record with its status and no size.
    assert crawl.records == [{"url": site.url("/missing.jpg"), "pages": [],
                              "http_status": 404, "error": "HTTP 404",
                              "timestamp": crawl.records[0]["timestamp"]}]


def test_3_when_more_seeds_than_the_page_window_are_refused(tmp_path):
    """More dead seeds than the page window (16 pages running): their retries
    are pages already running, never held back for a window they fill
    themselves (this crawl sat idle until killed)."""
    from imgprint.frontier.state import PAGE_WINDOW

    port = free_port()
    seeds = tmp_path / "urls.txt"
    seeds.write_text("".join(f"http://127.0.0.1:{port}/p{n}.html\n"
                             for n in range(PAGE_WINDOW + 4)))
    crawl = run_crawl(tmp_path, "-a", f"urls={seeds}", timeout=60,
                      settings={"RETRY_TIMES": 1})
    assert crawl.returncode == 3, crawl.log[-3000:]
    assert f"imgprint: every seed failed ({PAGE_WINDOW + 4} of {PAGE_WINDOW + 4})" in crawl.log


def test_not_3_when_one_seed_answers_and_error_records_have_no_size(tmp_path, site):
    seeds = tmp_path / "urls.txt"
    seeds.write_text(f"http://127.0.0.1:{free_port()}/page.html\n{site.url('/p.html')}\n")
    crawl = run_crawl(tmp_path, "-a", f"urls={seeds}")
    assert crawl.returncode == 0, crawl.log[-3000:]
    missing = {r["url"]: r for r in crawl.records}[site.url("/missing.jpg")]
    assert missing["http_status"] == 404 and missing["error"] == "HTTP 404"
    assert "image_size" not in missing or missing["image_size"] is None
    assert missing.get("etag") is None


def test_4_when_a_feed_is_not_written(tmp_path, site):
    # A full disk: the feed file opens, its records cannot be written.
    crawl = run_crawl(tmp_path, "-a", f"url={site.url('/p.html')}",
                      output="/dev/full:jsonlines")
    assert crawl.returncode == 4, crawl.log[-3000:]
    assert ("imgprint: feed not written: jsonlines feed (2 items) in: /dev/full: OSError:"
            in crawl.log), crawl.log[-3000:]


def test_a_graceful_stop_with_a_jobdir_says_how_to_resume(tmp_path, corpus_site):
    seeds = corpus_site.seed_file(tmp_path / "urls.txt")
    out = tmp_path / "out.jsonl"
    argv = [sys.executable, "-m", "scrapy", "crawl", "images", "-a", f"urls={seeds}",
            "-o", str(out), "-s", f"JOBDIR={tmp_path / 'job'}", "-s", "CONCURRENT_REQUESTS=2"]
    log = tmp_path / "crawl.log"
    with log.open("w") as err:
        proc = subprocess.Popen(argv, cwd=PROJECT, stderr=err, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (out.exists() and out.stat().st_size):
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 0
    text = log.read_text()
    hint = [line for line in text.splitlines() if "resume with: " in line]
    assert hint and hint[0].split("resume with: ")[1].startswith("scrapy crawl images -a urls=")
    assert f"JOBDIR={tmp_path / 'job'}" in hint[0]
