"""Near duplicates: perceptual hashes within a Hamming distance, with numpy.

The search is multi-index hashing: the 64-bit perceptual hash is split into
``m`` blocks; two hashes within Hamming distance ``d`` have, by the pigeonhole
principle, at least one block within distance ``d // m`` of each other, so
only items whose block lies in that small ball are compared
(:func:`near_pairs`). :func:`near_groups` clusters the pairs found (single
linkage) into the groups the report lists.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING

from imgprint.dupes.catalogue import Catalog
from imgprint.dupes.exact import UnionFind

if TYPE_CHECKING:
    # numpy (~0.1 s to import) is imported where it is used, as it always was:
    # ``scrapy`` imports every command module at start-up, and a run without
    # the near-duplicate search never needs it.
    import numpy as np
    import numpy.typing as npt

    Ints = npt.NDArray[np.int64]
    UInts = npt.NDArray[np.uint64]

# Default Hamming threshold for 64-bit perceptual hashes; the usual pHash
# guidance is "<= 10 similar", kept a little stricter until an evaluation on
# real crawls says otherwise.
DEFAULT_DISTANCE = 8
PHASH_BITS = 64
# Candidate pairs expanded at once by the search: bounds its memory.
_BATCH = 1 << 22


def ball_masks(bits: int, radius: int) -> list[int]:
    """Every XOR mask of at most ``radius`` set bits within ``bits`` bits, 0 first."""
    masks = [0]
    for r in range(1, radius + 1):
        for pos in combinations(range(bits), r):
            m = 0
            for p in pos:
                m |= 1 << p
            masks.append(m)
    return masks


def block_spans(m: int, bits: int = PHASH_BITS) -> list[tuple[int, int]]:
    """``m`` contiguous blocks as (shift, width), widths differing by at most one."""
    out = []
    shift = 0
    for k in range(m):
        width = bits // m + (1 if k < bits % m else 0)
        out.append((shift, width))
        shift += width
    return out


def numpy_probe_cost(n: int, width: int) -> float:
    """Probing one mask costs n/2: numpy gathers over all values."""
    return n / 2


def plan(n: int, distance: int,
         probe_cost: Callable[[int, int], float] = numpy_probe_cost) -> tuple[int, int]:
    """Number of blocks ``m`` and per-block radius ``distance // m`` for ``n`` hashes.

    Picks the cheapest m of 3..16 (narrower blocks keep the bucket offsets a
    dense array) under a simple cost model for uniform hashes, per block of
    width w with a radius ball of V masks: the n²V/2^(w+1) candidate pairs
    the probes hit, plus the probing itself, ``probe_cost(n, w)`` per mask
    (n/2 for numpy, which gathers over all values). Measured on this machine,
    both terms cost about the same.
    """
    best: tuple[float, int] = (math.inf, 3)
    for m in range(3, 17):
        r = distance // m
        cost = 0.0
        for _, width in block_spans(m):
            if r >= width:
                cost = math.inf
                break
            v = sum(math.comb(width, k) for k in range(r + 1))
            cost += v * (probe_cost(n, width) + n * n / 2 ** (width + 1))
        best = min(best, (cost, m))
    m = best[1]
    return m, distance // m


def near_pairs(values: Sequence[int], distance: int,
               blocks: int | None = None) -> Iterator[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, with ``popcount(values[i] ^ values[j]) <= distance``.

    Each pair once, in increasing order of ``i * len(values) + j``. ``blocks``
    overrides :func:`plan` (tests, benchmarks).
    """
    import numpy as np

    n = len(values)
    if distance < 0 or n < 2:
        return
    m, r = plan(n, distance) if blocks is None else (blocks, distance // blocks)
    vals = np.fromiter(values, dtype=np.uint64, count=n)
    found: list[Ints] = []
    for shift, width in block_spans(m):
        found.extend(_block_pairs(vals, shift, width, r, distance))
    if not found:
        return
    pairs = np.concatenate(found, axis=1)
    # A pair close in several blocks is found once per block.
    codes = np.unique(pairs[0] * n + pairs[1])
    for code in codes.tolist():
        yield divmod(code, n)


def _block_pairs(vals: UInts, shift: int, width: int, radius: int,
                 distance: int) -> Iterator[Ints]:
    """Close pairs sharing one block within ``radius``, as (2, k) arrays of rows.

    Values are sorted by their block key and a dense table gives each key's
    range in that order. For each mask ``e`` of the radius ball, every value
    whose key lacks ``e``'s top bit looks up the bucket ``key ^ e`` (so each
    pair of buckets is joined once; ``e = 0`` pairs a value with the later
    values of its own bucket).
    """
    import numpy as np

    n = len(vals)
    keys = ((vals >> np.uint64(shift)) & np.uint64((1 << width) - 1)).astype(np.int64)
    order = np.argsort(keys, kind="stable")
    off = np.zeros((1 << width) + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=1 << width), out=off[1:])
    everyone = np.arange(n, dtype=np.int64)
    for e in ball_masks(width, radius):
        if e == 0:
            pos = np.empty(n, dtype=np.int64)
            pos[order] = everyone
            src, lo, hi = everyone, pos + 1, off[keys + 1]
        else:
            src = np.flatnonzero((keys & (1 << (e.bit_length() - 1))) == 0)
            q = keys[src] ^ e
            lo, hi = off[q], off[q + 1]
        cnt = hi - lo
        hit = cnt > 0
        src, lo, cnt = src[hit], lo[hit], cnt[hit]
        if len(src):
            yield from _check(vals, order, src, lo, cnt, distance)


