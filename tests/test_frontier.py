"""Several ``scrapy crawl images`` workers on one shared frontier (imgprint.frontier),
over the corpus site and a real ``redis-server`` on loopback: every image exactly
once across the workers' feeds, with the pages and errors a single-process crawl
gives; a killed worker's leased requests done by the others; a Redis restart
survived; a finished crawl not silently rerun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import PROJECT, free_port
from tests.services import redis_server

pytestmark = pytest.mark.crawl


class Worker:
    """One ``scrapy crawl images`` process writing its own feed."""

    def __init__(self, tmp: Path, name: str, seeds: Path, redis_url: str, **settings: object):
        self.feed = tmp / f"{name}.jsonl"
        self.log_path = tmp / f"{name}.log"
        argv = [sys.executable, "-m", "scrapy", "crawl", "images", "-O", str(self.feed),
                "-a", f"urls={seeds}", "-s", f"IMGPRINT_REDIS_URL={redis_url}",
                "-s", "IMGPRINT_PROGRESS_BAR=false"]
        for key, value in settings.items():
            argv += ["-s", f"{key}={value}"]
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(argv, cwd=PROJECT, stdout=log, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def wait(self, timeout: float = 300) -> int:
        return self.proc.wait(timeout=timeout)

    def records(self) -> list[dict]:
        if not self.feed.exists():
            return []
        return [json.loads(line) for line in self.feed.read_text().splitlines() if line.strip()]

    def lines(self) -> int:
        try:
            return len(self.feed.read_bytes().splitlines())
        except FileNotFoundError:  # not written yet
            return 0

    def log(self) -> str:
        return self.log_path.read_text()


def start_workers(tmp: Path, n: int, seeds: Path, url: str, **settings: object) -> list[Worker]:
    return [Worker(tmp, f"w{i}", seeds, url, **settings) for i in range(n)]


def finish(workers: list[Worker], timeout: float = 300) -> None:
    for w in workers:
        code = w.wait(timeout)
        assert code == 0, f"worker exit {code}:\n{w.log()[-3000:]}"


def collect(workers: list[Worker]) -> tuple[dict[str, dict], dict[str, list[str]], list[str]]:
    """(url -> record, url -> every page incl. seen_before lines, URLs recorded twice)."""
    records: dict[str, dict] = {}
    pages: dict[str, list[str]] = {}
    twice: list[str] = []
    for w in workers:
        for r in w.records():
            pages.setdefault(r["url"], []).extend(r["pages"])
            if r.get("seen_before"):
                continue
            if r["url"] in records:
                twice.append(r["url"])
            records[r["url"]] = r
    return records, pages, twice


def assert_like_single(records: dict[str, dict], pages: dict[str, list[str]],
                       single: list[dict]) -> None:
    expected = {r["url"]: r for r in single if not r.get("seen_before")}
    assert sorted(records) == sorted(expected)
    wrong_pages = [u for u, r in expected.items() if set(pages[u]) != set(r["pages"])]
    assert not wrong_pages, wrong_pages[:5]
    new_errors = {u: records[u]["error"] for u in records
                  if "error" in records[u] and records[u]["error"] != expected[u].get("error")}
    assert not new_errors, new_errors
    changed = [u for u in expected if records[u].get("sha256_first_10240_bytes")
               != expected[u].get("sha256_first_10240_bytes")]
    assert not changed, changed[:5]


def dupes_report(*feeds: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "scrapy", "dupes", "--json", *map(str, feeds)],
                          cwd=PROJECT, capture_output=True, text=True, timeout=120, check=True)
    report = json.loads(proc.stdout)
    del report["summary"]["files"]
    # Groups of equal size come in reading order, which differs between feeds.
    for kind, groups in report["exact"].items():
        report["exact"][kind] = sorted(groups, key=lambda g: g["hash"])
    # Where several hashes link the same copies (PDQ, the band), which link a
    # member was reached by (`by`, `via`, its `distance`) follows the order the
    # links were found, i.e. reading order; the groups, their members and the
    # centre do not.
    for group in report["near"]:
        group.pop("by", None)
        group.pop("max_distance", None)
        for image in group["images"]:
            for key in ("by", "via", "distance"):
                image.pop(key, None)
        group["images"].sort(key=lambda image: image["url"])
    report["near"] = sorted(report["near"], key=lambda g: json.dumps(g, sort_keys=True))
    return report


@pytest.fixture
def redis(tmp_path):
    server = redis_server(tmp_path)
    yield server
    server.stop()


def redis_url(server) -> str:
    return f"redis://127.0.0.1:{server.port}/0"


@pytest.mark.parametrize("n", [2, 4])
def test_workers_share_the_corpus_crawl(n, corpus_site, corpus_crawl, redis, tmp_path):
    single, _ = corpus_crawl
    seeds = corpus_site.seed_file(tmp_path / "urls.txt")
    workers = start_workers(tmp_path, n, seeds, redis_url(redis))
    finish(workers)
    records, pages, twice = collect(workers)
    assert not twice, twice[:5]
    assert_like_single(records, pages, single.records)
    # Work flows to every worker, not to the one that pushed the seeds alone.
    per_worker = [len(w.records()) for w in workers]
    assert all(per_worker), per_worker
    assert not any("Deprecat" in w.log() for w in workers)
    # `scrapy dupes` reads the workers' feeds as one collection: the same report.
    assert dupes_report(*[w.feed for w in workers]) == dupes_report(single.output)
    # A rerun of the finished crawl says so and records nothing.
    again = Worker(tmp_path, "again", seeds, redis_url(redis))
    assert again.wait(120) == 2
    assert "is finished" in again.log() and "IMGPRINT_REDIS_CRAWL" in again.log()
    assert not again.records()


def test_a_new_crawl_name_starts_over(corpus_site, redis, tmp_path):
    seeds = tmp_path / "urls.txt"
    seeds.write_text(corpus_site.server.url(corpus_site.pages[0]) + "\n")
    first = start_workers(tmp_path, 1, seeds, redis_url(redis))
    finish(first)
    second = Worker(tmp_path, "second", seeds, redis_url(redis), IMGPRINT_REDIS_CRAWL="run2")
    finish([second])
    assert first[0].records() and len(second.records()) == len(first[0].records())


def kill_mid_crawl(worker: Worker, lines: int = 30) -> None:
    """SIGKILL `worker` once it has written `lines` records, while it still runs."""
    deadline = time.monotonic() + 120
    while worker.lines() < lines and worker.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert worker.proc.poll() is None, "the crawl ended before the kill"
    worker.proc.send_signal(signal.SIGKILL)
    worker.wait()


def test_killed_worker_loses_nothing(corpus_site, corpus_crawl, redis, tmp_path):
    """SIGKILL one of three workers mid-crawl: the other two finish its leased
    requests once the leases expire; each image has one record."""
    single, _ = corpus_crawl
    seeds = corpus_site.seed_file(tmp_path / "urls.txt")
    # Slow image answers keep the crawl going long enough to kill it mid-way.
    workers = start_workers(tmp_path, 3, seeds, redis_url(redis), IMGPRINT_REDIS_LEASE=3,
                            IMGPRINT_REDIS_RETRY=1, CONCURRENT_REQUESTS=8,
                            IMGPRINT_MAX_PER_SITE=8)
    victim = workers[0]
    kill_mid_crawl(victim)
    finish(workers[1:])
    records, pages, twice = collect(workers)
    # The one window for a second record: killed between writing a line and
    # committing it (one Redis round trip); then the killed worker's last line.
    last = victim.records()[-1]["url"] if victim.records() else None
    assert twice in ([], [last]), twice
    assert_like_single(records, pages, single.records)
    logs = "".join(w.log() for w in workers[1:])
    assert "'imgprint/redis/requeued'" in logs, "no lease of the killed worker was requeued"


def test_unfinished_crawl_continues_when_workers_return(corpus_site, corpus_crawl, redis,
                                                       tmp_path):
    """Every worker gone before the end: the crawl is not finished, and a worker
    started later takes up the dead one's leases once they expire."""
    single, _ = corpus_crawl
    seeds = corpus_site.seed_file(tmp_path / "urls.txt")
    first = Worker(tmp_path, "first", seeds, redis_url(redis), IMGPRINT_REDIS_LEASE=2,
                   IMGPRINT_REDIS_RETRY=1,
                   CONCURRENT_REQUESTS=8, IMGPRINT_MAX_PER_SITE=8)
    kill_mid_crawl(first)
    later = Worker(tmp_path, "later", seeds, redis_url(redis), IMGPRINT_REDIS_LEASE=2,
                   IMGPRINT_REDIS_RETRY=1)
    finish([later])
    records, pages, twice = collect([first, later])
    last = first.records()[-1]["url"] if first.records() else None
    assert twice in ([], [last]), twice
    assert_like_single(records, pages, single.records)
    assert later.records()


