"""Near duplicates by the top band, beside the whole-picture hashes.

Most copies the crawler fetches in part carry no hash of the whole picture
(no EXIF thumbnail, not progressive, not small), only ``phash_band``: the
pHash of the picture's top band, rows [0, ceil(f * height)) for the crawl's
``IMGPRINT_PHASH_BAND`` = f, whichever source it was decoded from
(``imgprint.fingerprint.phash``). Two images are the same picture

* by their whole-picture hashes where both have one (``pdq`` where both are
  usable, else ``phash``, as ``scrapy dupes`` links them), or
* by their band hashes, within ``BAND_DISTANCE`` bits, whether or not the
  whole-picture hashes matched: an EXIF thumbnail is the camera's own small
  picture (cropped, letterboxed, stale), so a file whose whole-picture hash
  is its thumbnail's may miss its copy's first-scan hash while their bands,
  both of the file's own rows, agree. Measured over 112 corpus photos and 7
  copies each (bench/fingerprint_eval.py, docs/fingerprints.md): progressive
  copies found 85 % -> 96 %, no false grouping either way (the nearest bands of
  two different photos were 12 bits apart).

``band_match`` decides one pair of records; ``band_links`` finds the links a
catalogue's band hashes make (multi-index hashing, ``imgprint.dupes.mih``),
for ``scrapy dupes`` to join as links of their own kind (``"phash_band"``,
``imgprint.dupes.near.near_groups``).
Band hashes made with different ``IMGPRINT_PHASH_BAND`` never compare: keep it
fixed across the crawls compared.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

# mih, not near.near_pairs: near imports this module (its band links).
from imgprint.dupes.mih import self_pairs, words_of_ints

#: Hamming distance within which two band hashes are the same picture: over the
#: corpus photos and their copies (bench/fingerprint_eval.py, docs/fingerprints.md)
#: 8 links no two different photos; 12 does.
BAND_DISTANCE = 8
#: The whole-picture thresholds ``scrapy dupes`` uses (``imgprint.dupes.near``).
PHASH_DISTANCE = 8
PDQ_DISTANCE = 31
PDQ_MIN_QUALITY = 50

_HEX16 = re.compile(r"[0-9a-fA-F]{16}\Z")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}\Z")


def hash_value(value: Any, digits: int = 16) -> int | None:
    """A hash field of a record as an int; None when absent or malformed."""
    pattern = _HEX16 if digits == 16 else _HEX64
    return int(value, 16) if isinstance(value, str) and pattern.match(value) else None


def _pdq(record: Mapping[str, Any]) -> int | None:
    quality = record.get("pdq_quality")
    if isinstance(quality, int) and quality < PDQ_MIN_QUALITY:
        return None
    return hash_value(record.get("pdq"), 64)


def band_match(a: Mapping[str, Any], b: Mapping[str, Any], distance: int = BAND_DISTANCE,
               phash_distance: int = PHASH_DISTANCE, pdq_distance: int = PDQ_DISTANCE
               ) -> tuple[str, int] | None:
    """How records `a` and `b` match: ``("pdq" | "phash" | "phash_band", distance)``,
    or None. Their whole-picture hashes first (PDQ where both are usable, else
    phash), then their band hashes."""
    for name, value, limit in (("pdq", _pdq, pdq_distance),
                               ("phash", lambda r: hash_value(r.get("phash")), phash_distance)):
        va, vb = value(a), value(b)
        if va is not None and vb is not None:
            d = (va ^ vb).bit_count()
            if d <= limit:
                return name, d
            break  # PDQ decides the whole picture where both have it
    ba, bb = hash_value(a.get("phash_band")), hash_value(b.get("phash_band"))
    if ba is None or bb is None:
        return None
    d = (ba ^ bb).bit_count()
    return ("phash_band", d) if d <= distance else None


def band_links(bands: Sequence[int | None],
               distance: int = BAND_DISTANCE) -> Iterator[tuple[int, int, int]]:
    """``(i, j, d)``, ``i < j``: rows linked by their band hashes (``bands[i]``,
    None for none) within `distance` bits.

    Enough links for single linkage, not every pair: rows of one band value
    are linked to its first row, and two values within the distance by their
    first rows (as ``imgprint.dupes.near`` links equal phash values), so k
    copies of one picture cost k links, not k**2."""
    if distance < 0:
        return
    rows: dict[int, list[int]] = {}  # distinct band value -> its rows
    for i, value in enumerate(bands):
        if value is not None:
            rows.setdefault(value, []).append(i)
    for same in rows.values():
        yield from ((same[0], j, 0) for j in same[1:])
    values = list(rows)
    if len(values) < 2:
        return
    pairs, dists = self_pairs(words_of_ints(values), distance, 64)
    for a, b, d in zip(pairs[0].tolist(), pairs[1].tolist(), dists.tolist(), strict=True):
        i, j = rows[values[a]][0], rows[values[b]][0]
        yield min(i, j), max(i, j), d
