"""Multi-index hashing: pairs of bit strings within a Hamming distance, with numpy.

Hashes are rows of 64-bit words, most significant word first: one word for a
phash, four for a PDQ hash. The ``bits`` are split into ``m`` blocks; two
hashes within distance ``d`` have, by the pigeonhole principle, at least one
block within ``d // m`` bits of each other, so only hashes whose block lies in
that small ball around the other's are compared. :func:`self_pairs` joins one
set with itself (near-duplicates in a crawl), :func:`cross_pairs` one set with
another (a crawl against a list of known images). For PDQ at its threshold of
31 the plan is PDQ's own: 16 blocks of 16 bits, radius 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from itertools import combinations
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # numpy (~0.1 s to import) is imported where it is used: ``scrapy`` imports
    # every command module at start-up, and most commands never need it.
    import numpy as np
    import numpy.typing as npt

    Ints = npt.NDArray[np.int64]
    Words = npt.NDArray[np.uint64]

# Candidate pairs expanded at once: bounds the search's memory.
_BATCH = 1 << 22
# Widest block: its bucket table holds 2**width + 1 offsets.
MAX_BLOCK_WIDTH = 22


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


def block_spans(m: int, bits: int = 64) -> list[tuple[int, int]]:
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
         probe_cost: Callable[[int, int], float] = numpy_probe_cost,
         bits: int = 64, pairs: float | None = None, words: int = 1) -> tuple[int, int]:
    """Number of blocks ``m`` and per-block radius ``distance // m``.

    Picks the cheapest ``m`` (blocks at most ``MAX_BLOCK_WIDTH`` and at least
    4 bits wide, at most 32 of them) under a simple cost model for uniform
    hashes, per block of width w with a radius ball of V masks: the
    ``pairs`` * V / 2^w candidates the probes hit (``pairs``: n²/2 for a
    self-join), plus the probing itself, ``probe_cost(n, w)`` per mask.
    Measured on this machine, both terms cost about the same.
    """
    pairs = n * n / 2 if pairs is None else pairs
    lowest = max(3, math.ceil(bits / MAX_BLOCK_WIDTH))
    best: tuple[float, int] = (math.inf, lowest)
    for m in range(lowest, min(bits // 4, 32) + 1):
        r = distance // m
        cost = 0.0
        for _, width in block_spans(m, bits):
            if r >= width:
                cost = math.inf
                break
            v = sum(math.comb(width, k) for k in range(r + 1))
            cost += v * (probe_cost(n, width) + words * pairs / 2 ** width)
        best = min(best, (cost, m))
    m = best[1]
    return m, distance // m


def words_of_ints(values: list[int]) -> Words:
    """64-bit ints as one-word rows."""
    import numpy as np

    return np.fromiter(values, dtype=np.uint64, count=len(values)).reshape(-1, 1)


def words_of_digests(data: bytes, size: int) -> Words:
    """Concatenated big-endian digests of ``size`` bytes as rows of words."""
    import numpy as np

    return np.frombuffer(data, dtype=">u8").astype(np.uint64).reshape(-1, size // 8)


def self_pairs(words: Words, distance: int, bits: int,
               blocks: int | None = None) -> tuple[Ints, Ints]:
    """Rows ``(i, j)``, ``i < j``, within ``distance`` bits, as a (2, k) array in
    increasing order of ``i * n + j``, and their distances. ``blocks`` overrides
    :func:`plan` (tests, benchmarks)."""
    import numpy as np

    n = len(words)
    if distance < 0 or n < 2:
        return np.empty((2, 0), dtype=np.int64), np.empty(0, dtype=np.int64)
    m, r = (plan(n, distance, bits=bits, words=words.shape[1]) if blocks is None
            else (blocks, distance // blocks))
    found: list[Ints] = []
    cols = _columns(words)
    for shift, width in block_spans(m, bits):
        keys = _block_keys(words, shift, width)
        found.extend(_join(cols, keys, cols, keys, width, r, distance, same=True))
    return _unique(found, n, words, words)


def cross_pairs(queries: Words, table: Words, distance: int, bits: int,
                blocks: int | None = None) -> tuple[Ints, Ints]:
    """Pairs ``(q, t)`` of a query row and a table row within ``distance`` bits,
    as a (2, k) array sorted by ``q`` then ``t``, and their distances."""
    import numpy as np

    nq, nt = len(queries), len(table)
    if distance < 0 or not nq or not nt:
        return np.empty((2, 0), dtype=np.int64), np.empty(0, dtype=np.int64)
    if nq > nt:
        # The index is built over the table and probed by each query: build it
        # over the smaller side.
        flipped, dists = cross_pairs(table, queries, distance, bits, blocks)
        order = np.lexsort((flipped[0], flipped[1]))
        return flipped[::-1, order], dists[order]
    m, r = (plan(nq, distance, bits=bits, pairs=nq * nt, words=queries.shape[1])
            if blocks is None else (blocks, distance // blocks))
    found: list[Ints] = []
    qcols, tcols = _columns(queries), _columns(table)
    for shift, width in block_spans(m, bits):
        found.extend(_join(qcols, _block_keys(queries, shift, width),
                           tcols, _block_keys(table, shift, width), width, r, distance,
                           same=False))
    return _unique(found, nt, queries, table)


def _unique(found: list[Ints], n: int, a: Words, b: Words) -> tuple[Ints, Ints]:
    """Found pairs once each (a pair close in several blocks is found in each)."""
    import numpy as np

    if not found:
        return np.empty((2, 0), dtype=np.int64), np.empty(0, dtype=np.int64)
    pairs = np.concatenate(found, axis=1)
    codes = np.unique(pairs[0] * n + pairs[1])
    out = np.stack(np.divmod(codes, n))
    return out, _popcount(a[out[0]] ^ b[out[1]])


def _columns(words: Words) -> list[Words]:
    """Each word position as its own contiguous array: candidates gather 8
    bytes at a time, and most are rejected after two words."""
    import numpy as np

    return [np.ascontiguousarray(words[:, j]) for j in range(words.shape[1])]


def _popcount(xor: Words) -> Ints:
    import numpy as np

    return np.bitwise_count(xor).sum(axis=1, dtype=np.int64)


def _block_keys(words: Words, shift: int, width: int) -> Ints:
    """Bits ``shift .. shift + width - 1`` (0 = the last word's lowest) of each row."""
    import numpy as np

    last = words.shape[1] - 1
    word, offset = last - shift // 64, shift % 64
    keys = words[:, word] >> np.uint64(offset)
    if offset + width > 64:  # the block runs on into the next more significant word
        keys = keys | (words[:, word - 1] << np.uint64(64 - offset))
    return (keys & np.uint64((1 << width) - 1)).astype(np.int64)


def _join(src_cols: list[Words], src_keys: Ints, dst_cols: list[Words], dst_keys: Ints,
          width: int, radius: int, distance: int, same: bool) -> Iterator[Ints]:
    """Close (src, dst) pairs whose keys lie within ``radius``, as (2, k) arrays.

    Destination rows are sorted by key and a dense table gives each key's range
    in that order; each source row looks up ``key ^ e`` for every mask ``e`` of
    the radius ball. In a self-join (``same``) a row looks up only the masks
    whose top bit its key lacks, so each pair of buckets is joined once, and
    ``e = 0`` pairs a row with the later rows of its own bucket.
    """
    import numpy as np

    order = np.argsort(dst_keys, kind="stable")
    off = np.zeros((1 << width) + 1, dtype=np.int64)
    np.cumsum(np.bincount(dst_keys, minlength=1 << width), out=off[1:])
    everyone = np.arange(len(src_keys), dtype=np.int64)
    for e in ball_masks(width, radius):
        if same and e == 0:
            pos = np.empty(len(order), dtype=np.int64)
            pos[order] = everyone
            src, lo, hi = everyone, pos + 1, off[src_keys + 1]
        else:
            src = (np.flatnonzero((src_keys & (1 << (e.bit_length() - 1))) == 0)
                   if same else everyone)
            q = src_keys[src] ^ e
            lo, hi = off[q], off[q + 1]
        cnt = hi - lo
        hit = cnt > 0
        src, lo, cnt = src[hit], lo[hit], cnt[hit]
        if len(src):
            yield from _check(src_cols, dst_cols, order, src, lo, cnt, distance, same)


def _check(src_cols: list[Words], dst_cols: list[Words], order: Ints, src: Ints, lo: Ints,
           cnt: Ints, distance: int, same: bool) -> Iterator[Ints]:
    """Compare each ``src[k]`` with the ``cnt[k]`` rows from ``order[lo[k]]`` on.

    Candidates are expanded in batches of about ``_BATCH`` (a crowded bucket,
    many images of one colour sharing a block, cannot blow the memory up) and
    checked with a vectorised popcount, a word at a time: two random PDQ
    hashes already differ in ~64 bits over their first two words, so nearly
    every candidate is rejected before the other two are gathered.
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
        bits = np.zeros(len(s), dtype=np.int16)
        for j, (sc, dc) in enumerate(zip(src_cols, dst_cols, strict=True)):
            bits += np.bitwise_count(sc[s] ^ dc[dst])
            if j % 2 and j + 1 < len(src_cols):
                keep = np.flatnonzero(bits <= distance)
                s, dst, bits = s[keep], dst[keep], bits[keep]
        ok = bits <= distance
        s, dst = s[ok], dst[ok]
        yield (np.stack((np.minimum(s, dst), np.maximum(s, dst))) if same
               else np.stack((s, dst)))
