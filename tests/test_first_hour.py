"""Issue 24, in real crawls: what a newcomer sees in the first hour.

1. The Quick start crawls only the seed page: the summary says how many
   same-site links were not followed and which ``-a depth`` follows them.
2. A local feed the file system refuses (also to root, as CI runs) is refused
   before the first request: exit status 2, one line.
3. A first run without a network says that nothing was crawled, with failed
   pages and image seeds counted as such.
4. A quiet log: no warning for a component that is off, no stats dump on a
   terminal (a log file or a pipe keeps it), a misspelled setting answered with
   the near name.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

import pytest

from tests.conftest import free_port, run_crawl, static_server
from tests.helpers import EX, PROJECT

pytestmark = pytest.mark.crawl


def summary(log: str) -> list[str]:
    """The summary's lines, without their indent."""
    tail = log[log.index("Summary:\n") + len("Summary:\n"):]
    return [line[2:] for line in tail.splitlines() if line.startswith("  ")]


def imgprint_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if line.startswith("imgprint: ")]


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    (root / "a.jpg").symlink_to(EX / "jpg" / "Canon_PowerShot_S40.jpg")
    (root / "p.html").write_text('<img src="a.jpg">')
    server = static_server(root, tmp_path / "access.jsonl")
    yield server
    server.stop()


def test_1_the_summary_says_which_links_were_not_followed(tmp_path, corpus_site, corpus_crawl):
    seed = corpus_site.server.url("/pages/0000.html")  # 20 images; links to 0001.html
    crawl = run_crawl(tmp_path, "-a", f"url={seed}")
    assert crawl.returncode == 0, crawl.log[-3000:]
    lines = summary(crawl.log)
    assert lines[:2] == ["20 images recorded (0 later sightings) from 1 page",
                         "1 same-site link not followed: add -a depth=1 to follow it"]
    # The stats key, in the stats dump a log read by a script keeps.
    assert "'imgprint/links/not_followed': 1," in crawl.log
    deeper = run_crawl(tmp_path, "-a", f"url={seed}", "-a", "depth=2", output="deeper.jsonl")
    assert summary(deeper.log)[:2] == [
        "60 images recorded (0 later sightings) from 3 pages",
        "1 same-site link not followed: add -a depth=3 to follow it"]
    # Every page a seed: the links between them were all crawled, no hint.
    whole, _ = corpus_crawl
    assert not [line for line in summary(whole.log) if "not followed" in line]


@pytest.mark.parametrize("feed, problem", [
    # os.access(..., W_OK) is true for root on both: the old check let them through.
    ("/proc/nope/out.jsonl", "cannot create directory /proc/nope: No such file or directory"),
    ("/sys/kernel/imgprint-out.jsonl", "cannot create a file in /sys/kernel: "),
])
def test_2_a_feed_the_file_system_refuses_is_refused_before_the_crawl(tmp_path, site, feed,
                                                                      problem):
    crawl = run_crawl(tmp_path, "-a", f"url={site.url('/p.html')}", output=feed)
    assert crawl.returncode == 2, crawl.log[-3000:]
    [line] = imgprint_lines(crawl.log)
    assert line.startswith(f"imgprint: feed {feed}: {problem}"), line
    assert site.requests() == [] and "Traceback" not in crawl.log


def test_3_an_offline_first_run_says_nothing_was_crawled(tmp_path):
    """The README's urls.txt (a page and an image) where nothing answers."""
    port = free_port()
    seeds = tmp_path / "urls.txt"
    seeds.write_text(f"http://127.0.0.1:{port}/sample.html\n"
                     f"http://127.0.0.1:{port}/include/img_1771.jpg\n")
    crawl = run_crawl(tmp_path, "-a", f"urls={seeds}", settings={"RETRY_TIMES": 0})
    assert crawl.returncode == 3, crawl.log[-3000:]
    assert [r["url"] for r in crawl.records] == [f"http://127.0.0.1:{port}/include/img_1771.jpg"]
    assert summary(crawl.log) == [
        "nothing was crawled: all 2 seeds failed (1 page, 1 image seed); the errors above"
        " say why",
        "errors 2: failed page ×1, connection refused ×1",
        f"feed: {crawl.output} (1 error record: the failed image seed)"]


def crawl_on_a_terminal(tmp_path, *args: str, timeout: float = 300) -> tuple[int, str]:
    """``scrapy crawl images ARGS`` with its output on a pseudo-terminal, as a user
    sees it (the progress bar off: it redraws its line)."""
    master, slave = pty.openpty()
    argv = [sys.executable, "-m", "scrapy", "crawl", "images", "-O",
            str(tmp_path / "tty.jsonl"), *args, "-s", "IMGPRINT_PROGRESS_BAR=false"]
    proc = subprocess.Popen(argv, cwd=PROJECT, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    out, deadline = b"", time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 1)[0]:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the crawl closed the terminal
                    break
                if not data:
                    break
                out += data
        returncode = proc.wait(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return returncode, out.decode().replace("\r\n", "\n")


def test_4_a_quiet_log_and_a_suggestion_for_a_misspelled_setting(tmp_path, site):
    code, log = crawl_on_a_terminal(tmp_path, "-a", f"url={site.url('/p.html')}")
    assert code == 0, log[-3000:]
    assert " WARNING: " not in log, log  # was: Disabled ...FrontierWorker
    assert "Dumping Scrapy stats" not in log, log
    assert summary(log)[0] == "1 image recorded (0 later sightings) from 1 page"
    # Into a file or a pipe (Scrapyd's job log, a script) the stats dump stays.
    piped = run_crawl(tmp_path, "-a", f"url={site.url('/p.html')}")
    assert "Dumping Scrapy stats" in piped.log and " WARNING: " not in piped.log
    typo = run_crawl(tmp_path, "-a", f"url={site.url('/p.html')}",
                     settings={"IMGPRINT_MIN_SIZ": "1000"})
    assert typo.returncode == 2
    assert imgprint_lines(typo.log) == [
        "imgprint: IMGPRINT_MIN_SIZ: unknown setting; did you mean IMGPRINT_MIN_SIZE?"
        " (docs/settings.md lists imgprint's settings)"]
