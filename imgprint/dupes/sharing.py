"""Sites sharing images: which sites carry the same image.

An image is one URL, or one group of identical files (the
:class:`~imgprint.dupes.exact.UnionFind` from
:func:`~imgprint.dupes.exact.identities`); its sites are those of the pages it
was found on. :func:`site_sharing` groups shared images by their exact set of
sites, counts them per site and weighs the edges of a site graph.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import combinations

from imgprint.dupes.catalogue import Catalog
from imgprint.dupes.exact import UnionFind

# How many domains the site graph keeps: edges are counted pairwise, so an image
# found on thousands of sites must not make that quadratic.
GRAPH_MAX_SITES = 150


@dataclass
class SharedImage:
    rows: list[int]
    sites: frozenset[str]


@dataclass
class SiteSharing:
    """Images found on more than one site, grouped by the exact set of sites.

    As in the seed tool's ``detect_websites_sharing_same_images``: one entry per
    set of sites, with the images all of them carry.
    """

    groups: list[tuple[frozenset[str], list[SharedImage]]]
    per_site: Counter[str]  # site -> shared images it carries
    edges: list[tuple[str, str, int]]  # between the GRAPH_MAX_SITES busiest sites


def shared_images(cat: Catalog, same: UnionFind) -> list[SharedImage]:
    """Fingerprinted images (one URL or one exact group) found on more than one site.

    Only fingerprinted images count, as in the seed tool: small images (icons,
    spacers) get no hash and would otherwise link every site using a CDN.
    """
    fingerprinted = [col.present for col in cat.hashes.values()]
    shared: list[SharedImage] = []
    # Only rows in an exact group need gathering; the rest are images on their own.
    members: dict[int, list[int]] = defaultdict(list)
    for i in range(len(cat)):
        if not any(p[i] for p in fingerprinted):
            continue
        if same.size[i] == 1 and same.parent[i] == i:
            sites = cat.sites(i)
            if len(sites) > 1:
                shared.append(SharedImage([i], sites))
        else:
            members[same.find(i)].append(i)
    for rows in members.values():
        sites = frozenset().union(*(cat.sites(i) for i in rows))
        if len(sites) > 1:
            shared.append(SharedImage(sorted(rows, key=cat.urls.__getitem__), sites))
    return shared


def site_sharing(cat: Catalog, same: UnionFind) -> SiteSharing:
    """Which sites carry the same images (one image = one URL or one exact group)."""
    shared = shared_images(cat, same)
    by_set: dict[frozenset[str], list[SharedImage]] = defaultdict(list)
    per_site: Counter[str] = Counter()
    for img in shared:
        by_set[img.sites].append(img)
        per_site.update(img.sites)
    top = {s for s, _ in per_site.most_common(GRAPH_MAX_SITES)}
    pair_count: Counter[tuple[str, str]] = Counter()
    for img in shared:
        pair_count.update(combinations(sorted(img.sites & top), 2))
    groups = sorted(by_set.items(), key=lambda kv: (-len(kv[1]), -len(kv[0]), sorted(kv[0])))
    for _, imgs in groups:
        imgs.sort(key=lambda img: cat.urls[img.rows[0]])
    edges = sorted(((a, b, n) for (a, b), n in pair_count.items()), key=lambda e: (-e[2], e[:2]))
    return SiteSharing(groups, per_site, edges)
