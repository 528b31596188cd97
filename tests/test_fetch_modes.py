"""Requests per image and bytes per image in each fetch mode, counted at the server."""

from __future__ import annotations

from collections import Counter
from urllib.parse import unquote

import pytest

from tests.conftest import CORPUS, http_server_ignoring_range, load_reference, run_crawl
from tests.test_seed_compat import mismatches

MIN_SIZE = 20480


def sizes_by_path(images: list[str]) -> dict[str, int]:
    from tests.conftest import image_path_url
    return {unquote(image_path_url(rel)): (CORPUS / rel).stat().st_size for rel in images}


def test_head_first_mode(corpus_site, tmp_path):
    corpus_site.server.clear_log()
    crawl = run_crawl(tmp_path, "-a", f"urls={corpus_site.seed_file(tmp_path / 'u.txt')}",
                      settings={"IMGPRINT_FETCH_MODE": "head"})
    assert crawl.returncode == 0, crawl.log[-3000:]
    requests = [r for r in corpus_site.server.requests() if r["path"].startswith("/img/")]
    sizes = sizes_by_path(corpus_site.images)
    heads = Counter(unquote(r["path"]) for r in requests if r["method"] == "HEAD")
    gets = Counter(unquote(r["path"]) for r in requests if r["method"] == "GET")
    big = {p for p, size in sizes.items() if size >= MIN_SIZE}
    print(f"\nhead mode: {sum(heads.values())} HEAD + {sum(gets.values())} GET for "
          f"{len(sizes)} images ({len(big)} at or above {MIN_SIZE} bytes)")
    records = crawl.by_path()
    assert heads == Counter({p: 1 for p in sizes})
    assert set(gets) == big
    # Follow-ups for metadata past the first range come on top of the first GET.
    assert all(gets[p] == records[p]["requests"] - 1 for p in big)
    failed = [r["path"] for r in load_reference()
              if mismatches(r, records.get(unquote(r["path"])))]
    assert not failed
    small = [r for r in records.values() if r["image_size"] < MIN_SIZE]
    assert small and all(r["requests"] == 1 and r["bytes_fetched"] == 0 for r in small)


@pytest.mark.parametrize("followups", [0, 2])
def test_server_ignoring_range(corpus_site, tmp_path, followups):
    server = http_server_ignoring_range(corpus_site.root, tmp_path / "access.jsonl")
    try:
        seeds = tmp_path / "u.txt"
        seeds.write_text("".join(server.url(p) + "\n" for p in corpus_site.pages))
        crawl = run_crawl(tmp_path, "-a", f"urls={seeds}",
                          settings={"IMGPRINT_FOLLOWUPS": followups})
        requests = [r for r in server.requests() if r["path"].startswith("/img/")]
    finally:
        server.stop()
    assert crawl.returncode == 0, crawl.log[-3000:]
    records = crawl.by_path()
    failed = [r["path"] for r in load_reference()
              if mismatches(r, records.get(unquote(r["path"])))]
    fetched = [r["bytes_fetched"] for r in records.values()]
    print(f"\nRange ignored, {followups} follow-ups: {len(records)} records, "
          f"{sum(fetched)} bytes fetched, max {max(fetched)} per image, {len(requests)} requests")
    assert not failed
    assert len(records) == len(corpus_site.images)
    # The download stops at the first socket read that completes the prefix:
    # the reads before it hold less than the prefix, and Twisted reads at most
    # 64 KiB at a time (CI once saw a 7,240-byte read and then a 65,536-byte one).
    # Follow-ups read from byte 0 again, within the follow-up byte budget (each
    # may overshoot by one socket read).
    one_read = 64 * 1024
    first = [r["bytes_fetched"] for r in records.values() if r["requests"] == 1]
    assert max(first) < 10241 + one_read
    assert max(fetched) < 10241 + one_read + (262144 + followups * one_read if followups else 0)
    assert all(r["http_status"] == 200 for r in records.values())
    per_path = Counter(unquote(r["path"]) for r in requests)
    assert all(n == records[p]["requests"] for p, n in per_path.items()), (
        "a request was sent again after the aborted download")
