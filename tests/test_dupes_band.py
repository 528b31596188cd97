"""Band matching for `scrapy dupes` (imgprint.dupes.band): the whole-picture
hash decides where both records have one, the top band's pHash otherwise; the
bulk links join exactly the groups the pairwise rule does."""

from __future__ import annotations

import random

import pytest

from imgprint.dupes.band import BAND_DISTANCE, band_links, band_match
from imgprint.dupes.exact import UnionFind

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


def test_a_whole_picture_hash_on_both_sides_decides():
    band = 0x0123456789ABCDEF
    a = {"phash": "ffff0000ffff0000", "phash_band": hx(band)}
    # Same band, whole pictures 16 bits apart: not the same picture.
    far = {"phash": "ffff0000ffffffff", "phash_band": hx(band)}
    assert band_match(a, far) is None
    # Bands far apart, whole pictures equal: the same picture.
    near = {"phash": "ffff0000ffff0000", "phash_band": hx(~band & (2**64 - 1))}
    assert band_match(a, near) == ("phash", 0)
    # PDQ where both have a usable one: 32 bits is over its 31.
    assert band_match({**a, "pdq": PDQ_A, "pdq_quality": 90},
                      {**near, "pdq": PDQ_B, "pdq_quality": 90}) is None
    # ... and a quality under 50 is not used: the phash decides.
    assert band_match({**a, "pdq": PDQ_A, "pdq_quality": 90},
                      {**near, "pdq": PDQ_B, "pdq_quality": 40}) == ("phash", 0)


def brute_groups(records: list[dict], distance: int) -> list[int]:
    """Group of each record under the pairwise rule, every pair compared."""
    uf = UnionFind(len(records))
    for i in range(len(records)):
        for j in range(i + 1, len(records)):
            found = band_match(records[i], records[j], distance, phash_distance=-1)
            if found and found[0] == "phash_band":
                uf.union(i, j)
    return [uf.find(i) for i in range(len(records))]


@pytest.mark.parametrize("seed", range(5))
def test_band_links_join_what_the_pairwise_rule_joins(seed):
    rng = random.Random(seed)
    records = []
    for _ in range(40):  # clusters of copies, some with a whole-picture hash
        centre = rng.getrandbits(64)
        for _ in range(rng.randint(1, 6)):
            value = centre
            for bit in rng.sample(range(64), rng.randint(0, 6)):
                value ^= 1 << bit
            record = {"phash_band": hx(value)}
            if rng.random() < 0.4:
                record["phash"] = hx(rng.getrandbits(64))
            if rng.random() < 0.1:
                del record["phash_band"]
            records.append(record)
    records += [dict(records[3]), dict(records[3])]  # equal band values
    bands = [int(r["phash_band"], 16) if "phash_band" in r else None for r in records]
    whole = ["phash" in r for r in records]
    uf = UnionFind(len(records))
    links = list(band_links(bands, whole, BAND_DISTANCE))
    for i, j, d in links:
        assert i < j and not (whole[i] and whole[j])
        assert d == (bands[i] ^ bands[j]).bit_count() <= BAND_DISTANCE
        uf.union(i, j)
    expected = brute_groups(records, BAND_DISTANCE)
    pairs = [(i, j) for i in range(len(records)) for j in range(i + 1, len(records))]
    for i, j in pairs:
        assert (uf.find(i) == uf.find(j)) == (expected[i] == expected[j]), (i, j)
    assert len(links) < len(records) * 2  # spanning, not every pair
