"""Near duplicates: images whose PDQ, phash or top band's pHash lie within a Hamming distance.

Two images are linked

* by PDQ when both carry a usable PDQ hash (``pdq``, with ``pdq_quality`` at
  least ``PDQ_MIN_QUALITY`` or not given) within ``pdq_distance`` bits
  (default 31, PDQ's own guidance); the phash is then not consulted;
* by phash otherwise, when both carry one, within ``distance`` bits;
* by the pHash of their top bands (``phash_band``) within ``band_distance``
  bits, whether or not their whole-picture hashes matched
  (:mod:`imgprint.dupes.band`: most copies fetched in part carry no other);
* by an exact hash (``content_sha256``, ``sha256_first_10240_bytes``) when
  their files are identical.

:func:`near_groups` clusters the links (single linkage) and keeps the clusters
spanning at least two different images (identical files alone are an exact
group). Each member says which hash joined it (``by``) and to which member
(``via``): the path from the group's centre along the links found. The pairs
come from multi-index hashing (:mod:`imgprint.dupes.mih`).
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from imgprint.dupes.band import BAND_DISTANCE, band_links
from imgprint.dupes.catalogue import HASH_FIELDS, Catalog
from imgprint.dupes.exact import UnionFind, exact_groups, identities
from imgprint.dupes.mih import ball_masks as ball_masks
from imgprint.dupes.mih import block_spans as block_spans
from imgprint.dupes.mih import cross_pairs, self_pairs, words_of_digests, words_of_ints
from imgprint.dupes.mih import plan as plan

# Default Hamming threshold for 64-bit perceptual hashes; the usual pHash
# guidance is "<= 10 similar", kept a little stricter until an evaluation on
# real crawls says otherwise.
DEFAULT_DISTANCE = 8
PHASH_BITS = 64
# PDQ's guidance (ThreatExchange pdq/README.md): distance <= 31 is a match,
# hashes of quality 49 or less are to be discarded.
DEFAULT_PDQ_DISTANCE = 31
PDQ_MIN_QUALITY = 50
PDQ_BITS = 256
PERCEPTUAL = ("pdq", "phash", "phash_band")


def near_pairs(values: Sequence[int], distance: int,
               blocks: int | None = None) -> Iterator[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, with ``popcount(values[i] ^ values[j]) <= distance``
    over 64-bit ``values``, each once, in increasing order of ``i * len(values) + j``.
    ``blocks`` overrides :func:`~imgprint.dupes.mih.plan` (tests, benchmarks)."""
    if distance < 0 or len(values) < 2:
        return
    pairs, _ = self_pairs(words_of_ints(list(values)), distance, PHASH_BITS, blocks)
    yield from zip(pairs[0].tolist(), pairs[1].tolist(), strict=True)


@dataclass
class NearGroup:
    """Rows linked by near perceptual hashes (single linkage) or identical files."""

    rows: list[int]
    center: int  # the row whose hash most members carry
    distances: list[int] = field(default_factory=list)
    by: list[str | None] = field(default_factory=list)  # None for the centre
    via: list[int | None] = field(default_factory=list)
    center_hash: str | None = None  # "pdq", "phash" or "phash_band": the centre's own


class _Links:
    """Union-find that keeps the links which joined two clusters: a spanning
    forest, so each member can say how it joined its group."""

    def __init__(self, n: int) -> None:
        self.uf = UnionFind(n)
        self.adj: dict[int, list[tuple[int, str, int]]] = defaultdict(list)

    def join(self, a: int, b: int, by: str, distance: int) -> None:
        if self.uf.union(a, b):
            self.adj[a].append((b, by, distance))
            self.adj[b].append((a, by, distance))

    def clusters(self) -> list[list[int]]:
        out: dict[int, list[int]] = defaultdict(list)
        for i in self.adj:
            out[self.uf.find(i)].append(i)
        return list(out.values())


