"""A misbehaving server: each fault ends in the clean fingerprint or in a stated error."""

from __future__ import annotations

import sys
from collections import Counter

import pytest

from imgprint.fingerprint.seed import seed_fingerprint
from tests.conftest import CORPUS, Crawl, Server, run_crawl

IMAGE = CORPUS / "exif-samples" / "jpg" / "Canon_PowerShot_S40.jpg"
CLEAN = seed_fingerprint(IMAGE.read_bytes())["sha256_first_10240_bytes"]
SIZE = IMAGE.stat().st_size

# fault -> (expected outcome, requests the server should see)
# "clean": the clean fingerprint; a string: a part of the record's error.
# CLEAN_N: as many requests as the clean image needs (the first range, plus
# follow-ups for the content hash); "+1": one retry on top.
CLEAN_N = "clean"
EXPECTED = {
    "ok": ("clean", CLEAN_N),
    "reset": ("connection", 3),
    "reset-once": ("clean", "+1"),
    "500": ("HTTP 500", 3),
    "502-once": ("clean", "+1"),
    "429-once": ("clean", "+1"),
    "503-retry-after": ("clean", "+1"),
    # Issue 11, bug 3: the 503's Content-Encoding must not stick to the retry.
    "503-gzip-once": ("clean", "+1"),
    "416": ("empty", 1),
    "norange": ("clean", 1),  # the whole 32 KB file arrives in the first answer
    "badrange": ("not from byte 0", 1),
    "short": ("connection lost", 3),
    "drip": ("timeout", 3),
    "endless": ("clean", 1),
    "loop": ("redirected", 1),
    "gzip": ("Content-Encoding gzip", 1),
    "chunked": ("clean", 1),
    "http10": ("clean", 1),
    "html-as-jpeg": ("HTML page", 1),
    "page": ("HTML page", 1),
}