def _check(vals: UInts, order: Ints, src: Ints, lo: Ints, cnt: Ints,
           distance: int) -> Iterator[Ints]:
    """Compare each ``src[k]`` with the ``cnt[k]`` rows from ``order[lo[k]]`` on.

    Candidates are expanded in batches of about ``_BATCH`` (a crowded bucket,
    many images of one colour sharing a block, cannot blow the memory up) and
    checked with a vectorised popcount.
    """
    import numpy as np

    ends = np.cumsum(cnt)
    cuts = np.searchsorted(ends, np.arange(_BATCH, int(ends[-1]), _BATCH))
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(src)], strict=True):
        if a == b:
            continue
        c = cnt[a:b]
        total = int(c.sum())
        first = np.repeat(lo[a:b] - (np.cumsum(c) - c), c)
        dst = order[first + np.arange(total)]
        s = np.repeat(src[a:b], c)
        ok = np.bitwise_count(vals[s] ^ vals[dst]) <= distance
        yield np.stack((np.minimum(s[ok], dst[ok]), np.maximum(s[ok], dst[ok])))


@dataclass
class NearGroup:
    """Rows whose perceptual hashes chain within the threshold (single linkage)."""

    rows: list[int]
    center: int  # the phash most rows carry: distances are measured from it
    distances: list[int] = field(default_factory=list)


def near_groups(cat: Catalog, distance: int, same: UnionFind | None = None) -> list[NearGroup]:
    """Clusters of rows with near phashes, spanning >= 2 different images.

    ``same`` (from :func:`~imgprint.dupes.exact.identities`) tells which rows
    are already known to be one image; a cluster made only of those adds
    nothing and is left out.
    """
    by_value: dict[int, list[int]] = {}
    for i in range(len(cat)):
        if cat.has_phash[i]:
            by_value.setdefault(cat.phash[i], []).append(i)
    values = list(by_value)
    uf = UnionFind(len(values))
    for a, b in near_pairs(values, distance):
        uf.union(a, b)
    clusters: dict[int, list[int]] = defaultdict(list)
    for k in range(len(values)):
        clusters[uf.find(k)].append(k)
    out: list[NearGroup] = []
    for members in clusters.values():
        rows = [i for k in members for i in by_value[values[k]]]
        if len(rows) < 2:
            continue
        if same is not None and len({same.find(i) for i in rows}) < 2:
            continue
        center = max(members, key=lambda k: (len(by_value[values[k]]), -values[k]))
        cv = values[center]
        rows.sort(key=lambda i: ((cat.phash[i] ^ cv).bit_count(), cat.urls[i]))
        out.append(NearGroup(rows, by_value[cv][0],
                             [(cat.phash[i] ^ cv).bit_count() for i in rows]))
    out.sort(key=lambda g: (-len(g.rows), cat.urls[g.rows[0]]))
    return out