def near_groups(cat: Catalog, distance: int = DEFAULT_DISTANCE, same: UnionFind | None = None,
                *, pdq_distance: int = DEFAULT_PDQ_DISTANCE,
                exact: dict[str, list[list[int]]] | None = None,
                min_quality: int = PDQ_MIN_QUALITY,
                band_distance: int = BAND_DISTANCE) -> list[NearGroup]:
    """Clusters of rows linked by PDQ, phash, band pHash or an exact hash, spanning >= 2
    different images. ``exact`` (the groups of each hash field) and ``same``
    (:func:`~imgprint.dupes.exact.identities` of them) are computed when not
    given; a negative distance turns that hash's search off."""
    if exact is None:
        exact = {name: exact_groups(cat, name) for name in HASH_FIELDS}
    if same is None:
        same = identities(cat, (g for gs in exact.values() for g in gs))
    links = _Links(len(cat))
    for name, groups in exact.items():
        for g in groups:
            for i in g[1:]:
                links.join(g[0], i, name, 0)
    usable = bytearray(cat.pdq_usable(i, min_quality) for i in range(len(cat)))
    if pdq_distance >= 0:
        _pdq_links(cat, usable, pdq_distance, links)
    if distance >= 0:
        _phash_links(cat, usable, distance, links)
    for i, j, d in band_links(cat.band_values(), band_distance):
        links.join(i, j, "phash_band", d)
    out = [_group(cat, rows, links, usable) for rows in links.clusters()
           if len({same.find(i) for i in rows}) > 1]
    out.sort(key=lambda g: (-len(g.rows), cat.urls[g.rows[0]]))
    return out


def _pdq_links(cat: Catalog, usable: bytearray, distance: int, links: _Links) -> None:
    first: dict[bytes, int] = {}  # distinct PDQ value -> its first row
    for i in range(len(cat)):
        if usable[i]:
            j = first.setdefault(cat.pdq.digest(i), i)
            if j != i:
                links.join(j, i, "pdq", 0)
    if len(first) < 2:
        return
    rows = list(first.values())
    pairs, dists = self_pairs(words_of_digests(b"".join(first), 32), distance, PDQ_BITS)
    for a, b, d in zip(pairs[0].tolist(), pairs[1].tolist(), dists.tolist(), strict=True):
        links.join(rows[a], rows[b], "pdq", d)


def _phash_links(cat: Catalog, usable: bytearray, distance: int, links: _Links) -> None:
    """phash links, except between two rows that both have a usable PDQ."""
    by_value: dict[int, list[int]] = {}
    for i in range(len(cat)):
        if cat.has_phash[i]:
            by_value.setdefault(cat.phash[i], []).append(i)
    for rows in by_value.values():
        if len(rows) > 1:
            _join_values(rows, rows, usable, links, 0)
    # Values some row without a usable PDQ carries, and the others: pairs of two
    # of the others would join only usable-PDQ rows, so they are never searched.
    values = [v for v, rows in by_value.items() if not all(usable[i] for i in rows)]
    others = [v for v, rows in by_value.items() if all(usable[i] for i in rows)]
    for a, b in near_pairs(values, distance):
        _join_values(by_value[values[a]], by_value[values[b]], usable, links,
                     (values[a] ^ values[b]).bit_count())
    if values and others:
        pairs, dists = cross_pairs(words_of_ints(values), words_of_ints(others), distance,
                                   PHASH_BITS)
        for a, b, d in zip(pairs[0].tolist(), pairs[1].tolist(), dists.tolist(), strict=True):
            _join_values(by_value[values[a]], by_value[others[b]], usable, links, d)


def _join_values(a: list[int], b: list[int], usable: bytearray, links: _Links, d: int) -> None:
    """Link rows of two phash values (or of one, ``a is b``) but no two usable-PDQ rows."""
    ha = next((i for i in a if not usable[i]), None)
    hb = ha if a is b else next((i for i in b if not usable[i]), None)
    if ha is not None:
        for j in b:
            if j != ha:
                links.join(ha, j, "phash", d)
    if hb is not None and a is not b:
        for j in a:
            links.join(hb, j, "phash", d)