@pytest.fixture(scope="module")
def fault_crawl(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults")
    root = tmp / "root"
    root.mkdir()
    (root / "a.jpg").symlink_to(IMAGE)
    log = tmp / "access.jsonl"
    server = Server([sys.executable, "-m", "tests.servers.faulty_site", str(root),
                     "--log", str(log)], log)
    page = tmp / "page.html"
    page.write_text("".join(f'<img src="{server.url(f"/{f}/a.jpg")}">' for f in EXPECTED))
    pages = Server([sys.executable, "-m", "tests.servers.static_site", str(tmp),
                    "--log", str(tmp / "pages.jsonl")])
    try:
        crawl = run_crawl(tmp, "-a", f"url={pages.url('/page.html')}", settings={
            "DOWNLOAD_TIMEOUT": 3, "RETRY_TIMES": 2, "IMGPRINT_RETRY_BACKOFF_BASE": 0.2,
            "REDIRECT_MAX_TIMES": 5})
        requests = server.requests()
    finally:
        server.stop()
        pages.stop()
    assert crawl.returncode == 0, crawl.log[-3000:]
    return {r["url"].split("/")[-2]: r for r in crawl.records}, requests


@pytest.mark.parametrize("fault", list(EXPECTED))
def test_fault(fault_crawl, fault):
    records, requests = fault_crawl
    record = records[fault]
    expected, count = EXPECTED[fault]
    if expected == "clean":
        assert record["sha256_first_10240_bytes"] == CLEAN, record
        assert "error" not in record
        assert record["image_size"] in (SIZE, None)
        assert record["bytes_fetched"] <= 64 * 1024
    elif expected == "empty":
        assert record["image_size"] == 0 and "error" not in record
        assert "sha256_first_10240_bytes" not in record
    else:
        assert expected in record.get("error", ""), record
        assert "sha256_first_10240_bytes" not in record
    sent = Counter(r["fault"] for r in requests)
    clean_n = records["ok"]["requests"]
    expected_count = {CLEAN_N: clean_n, "+1": clean_n + 1}.get(count, count)
    assert sent[fault] == expected_count
    assert record.get("requests", sent[fault]) <= sent[fault]


def test_sizes_without_a_length_are_unknown(fault_crawl):
    records, _ = fault_crawl
    assert [records[f]["image_size"] for f in ("endless", "chunked", "http10")] == [None] * 3
    assert records["norange"]["image_size"] == SIZE


def test_retry_after_is_honoured(fault_crawl):
    _, requests = fault_crawl
    times = [r["t"] for r in requests if r["fault"] == "503-retry-after"]
    assert times[1] - times[0] >= 0.9  # the 503, then its retry


def test_redirect_loop_is_bounded(fault_crawl):
    _, requests = fault_crawl
    assert sum(r["fault"] == "loop" for r in requests) <= 6


def crawl_faulty(tmp_path, files: dict[str, object], paths: list[str],
                 settings: dict) -> tuple[Crawl, list[dict]]:
    """Serve `files` (name: corpus path) from the faulty site, crawl a page
    showing each of `paths` (``/<fault>/<name>``) with `settings`, and return
    the crawl and the requests the faulty site saw."""
    root = tmp_path / "root"
    root.mkdir()
    for name, target in files.items():
        (root / name).symlink_to(target)
    log = tmp_path / "access.jsonl"
    server = Server([sys.executable, "-m", "tests.servers.faulty_site", str(root),
                     "--log", str(log)], log)
    page = tmp_path / "page.html"
    page.write_text("".join(f'<img src="{server.url(path)}">' for path in paths))
    pages = Server([sys.executable, "-m", "tests.servers.static_site", str(tmp_path),
                    "--log", str(tmp_path / "pages.jsonl")])
    try:
        crawl = run_crawl(tmp_path, "-a", f"url={pages.url('/page.html')}", settings=settings)
        return crawl, server.requests()
    finally:
        server.stop()
        pages.stop()


@pytest.mark.crawl
def test_per_domain_concurrency_is_enforced(tmp_path):
    crawl, requests = crawl_faulty(tmp_path, {f"{n}.jpg": IMAGE for n in range(12)},
                                   [f"/slow/{n}.jpg" for n in range(12)],
                                   {"CONCURRENT_REQUESTS_PER_DOMAIN": 2, "IMGPRINT_FOLLOWUPS": 0})
    assert len(crawl.records) == 12
    assert max(r["active"] for r in requests) == 2


@pytest.mark.crawl
def test_an_images_follow_ups_count_with_it_in_concurrent_requests(tmp_path):
    """With 2 requests allowed, a large image (two follow-ups, 1 s each) takes
    one of them for its whole fetch: small images (0.3 s, no follow-up) go on
    in the other while each of its follow-ups runs, and the server never sees
    more than 2 at once. Before, the image and its follow-up took both places,
    and no small image started until the follow-up was answered."""
    small = [f"{n}.jpg" for n in range(12)]  # 7,958 bytes: whole in the first answer
    files = {"big.jpg": CORPUS / "exif-samples" / "jpg" / "gps" / "DSCN0010.jpg",
             **{name: CORPUS / "exif-samples" / "jpg" / "Canon_40D.jpg" for name in small}}
    crawl, requests = crawl_faulty(tmp_path, files,
                                   ["/slower/big.jpg", *(f"/slow/{n}" for n in small)],
                                   {"CONCURRENT_REQUESTS": 2, "CONCURRENT_REQUESTS_PER_DOMAIN": 2,
                                    "IMGPRINT_PHASH_BAND": 0})
    assert len(crawl.records) == 13
    assert max(r["active"] for r in requests) == 2
    followups = [r["t"] for r in requests
                 if r["fault"] == "slower" and not r["range"].startswith("bytes=0-")]
    assert len(followups) == 2
    smalls = [r["t"] for r in requests if r["fault"] == "slow"]
    for t in followups:  # small images start well inside each follow-up's second
        assert any(t + 0.2 < s < t + 0.8 for s in smalls), (followups, smalls)


@pytest.mark.crawl
def test_a_waiting_retry_holds_no_download_slot(tmp_path):
    """Retries wait in the scheduler: with one request at a time, the images after a
    503 are not held up by its Retry-After pause (issue 11)."""
    faults = ["503-retry-after", "ok"] * 3 + ["ok"] * 3
    crawl, requests = crawl_faulty(tmp_path, {f"{n}.jpg": IMAGE for n in range(9)},
                                   [f"/{f}/{n}.jpg" for n, f in enumerate(faults)],
                                   {"CONCURRENT_REQUESTS": 1, "IMGPRINT_FOLLOWUPS": 0})
    assert crawl.returncode == 0 and len(crawl.records) == 9
    assert all("error" not in r for r in crawl.records)
    start = min(r["t"] for r in requests)
    ok = [r["t"] - start for r in requests if r["fault"] == "ok"]
    retried = sorted(r["t"] - start for r in requests if r["fault"] != "ok")
    assert len(ok) == 6 and len(retried) == 6
    assert max(ok) < 0.9, (ok, retried)  # every 503 asked for 1 s; nobody waited on it
    assert retried[3] >= 0.9  # and the retries did wait