def test_redis_restart_mid_crawl(corpus_site, corpus_crawl, tmp_path):
    """Redis stops (append-only file on) and comes back on the same port while two
    workers crawl: they reconnect and finish; every image once."""
    single, _ = corpus_crawl
    seeds = corpus_site.seed_file(tmp_path / "urls.txt")
    data = tmp_path / "redis-data"
    data.mkdir()
    server = redis_server(data, persist=True)
    try:
        workers = start_workers(tmp_path, 2, seeds, redis_url(server),
                                CONCURRENT_REQUESTS=8, IMGPRINT_MAX_PER_SITE=8)
        deadline = time.monotonic() + 120
        while sum(w.lines() for w in workers) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(w.proc.poll() is None for w in workers), "the crawl ended before the restart"
        server.stop()
        time.sleep(2)
        server = redis_server(data, port=server.port, persist=True)
        finish(workers)
    finally:
        server.stop()
    records, pages, twice = collect(workers)
    assert not twice, twice[:5]
    assert_like_single(records, pages, single.records)
    # No request was left leased to nobody by a reply lost in the restart.
    assert not any("'imgprint/redis/requeued'" in w.log() for w in workers)


def test_more_refused_seeds_than_the_page_window_end_the_crawl(redis, tmp_path):
    """As with the local frontier (test_exit_codes): the retries of pages already
    running are never held back for the window they fill themselves."""
    from imgprint.frontier.state import PAGE_WINDOW

    port = free_port()
    seeds = tmp_path / "urls.txt"
    seeds.write_text("".join(f"http://127.0.0.1:{port}/p{n}.html\n"
                             for n in range(PAGE_WINDOW + 4)))
    worker = Worker(tmp_path, "w", seeds, redis_url(redis), RETRY_TIMES=1)
    assert worker.wait(60) == 3, worker.log()[-3000:]
    assert f"every seed failed ({PAGE_WINDOW + 4} of {PAGE_WINDOW + 4})" in worker.log()


def test_lease_shorter_than_the_retry_is_refused(corpus_site, redis, tmp_path):
    seeds = corpus_site.seed_file(tmp_path / "urls.txt")
    worker = Worker(tmp_path, "w", seeds, redis_url(redis), IMGPRINT_REDIS_LEASE=30)
    assert worker.wait(120) == 2
    assert "IMGPRINT_REDIS_RETRY: 30 s is too long for IMGPRINT_REDIS_LEASE=30" in worker.log()
    assert not worker.feed.exists()


def test_redis_gone_for_good_stops_workers_clearly(corpus_site, tmp_path):
    seeds = corpus_site.seed_file(tmp_path / "urls.txt")
    server = redis_server(tmp_path)
    try:
        worker = Worker(tmp_path, "w", seeds, redis_url(server), IMGPRINT_REDIS_RETRY=2,
                        CONCURRENT_REQUESTS=4, IMGPRINT_MAX_PER_SITE=4)
        deadline = time.monotonic() + 120
        while worker.lines() < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.stop()
    assert worker.wait(120) == 5
    assert "unreachable" in worker.log()
