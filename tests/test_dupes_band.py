"""Band matching for `scrapy dupes` (imgprint.dupes.band): the whole-picture
hashes first (PDQ where both are usable, else phash), then the top band's
pHash; the bulk links join exactly the groups every pair compared does."""

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
