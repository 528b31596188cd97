"""The report: the three analyses as one JSON-ready dict, written as JSON or text.

:func:`build_report` runs exact, near and site-sharing on a catalogue and
returns the ``--json`` document, its long lists as :class:`Lazy` so writers
stream them; :func:`write_json` and :func:`render_text` write it out.

Every string in the report comes from crawled pages and is hostile: text output
neutralises control and bidi characters (terminal escapes, spoofed URLs) with
:func:`safe`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import IO, Any

from imgprint.dupes.catalogue import HASH_FIELDS, Catalog
from imgprint.dupes.exact import exact_groups, identities
from imgprint.dupes.near import DEFAULT_DISTANCE, DEFAULT_PDQ_DISTANCE, near_entry, near_groups
from imgprint.dupes.sharing import SharedImage, SiteSharing, site_sharing

# C0/C1 controls (ANSI escapes), zero-width and bidi-override characters.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


class Lazy:
    """A list whose JSON-ready items are made when iterated, one at a time.

    The report of a million records has hundreds of thousands of group
    entries; building them all as dicts would cost more memory than the
    catalogue itself, so writers stream them instead (see :func:`write_json`).
    """

    def __init__(self, items: Sequence[Any], make: Callable[[Any], dict[str, Any]]) -> None:
        self.items = items
        self.make = make

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return map(self.make, self.items)


def build_report(cat: Catalog, distance: int = DEFAULT_DISTANCE, near: bool = True,
                 timings: dict[str, float] | None = None,
                 pdq_distance: int = DEFAULT_PDQ_DISTANCE) -> dict[str, Any]:
    """All three reports as one dict (the ``--json`` document); group lists are :class:`Lazy`."""
    t0 = time.perf_counter()
    exact = {name: exact_groups(cat, name) for name in HASH_FIELDS}
    same = identities(cat, (g for gs in exact.values() for g in gs))
    t1 = time.perf_counter()
    near_list = (near_groups(cat, distance, same, pdq_distance=pdq_distance, exact=exact)
                 if near else [])
    t2 = time.perf_counter()
    sharing = site_sharing(cat, same)
    t3 = time.perf_counter()
    if timings is not None:
        timings.update(exact=t1 - t0, near=t2 - t1, sites=t3 - t2)
    return {
        "summary": {**_summary(cat, exact, distance if near else None),
                    "pdq_distance": pdq_distance if near else None,
                    "with_pdq": sum(cat.pdq.present)},
        "exact": {name: Lazy(groups, partial(_exact_out, cat, name))
                  for name, groups in exact.items()},
        "near": Lazy(near_list, partial(near_entry, cat)),
        "sites": _sites_out(cat, sharing),
    }


def _summary(cat: Catalog, exact: dict[str, list[list[int]]],
             distance: int | None) -> dict[str, Any]:
    return {
        "files": cat.files,
        "records": cat.records,
        "images": len(cat),
        "with_content_sha256": sum(cat.hashes["content_sha256"].present),
        "with_sha256_first_10240_bytes": sum(cat.hashes[HASH_FIELDS[1]].present),
        "with_phash": sum(cat.has_phash),
        "urls_in_exact_groups": {name: sum(map(len, groups)) for name, groups in exact.items()},
        "distance": distance,
    }


def _image(cat: Catalog, i: int) -> dict[str, Any]:
    return {"url": cat.urls[i], "sites": sorted(cat.sites(i))}


def _exact_out(cat: Catalog, name: str, g: list[int]) -> dict[str, Any]:
    sizes = sorted({s for i in g if (s := cat.image_size(i)) is not None})
    return {"hash": cat.hash_hex(name, g[0]), "count": len(g), "image_sizes": sizes,
            "images": [_image(cat, i) for i in sorted(g, key=cat.urls.__getitem__)]}


def _shared_out(cat: Catalog, img: SharedImage) -> dict[str, Any]:
    i = img.rows[0]
    return {"content_sha256": cat.hash_hex("content_sha256", i),
            "sha256_first_10240_bytes": cat.hash_hex(HASH_FIELDS[1], i),
            "images": [_image(cat, j) for j in img.rows]}


def _site_group_out(cat: Catalog,
                    group: tuple[frozenset[str], list[SharedImage]]) -> dict[str, Any]:
    sites, images = group
    return {"sites": sorted(sites), "count": len(images),
            "images": [_shared_out(cat, img) for img in images]}


def _sites_out(cat: Catalog, sharing: SiteSharing) -> dict[str, Any]:
    return {
        "groups": Lazy(sharing.groups, partial(_site_group_out, cat)),
        "per_site": dict(sorted(sharing.per_site.items(), key=lambda kv: (-kv[1], kv[0]))),
        "edges": [{"a": a, "b": b, "images": n} for a, b, n in sharing.edges],
    }


# --- Writers -----------------------------------------------------------------------


def safe(text: Any) -> str:
    """``text`` with characters that could act on a terminal shown as ``\\uXXXX``."""
    return UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", str(text))


def write_json(obj: Any, out: IO[str]) -> None:
    """``json.dump`` that streams :class:`Lazy` lists item by item."""
    if isinstance(obj, dict) and any(isinstance(v, dict | Lazy) for v in obj.values()):
        out.write("{")
        for n, (key, value) in enumerate(obj.items()):
            out.write(("," if n else "") + json.dumps(key) + ":")
            write_json(value, out)
        out.write("}")
    elif isinstance(obj, Lazy):
        out.write("[")
        for n, item in enumerate(obj):
            if n:
                out.write(",\n")
            out.write(json.dumps(item, ensure_ascii=False))
        out.write("]")
    else:
        out.write(json.dumps(obj, ensure_ascii=False))


def title(kind: str) -> str:
    """The heading of the exact-duplicate section for hash field ``kind``."""
    return {"content_sha256": "Identical images (content_sha256, metadata ignored)",
            "sha256_first_10240_bytes": "Identical first 10,241 bytes "
                                        "(sha256_first_10240_bytes, seed-compatible)"}[kind]


def render_text(report: dict[str, Any], out: IO[str]) -> None:
    """Write the report as text, a group at a time."""
    def w(line: str) -> None:
        out.write(line + "\n")

    _text_summary(report, w)
    s = report["summary"]
    for kind, groups in report["exact"].items():
        if not groups:
            continue
        w("")
        w(f"== {title(kind)} ==")
        for n, g in enumerate(groups, 1):
            sizes = ", ".join(f"{x:,}" for x in g["image_sizes"]) or "unknown"
            w(f"[{n}] {g['count']} URLs, {kind} {g['hash']}, size {sizes}")
            for img in g["images"]:
                w(f"    {safe(img['url'])}  ({safe(', '.join(img['sites']))})")

    if report["near"]:
        w("")
        w(f"== Near-duplicates (PDQ within {s['pdq_distance']} bits where both have one, "
          f"else phash within {s['distance']}) ==")
        for n, g in enumerate(report["near"], 1):
            w(f"[{n}] {g['count']} URLs by {'+'.join(g['by'])}, {g['center_hash']} around "
              f"{g['center']}, max distance {g['max_distance']}")
            for img in g["images"]:
                w(f"    d={img['distance']:<3} {img['by'] or 'centre':<8} {safe(img['url'])}")

    sites = report["sites"]
    if sites["groups"]:
        w("")
        w("== Sites sharing images ==")
        for n, g in enumerate(sites["groups"], 1):
            w(f"[{n}] {g['count']} identical images between the sites: "
              f"{safe(', '.join(g['sites']))}")
            for img in g["images"]:
                h = img["content_sha256"] or img["sha256_first_10240_bytes"]
                w(f"    {h[:16]}  {safe('  '.join(i['url'] for i in img['images']))}")


def _text_summary(report: dict[str, Any], w: Callable[[str], None]) -> None:
    s = report["summary"]
    w(f"{s['files']} files, {s['records']:,} records, {s['images']:,} image URLs "
      f"({s['with_content_sha256']:,} with content_sha256, "
      f"{s['with_sha256_first_10240_bytes']:,} with sha256_first_10240_bytes, "
      f"{s['with_phash']:,} with phash, {s['with_pdq']:,} with pdq)")
    for kind, groups in report["exact"].items():
        w(f"{kind}: {len(groups):,} groups of identical images "
          f"({s['urls_in_exact_groups'][kind]:,} URLs)")
    if s["distance"] is None:
        w("near-duplicates: not searched")
    else:
        w(f"near-duplicates (PDQ Hamming distance <= {s['pdq_distance']} where both have "
          f"one, else phash Hamming distance <= {s['distance']}): "
          f"{len(report['near']):,} groups")
    w(f"sites sharing images: {len(report['sites']['groups']):,} sets of sites")