def _primary(cat: Catalog, usable: bytearray, i: int) -> tuple[str, Any] | None:
    if usable[i]:
        return "pdq", cat.pdq.digest(i)
    if cat.has_phash[i]:
        return "phash", cat.phash[i]
    if cat.has_phash_band[i]:
        return "phash_band", cat.phash_band[i]
    return None


def _distance(cat: Catalog, usable: bytearray, kind: str | None, i: int, c: int) -> int | None:
    """Hamming distance of rows ``i`` and ``c`` on hash ``kind``, if both carry it."""
    if kind == "pdq" and usable[i] and usable[c]:
        return (int.from_bytes(cat.pdq.digest(i)) ^ int.from_bytes(cat.pdq.digest(c))).bit_count()
    if kind == "phash" and cat.has_phash[i] and cat.has_phash[c]:
        return (cat.phash[i] ^ cat.phash[c]).bit_count()
    if kind == "phash_band" and cat.has_phash_band[i] and cat.has_phash_band[c]:
        return (cat.phash_band[i] ^ cat.phash_band[c]).bit_count()
    return None


def _group(cat: Catalog, rows: list[int], links: _Links, usable: bytearray) -> NearGroup:
    """The group of ``rows``: centred on the row whose hash most members carry
    (PDQ before phash before band pHash, then the first URL); each member's distance is from the
    centre on the hash that joined it (on the centre's own for an exact link),
    or that of the link itself where one of them lacks that hash."""
    primary = {i: _primary(cat, usable, i) for i in rows}
    counts = Counter(p for p in primary.values() if p is not None)

    def rank(i: int) -> tuple[int, str, str]:
        p = primary[i]
        return (1, "~", cat.urls[i]) if p is None else (-counts[p], p[0], cat.urls[i])

    center = min(rows, key=rank)
    own = primary[center]
    center_kind = None if own is None else own[0]
    via: dict[int, int | None] = {center: None}
    by: dict[int, str | None] = {center: None}
    dist = {center: 0}
    queue = deque([center])
    while queue:
        u = queue.popleft()
        # In URL order, not the order the links were found: the same
        # collection read in another order gives the same report.
        for v, kind, d in sorted(links.adj[u], key=lambda t: (cat.urls[t[0]], t[2], t[1])):
            if v not in via:
                via[v], by[v] = u, kind
                measure = kind if kind in PERCEPTUAL else center_kind
                from_center = _distance(cat, usable, measure, v, center)
                dist[v] = d if from_center is None else from_center
                queue.append(v)
    ordered = sorted(rows, key=lambda i: (dist[i], cat.urls[i]))
    return NearGroup(ordered, center, [dist[i] for i in ordered], [by[i] for i in ordered],
                     [via[i] for i in ordered], center_kind)


def near_entry(cat: Catalog, g: NearGroup) -> dict[str, Any]:
    """One group as the ``--json`` report lists it."""
    center = {"pdq": cat.pdq_hex, "phash_band": cat.band_hex}.get(
        g.center_hash or "phash", cat.phash_hex)(g.center)
    return {"count": len(g.rows), "by": sorted({b for b in g.by if b is not None}),
            "center": center, "center_hash": g.center_hash, "center_url": cat.urls[g.center],
            "max_distance": max(g.distances),
            "images": [{"url": cat.urls[i], "sites": sorted(cat.sites(i)),
                        "by": b, "via": None if v is None else cat.urls[v], "distance": d,
                        "pdq": cat.pdq_hex(i), "pdq_quality": cat.quality(i),
                        "phash": cat.phash_hex(i), "phash_source": cat.source(i),
                        "phash_band": cat.band_hex(i),
                        "content_sha256": cat.hash_hex("content_sha256", i),
                        "sha256_first_10240_bytes": cat.hash_hex(HASH_FIELDS[1], i)}
                       for i, d, b, v in zip(g.rows, g.distances, g.by, g.via, strict=True)]}
