"""Reference implementations for ``imgprint.dupes.near`` (tests only).

:func:`near_pairs_python` is the pure-Python multi-index search that
``imgprint.dupes`` used when numpy was optional; numpy is now required, so it
lives here, as an independent oracle for the vectorised
:func:`imgprint.dupes.near_pairs`. :func:`near_pairs_brute` compares every
pair and is the ground truth for both.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, combinations, product

from imgprint.dupes.near import ball_masks, block_spans, plan


def python_probe_cost(n: int, width: int) -> float:
    """A pure-Python search probes once per occupied key and mask: at most
    ``min(n, 2**width)`` keys per mask, instead of numpy's n/2 gathers."""
    return min(n, 2**width)


def plan_python(n: int, distance: int) -> tuple[int, int]:
    """:func:`imgprint.dupes.near.plan` with the probing cost of a Python loop."""
    return plan(n, distance, python_probe_cost)


def near_pairs_python(values: Sequence[int], distance: int,
                      blocks: int | None = None) -> Iterator[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, with ``popcount(values[i] ^ values[j]) <= distance``.

    Multi-index hashing as a self-join: for each block, values are bucketed by
    that block; a bucket is compared with itself and with the occupied buckets
    whose key lies within the radius ball of its own (each pair of buckets
    once). Work is the number of occupied keys times the ball size, plus the
    candidates found; never a scan of all pairs. Each pair is yielded once.
    ``blocks`` overrides :func:`plan_python`.
    """
    if distance < 0 or len(values) < 2:
        return
    m, r = (plan_python(len(values), distance) if blocks is None
            else (blocks, distance // blocks))
    found: set[tuple[int, int]] = set()
    for shift, width in block_spans(m):
        mask = (1 << width) - 1
        ball = ball_masks(width, r)[1:]
        buckets: dict[int, list[int]] = {}
        for i, v in enumerate(values):
            k = (v >> shift) & mask
            rows = buckets.get(k)
            if rows is None:
                buckets[k] = [i]
            else:
                rows.append(i)
        has = buckets.__contains__
        for key, rows in buckets.items():
            # filter/map run in C: the ball is probed without a Python-level loop.
            near: list[Iterable[tuple[int, int]]] = [
                product(rows, buckets[o]) for o in filter(has, map(key.__xor__, ball))
                if o > key]
            if len(rows) > 1:
                near.append(combinations(rows, 2))
            for a, b in chain.from_iterable(near):
                if (values[a] ^ values[b]).bit_count() <= distance:
                    pair = (a, b) if a < b else (b, a)
                    if pair not in found:
                        found.add(pair)
                        yield pair


def near_pairs_brute(values: Sequence[int], distance: int) -> Iterator[tuple[int, int]]:
    """Every pair compared: the ground truth for both searches."""
    for j in range(len(values)):
        vj = values[j]
        for i in range(j):
            if (vj ^ values[i]).bit_count() <= distance:
                yield i, j
