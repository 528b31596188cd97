"""The report: the three analyses as one JSON-ready dict, written as JSON or text.

:func:`build_report` runs exact, near and site-sharing on a catalogue and
returns the ``--json`` document, its long lists as :class:`Lazy` so writers
stream them; :func:`write_json` writes it out (:mod:`.text` as text). Given
the files the catalogue was read from (``sources``), it reads them again for
the copies in groups (:mod:`.details`): each copy then carries its pages and
a summary of its metadata, each group a ``metadata_diff``.

Every string in the report comes from crawled pages and is hostile: text output
neutralises control and bidi characters (terminal escapes, spoofed URLs) with
:func:`safe`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import IO, Any

from imgprint.dupes.band import BAND_DISTANCE
from imgprint.dupes.catalogue import HASH_FIELDS, Catalog
from imgprint.dupes.details import Copy, collect, metadata_diff
from imgprint.dupes.exact import exact_groups, identities
from imgprint.dupes.near import (
    DEFAULT_DISTANCE,
    DEFAULT_PDQ_DISTANCE,
    NearGroup,
    near_entry,
    near_groups,
)
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


Details = dict[str, Copy] | None


def build_report(cat: Catalog, distance: int = DEFAULT_DISTANCE, near: bool = True,
                 timings: dict[str, float] | None = None,
                 sources: Iterable[str | Path] | None = None,
                 pdq_distance: int = DEFAULT_PDQ_DISTANCE,
                 band_distance: int = BAND_DISTANCE) -> dict[str, Any]:
    """All three reports as one dict (the ``--json`` document); group lists are :class:`Lazy`.

    ``band_distance``: links by the top band's pHash (``phash_band``), negative: none.

    ``sources``: the files ``cat`` was loaded from, read again for the pages and
    metadata of the copies in groups; without them the report has hashes and sites only.
    """
    t0 = time.perf_counter()
    exact = {name: exact_groups(cat, name) for name in HASH_FIELDS}
    same = identities(cat, (g for gs in exact.values() for g in gs))
    t1 = time.perf_counter()
    near_list = (near_groups(cat, distance, same, pdq_distance=pdq_distance, exact=exact,
                             band_distance=band_distance) if near else [])
    t2 = time.perf_counter()
    sharing = site_sharing(cat, same)
    t3 = time.perf_counter()
    details: Details = None
    if sources is not None:
        urls = cat.urls
        wanted = {urls[i] for gs in exact.values() for g in gs for i in g}
        wanted.update(urls[i] for g in near_list for i in g.rows)
        wanted.update(urls[i] for _, images in sharing.groups for img in images
                      for i in img.rows)
        details = collect(sources, wanted) if wanted else {}
        del wanted
    t4 = time.perf_counter()
    if timings is not None:
        timings.update(exact=t1 - t0, near=t2 - t1, sites=t3 - t2, details=t4 - t3)
    return {
        "summary": {**_summary(cat, exact, distance if near else None),
                    "details": details is not None,
                    "pdq_distance": pdq_distance if near else None,
                    # None: no band links (searched without them, or not at all)
                    "band_distance": band_distance if near and band_distance >= 0 else None,
                    "with_pdq": sum(cat.pdq.present),
                    "with_phash_band": sum(cat.has_phash_band)},
        "exact": {name: Lazy(groups, partial(_exact_out, cat, details, name))
                  for name, groups in exact.items()},
        "near": Lazy(near_list, partial(_near_out, cat, details)),
        "sites": _sites_out(cat, details, sharing),
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


def _image(cat: Catalog, details: Details, i: int) -> dict[str, Any]:
    """One copy: its URL and sites, and with details its pages and metadata."""
    out = {"url": cat.urls[i], "sites": sorted(cat.sites(i))}
    if details is not None:
        out.update((details.get(cat.urls[i]) or Copy()).as_dict())
    return out


def _with_diff(group: dict[str, Any], details: Details) -> dict[str, Any]:
    if details is not None:
        group["metadata_diff"] = metadata_diff([img["metadata"] for img in group["images"]])
    return group


def _exact_out(cat: Catalog, details: Details, name: str, g: list[int]) -> dict[str, Any]:
    sizes = sorted({s for i in g if (s := cat.image_size(i)) is not None})
    return _with_diff({
        "hash": cat.hash_hex(name, g[0]), "count": len(g), "image_sizes": sizes,
        "images": [_image(cat, details, i) for i in sorted(g, key=cat.urls.__getitem__)]},
        details)


def _near_out(cat: Catalog, details: Details, g: NearGroup) -> dict[str, Any]:
    group = near_entry(cat, g)
    if details is not None:
        group["images"] = [{**img, **(details.get(img["url"]) or Copy()).as_dict()}
                           for img in group["images"]]
    return _with_diff(group, details)


def _shared_out(cat: Catalog, details: Details, img: SharedImage) -> dict[str, Any]:
    i = img.rows[0]
    return _with_diff({"content_sha256": cat.hash_hex("content_sha256", i),
                       "sha256_first_10240_bytes": cat.hash_hex(HASH_FIELDS[1], i),
                       "images": [_image(cat, details, j) for j in img.rows]}, details)


def _site_group_out(cat: Catalog, details: Details,
                    group: tuple[frozenset[str], list[SharedImage]]) -> dict[str, Any]:
    sites, images = group
    return {"sites": sorted(sites), "count": len(images),
            "images": [_shared_out(cat, details, img) for img in images]}


def _sites_out(cat: Catalog, details: Details, sharing: SiteSharing) -> dict[str, Any]:
    return {
        "groups": Lazy(sharing.groups, partial(_site_group_out, cat, details)),
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
