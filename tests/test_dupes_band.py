"""Band matching for `scrapy dupes` (imgprint.dupes.band): the whole-picture
hashes first (PDQ where both are usable, else phash), then the top band's
pHash; the bulk links join exactly the groups every pair compared does; the
command groups records by their bands (by "phash_band"), or not with
--band-distance -1."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from imgprint.dupes import build_report, load, near_entry, near_groups
from imgprint.dupes.band import BAND_DISTANCE, band_links, band_match
from imgprint.dupes.exact import UnionFind

PROJECT = Path(__file__).resolve().parents[1]

PDQ_A = "f" * 64
PDQ_B = "f" * 56 + "0" * 8  # 32 bits from PDQ_A


def flip(value: int, bits: int) -> int:
    """`value` with its lowest `bits` bits flipped."""
    return value ^ ((1 << bits) - 1)


def hx(value: int) -> str:
    return f"{value:016x}"


def test_the_band_links_records_without_a_whole_picture_hash():
    band = 0x0123456789ABCDEF
    original = {"phash": "ffff0000ffff0000", "phash_band": hx(band)}
    copy = {"phash_band": hx(flip(band, BAND_DISTANCE))}
    assert band_match(original, copy) == ("phash_band", BAND_DISTANCE)
    assert band_match(copy, original) == ("phash_band", BAND_DISTANCE)
    assert band_match(original, {"phash_band": hx(flip(band, BAND_DISTANCE + 1))}) is None
    assert band_match(original, {"url": "x"}) is None
    assert band_match(original, {"phash_band": "not hex at all!"}) is None


def test_whole_picture_hashes_first_then_the_bands():
    band = 0x0123456789ABCDEF
    a = {"phash": "ffff0000ffff0000", "phash_band": hx(band)}
    # Bands far apart, whole pictures equal: the same picture, by phash.
    other_band = hx(~band & (2**64 - 1))
    assert band_match(a, {"phash": "ffff0000ffff0001", "phash_band": other_band}) == ("phash", 1)
    # Whole pictures 16 bits apart (an EXIF thumbnail against a first scan),
    # bands equal: the same picture, by the band.
    far = {"phash": "ffff0000ffffffff", "phash_band": hx(band)}
    assert band_match(a, far) == ("phash_band", 0)
    assert band_match(a, {**far, "phash_band": other_band}) is None
    # PDQ where both have a usable one (32 bits is over its 31): the phash is
    # not consulted, the band still is.
    pdq_a, pdq_b = {**a, "pdq": PDQ_A, "pdq_quality": 90}, {"pdq": PDQ_B, "pdq_quality": 90}
    assert band_match(pdq_a, {**pdq_b, "phash": a["phash"]}) is None
    assert band_match(pdq_a, {**pdq_b, "phash_band": hx(band)}) == ("phash_band", 0)
    assert band_match(pdq_a, {**pdq_b, "pdq": PDQ_A}) == ("pdq", 0)
    # A quality under 50 is not used: the phash decides.
    assert band_match(pdq_a, {**pdq_b, "pdq_quality": 40, "phash": a["phash"]}) == ("phash", 0)


def brute_groups(bands: list[int | None], distance: int) -> list[int]:
    """Group of each row, every pair of bands compared."""
    uf = UnionFind(len(bands))
    for i in range(len(bands)):
        for j in range(i + 1, len(bands)):
            a, b = bands[i], bands[j]
            if a is not None and b is not None and (a ^ b).bit_count() <= distance:
                uf.union(i, j)
    return [uf.find(i) for i in range(len(bands))]


@pytest.mark.parametrize("seed", range(5))
def test_band_links_join_what_every_pair_compared_joins(seed):
    rng = random.Random(seed)
    bands: list[int | None] = []
    for _ in range(60):  # clusters of copies
        centre = rng.getrandbits(64)
        for _ in range(rng.randint(1, 6)):
            value = centre
            for bit in rng.sample(range(64), rng.randint(0, 6)):
                value ^= 1 << bit
            bands.append(None if rng.random() < 0.1 else value)
    bands += [bands[3], bands[3]]  # equal band values
    uf = UnionFind(len(bands))
    links = list(band_links(bands, BAND_DISTANCE))
    for i, j, d in links:
        assert i < j and bands[i] is not None and bands[j] is not None
        assert d == (bands[i] ^ bands[j]).bit_count() <= BAND_DISTANCE
        uf.union(i, j)
    expected = brute_groups(bands, BAND_DISTANCE)
    assert len(set(expected)) < len(bands) - 20  # clusters did form
    for i in range(len(bands)):
        for j in range(i + 1, len(bands)):
            assert (uf.find(i) == uf.find(j)) == (expected[i] == expected[j]), (i, j)
    assert len(links) < len(bands) * 2  # spanning, not every pair


# --- In `scrapy dupes` ---------------------------------------------------------------

BAND = 0x0123456789ABCDEF


def band_feed(path: Path) -> Path:
    """Two photos whose whole-picture hashes are 64 bits apart and whose bands are
    3 bits apart, a copy carrying only its band, a distinct photo, a bad band."""
    records = [
        {"url": "https://a.org/1.jpg", "phash": "ffff0000ffff0000", "phash_band": hx(BAND)},
        {"url": "https://b.org/1-copy.jpg", "phash": "0000ffff0000ffff",
         "phash_band": hx(flip(BAND, 3))},
        {"url": "https://c.org/1-webp.webp", "phash_band": hx(flip(BAND, 5))},
        {"url": "https://d.org/other.jpg", "phash_band": hx(~BAND & (2**64 - 1))},
        {"url": "https://e.org/bad.jpg", "phash_band": "0123456789abcdeg"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def run_dupes(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scrapy", "dupes", *map(str, args)],
                          cwd=PROJECT, capture_output=True, text=True, timeout=60)


def test_records_sharing_only_a_near_band_group_by_it(tmp_path):
    feed = band_feed(tmp_path / "f.jsonl")
    errors: list = []
    cat = load([feed], errors.append)
    assert [str(e) for e in errors] == [f"{feed}:5: phash_band: not 16 hex digits"]
    assert cat.band_values() == [BAND, flip(BAND, 3), flip(BAND, 5), ~BAND & (2**64 - 1), None]
    assert cat.band_hex(2) == hx(flip(BAND, 5)) and cat.band_hex(4) is None
    report = build_report(cat)
    assert report["summary"]["band_distance"] == BAND_DISTANCE
    assert report["summary"]["with_phash_band"] == 4
    [group] = list(report["near"])
    assert group["by"] == ["phash_band"] and group["center_hash"] == "phash"
    images = {i["url"]: i for i in group["images"]}
    assert set(images) == {"https://a.org/1.jpg", "https://b.org/1-copy.jpg",
                           "https://c.org/1-webp.webp"}
    centre = images[group["center_url"]]
    assert centre["by"] is None and centre["phash"] == group["center"]
    for img in images.values():
        assert img["phash_band"] == hx(cat.band_values()[cat.urls.index(img["url"])])
        if img is not centre:
            # Measured from the centre on the band: a link's hash, not its phash's 64 bits.
            assert img["by"] == "phash_band"
            assert img["distance"] == (int(img["phash_band"], 16)
                                       ^ int(centre["phash_band"], 16)).bit_count()
    assert group["max_distance"] <= BAND_DISTANCE
    # Off: the whole pictures are 64 bits apart, nothing else links them.
    off = build_report(cat, band_distance=-1)
    assert list(off["near"]) == [] and off["summary"]["band_distance"] is None
    # Tighter than the copy's 5 bits from the original (and 2 from the other copy).
    assert [g["count"] for g in build_report(cat, band_distance=1)["near"]] == []
    assert [g["count"] for g in build_report(cat, band_distance=2)["near"]] == [2]


def test_a_group_of_bands_alone_is_centred_on_a_band(tmp_path):
    feed = tmp_path / "f.jsonl"
    feed.write_text("".join(json.dumps(r) + "\n" for r in [
        {"url": "https://a.org/1.jpg", "phash_band": hx(BAND)},
        {"url": "https://b.org/2.jpg", "phash_band": hx(BAND)},
        {"url": "https://c.org/3.jpg", "phash_band": hx(flip(BAND, 8))}]))
    cat = load([feed], pytest.fail)
    [g] = near_groups(cat)
    assert g.center_hash == "phash_band" and g.by.count("phash_band") == 2
    entry = near_entry(cat, g)
    assert entry["center"] == hx(BAND) and entry["center_url"] == "https://a.org/1.jpg"
    assert sorted(i["distance"] for i in entry["images"]) == [0, 0, 8]


@pytest.mark.crawl
def test_the_command_names_band_links_and_turns_them_off(tmp_path):
    feed = band_feed(tmp_path / "f.jsonl")
    text = run_dupes(feed)
    assert text.returncode == 1  # the bad band is an input error
    assert "phash_band: not 16 hex digits" in text.stderr
    out = text.stdout
    assert "or top band pHash (phash_band) Hamming distance <= 8): 1 groups" in out
    assert "[1] 3 URLs (by phash_band), phash around ffff0000ffff0000" in out
    assert f"phash_band {hx(flip(BAND, 3))}  https://b.org/1-copy.jpg" in out
    off = run_dupes("--json", "--band-distance", "-1", feed)
    assert json.loads(off.stdout)["near"] == []
    assert "no band links): 0 groups" in run_dupes("--band-distance", "-1", feed).stdout
    bad = run_dupes("--band-distance", "33", feed)
    assert bad.returncode == 2 and "--band-distance must be between 0 and 32" in bad.stderr
