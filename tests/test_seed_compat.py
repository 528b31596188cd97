"""Crawl the corpus site and compare with the seed tool's own output."""

from __future__ import annotations

from collections import Counter
from urllib.parse import unquote

from imgprint import settings
from imgprint.metadata.exif import exif_tags
from tests.conftest import CORPUS, image_path_url, load_reference, run_crawl

PUBLISHED_EXAMPLE = "exif-samples/jpg/Canon_PowerShot_S40.jpg"
PUBLISHED_SHA256 = "c629c7247153f59599727db141ee1f3c5e4a5a3cc90fa88e2e97d3d78c2fc823"


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
    differing = [k for k, v in reference["exif"].items() if exif.get(k) != v]
    if differing:
        truncated, full = seed_and_full_exif(reference["path"])
        for key in differing:
            # The seed read only 10,241 bytes: a value lying past them came out of
            # exifread as zeros. imgprint reads the real value; accept the
            # difference only where both sides are reproduced exactly.
            reproduced = truncated.get(key) == reference["exif"][key]
            if not (reproduced and full.get(key) == exif.get(key)):
                problems.append(f"exif {key!r}")
            else:
                TRUNCATION_ARTIFACTS.append((reference["path"], key))
    return problems


TRUNCATION_ARTIFACTS: list[tuple[str, str]] = []


def seed_and_full_exif(path: str) -> tuple[dict[str, str], dict[str, str]]:
    """exifread over the seed's 10,241-byte prefix, and over the whole file."""
    data = (CORPUS / unquote(path).removeprefix("/img/")).read_bytes()
    return exif_tags(data[:10241]), exif_tags(data)


def test_every_reference_row_matches(corpus_crawl):
    crawl, _ = corpus_crawl
    records = crawl.by_path()
    reference = load_reference()
    failed = {r["path"]: mismatches(r, records.get(unquote(r["path"]))) for r in reference}
    failed = {path: why for path, why in failed.items() if why}
    print(f"\nseed-compat: {len(reference) - len(failed)} of {len(reference)} reference rows match;"
          f" {len(TRUNCATION_ARTIFACTS)} EXIF values differ where the seed read zeros past its"
          " prefix and imgprint reads the file's value (both checked with exifread)")
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


def count_by_path(requests: list[dict]) -> Counter:
    return Counter(unquote(r["path"]) for r in requests if r["path"].startswith("/img/"))


def test_one_ranged_get_per_image_without_followups(corpus_site, tmp_path):
    corpus_site.server.clear_log()
    crawl = run_crawl(tmp_path, "-a", f"urls={corpus_site.seed_file(tmp_path / 'u.txt')}",
                      settings={"IMGPRINT_FOLLOWUPS": 0})
    requests = [r for r in corpus_site.server.requests() if r["path"].startswith("/img/")]
    per_path = count_by_path(requests)
    print(f"\nrange mode, no follow-ups: {len(requests)} requests for "
          f"{len(corpus_site.images)} images, {sum(r['sent'] for r in requests)} bytes sent")
    assert crawl.returncode == 0
    assert {r["method"] for r in requests} == {"GET"}, "no HEAD in range mode"
    assert len(per_path) == len(corpus_site.images)
    assert set(per_path.values()) == {1}, "an image was requested more than once"
    assert {r["range"] for r in requests} == {"bytes=0-10240"}


def test_followups_only_where_records_say(corpus_crawl, corpus_site):
    crawl, requests = corpus_crawl
    per_path = count_by_path(requests)
    records = crawl.by_path()
    extra = sum(n - 1 for n in per_path.values())
    sent = sum(r["sent"] for r in requests if r["path"].startswith("/img/"))
    print(f"\nrange mode with follow-ups: {sum(per_path.values())} requests for "
          f"{len(per_path)} images ({extra} follow-ups), {sent} bytes sent")
    assert {path: records[path]["requests"] for path in per_path} == dict(per_path)
    # The first range, the metadata's follow-ups, and the hash inputs' own.
    assert max(per_path.values()) <= (1 + settings.IMGPRINT_FOLLOWUPS
                                      + settings.IMGPRINT_HASH_FOLLOWUPS)
    first = {}
    for r in requests:
        if r["path"].startswith("/img/"):
            first.setdefault(unquote(r["path"]), r["range"])
    assert set(first.values()) == {"bytes=0-10240"}
    # Past the first ranges and metadata (1.49x the prefixes, bench/metadata_compare.py),
    # the perceptual hash's top band of every photo is most of the bytes: 23.9 %
    # of the whole files on this site (docs/fingerprints.md).
    whole = sum(records[path]["image_size"] for path in per_path)
    assert sent <= 0.3 * whole


def test_records_hold_no_image_bytes_beyond_the_sample(corpus_crawl):
    crawl, _ = corpus_crawl
    for record in crawl.records:
        assert not any(key.startswith("_") for key in record), record["url"]
        assert len(record.get("random_128_bytes_sample_start", "")) in (0, 256)
    assert all(r["timestamp"].endswith("Z") for r in crawl.records)
