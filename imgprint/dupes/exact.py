"""Exact duplicates: rows of the catalogue sharing a SHA-256.

:func:`exact_groups` groups rows by one hash field; :func:`identities` joins
the groups of both fields into a :class:`UnionFind` telling which rows are the
same image, which the near-duplicate and site-sharing reports build on.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Iterable

from imgprint.dupes.catalogue import Catalog


def exact_groups(cat: Catalog, name: str) -> list[list[int]]:
    """Rows sharing the hash ``name``, as lists of >= 2 rows, biggest group first."""
    col = cat.hashes[name]
    present = col.present
    prefix = col.prefix
    # Keyed by a 64-bit prefix (small dict keys); equal prefixes are split by the
    # full digest below, so a prefix collision cannot merge different files.
    first: dict[int, int] = {}
    shared: dict[int, list[int]] = {}
    for i in range(len(present)):
        if not present[i]:
            continue
        k = prefix(i)
        j = first.setdefault(k, i)
        if j != i:
            rows = shared.get(k)
            if rows is None:
                shared[k] = [j, i]
            else:
                rows.append(i)
    del first
    groups: list[list[int]] = []
    for rows in shared.values():
        by_digest: dict[bytes, list[int]] = defaultdict(list)
        for i in rows:
            by_digest[col.digest(i)].append(i)
        groups.extend(g for g in by_digest.values() if len(g) > 1)
    groups.sort(key=lambda g: (-len(g), cat.urls[g[0]]))
    return groups


class UnionFind:
    """Disjoint sets over 0..n-1 (path halving, union by size)."""

    def __init__(self, n: int) -> None:
        self.parent = array("I", range(n)) if n else array("I")
        self.size = array("I", [1]) * n

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        return True


def identities(cat: Catalog, groups: Iterable[list[int]]) -> UnionFind:
    """Rows that are the same image: linked by any exact group (either hash)."""
    uf = UnionFind(len(cat))
    for g in groups:
        for i in g[1:]:
            uf.union(g[0], i)
    return uf
