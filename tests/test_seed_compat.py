"""Crawl the corpus site and compare with the seed tool's own output."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from tests.conftest import image_path_url, load_reference, run_crawl

PUBLISHED_EXAMPLE = "exif-samples/jpg/Canon_PowerShot_S40.jpg"
PUBLISHED_SHA256 = "c629c7247153f59599727db141ee1f3c5e4a5a3cc90fa88e2e97d3d78c2fc823"


@pytest.fixture(scope="module")
def corpus_crawl(corpus_site, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("crawl")
    corpus_site.server.clear_log()
    crawl = run_crawl(tmp, "-a", f"urls={corpus_site.seed_file(tmp / 'urls.txt')}")
    assert crawl.returncode == 0, crawl.log[-3000:]
    return crawl, corpus_site.server.requests()


def mismatches(reference: dict, record: dict | None) -> list[str]:
    if record is None:
        return ["no record"]
    problems = []
    if record.get("image_size") != reference["image_size"]:
        problems.append(f"image_size {record.get('image_size')} != {reference['image_size']}")
    if "sha256_first_10240_bytes" not in reference:
        if "sha256_first_10240_bytes" in record:
            problems.append("fingerprinted, but the seed tool recorded a small image")
        return problems
    for key in ("sha256_first_10240_bytes", "random_128_bytes_sample_start"):
        if record.get(key) != reference[key]:
            problems.append(key)
    exif = record.get("exif") or {}
    problems += [f"exif {k!r}" for k, v in reference["exif"].items() if exif.get(k) != v]
    return problems


def test_every_reference_row_matches(corpus_crawl):
    crawl, _ = corpus_crawl
    records = crawl.by_path()
    reference = load_reference()
    failed = {r["path"]: mismatches(r, records.get(unquote(r["path"]))) for r in reference}
    failed = {path: why for path, why in failed.items() if why}
    print(f"\nseed-compat: {len(reference) - len(failed)} of {len(reference)} reference rows match")
    assert not failed


def test_every_image_on_the_site_has_one_record(corpus_crawl, corpus_site):
    crawl, _ = corpus_crawl
    found = [r for r in crawl.records if not r.get("seen_before")]
    expected = {unquote(image_path_url(rel)) for rel in corpus_site.images}
    print(f"\nimages found: {len(found)} of {len(expected)} on the site")
    assert len(found) == len({r["url"] for r in found}), "an image was recorded twice"
    assert set(crawl.by_path()) == expected
    assert not [r for r in found if r.get("error", "").startswith(("HTTP", "timeout"))]


def test_published_example(corpus_crawl):
    crawl, _ = corpus_crawl
    record = crawl.by_path()[unquote(image_path_url(PUBLISHED_EXAMPLE))]
    assert record["sha256_first_10240_bytes"] == PUBLISHED_SHA256
    assert record["image_size"] == 32764
    assert record["exif"]["Image Model"] == "Canon PowerShot S40"


def test_one_ranged_get_per_image(corpus_crawl, corpus_site):
    crawl, requests = corpus_crawl
    image_requests = [r for r in requests if r["path"].startswith("/img/")]
    gets = [r for r in image_requests if r["method"] == "GET"]
    per_path: dict[str, int] = {}
    for r in gets:
        per_path[r["path"]] = per_path.get(r["path"], 0) + 1
    print(f"\nrange mode: {len(image_requests)} requests for {len(corpus_site.images)} images, "
          f"{sum(r['sent'] for r in gets)} body bytes sent")
    assert not [r for r in image_requests if r["method"] != "GET"], "no HEAD in range mode"
    assert len(per_path) == len(corpus_site.images)
    assert set(per_path.values()) == {1}, "an image was requested more than once"
    assert {r["range"] for r in gets} == {"bytes=0-10240"}
    total = sum(r["bytes_fetched"] for r in crawl.records if "bytes_fetched" in r)
    assert total <= 10241 * len(corpus_site.images)


def test_records_hold_no_image_bytes_beyond_the_sample(corpus_crawl):
    crawl, _ = corpus_crawl
    for record in crawl.records:
        assert not any(key.startswith("_") for key in record), record["url"]
        assert len(record.get("random_128_bytes_sample_start", "")) in (0, 256)
    assert all(r["timestamp"].endswith("Z") for r in crawl.records)
