"""Duplicate images across crawl feeds: records in, groups out.

``scrapy dupes`` (``imgprint/commands/dupes.py``) is a thin shell around this
package, whose modules follow the data path:

- :mod:`.reading`: :func:`iter_file` streams records out of imgprint feeds
  and the seed tool's files (JSON lists through :mod:`.document`); bad files
  and lines become :class:`InputError`;
- :mod:`.catalogue`: :class:`Catalog` keeps, per image URL, only what grouping
  needs; :func:`load` fills one from files;
- :mod:`.exact`: groups of identical files (either SHA-256), and which rows
  are one image;
- :mod:`.near`: near-duplicates by PDQ, else phash, or the top band's pHash
  (:mod:`.band`) (and identical files):
  the links and the groups they make;
- :mod:`.mih`: the pair search under both, multi-index hashing with numpy;
- :mod:`.sharing`: the sites carrying the same images;
- :mod:`.details`: for the copies in groups, their pages and a summary of
  their metadata (a second reading of the files), and how a group's copies differ;
- :mod:`.report`: :func:`build_report` puts all of it in one JSON-ready dict,
  written by :func:`write_json` or :func:`render_text` (:mod:`.text`);
- :mod:`.known`: ``--known``: :func:`load_known` reads an analyst's list of
  fingerprints, :func:`match_known` finds the crawled images matching it and
  :func:`known_section` reports them;
- :mod:`.render`: :func:`render_html`, a self-contained page built on the
  package data file ``report.html.template`` (a group's rows: :mod:`.render_groups`).
"""

from __future__ import annotations

from imgprint.dupes.band import BAND_DISTANCE
from imgprint.dupes.catalogue import HASH_FIELDS, Catalog, SiteNamer, load
from imgprint.dupes.exact import UnionFind, exact_groups, identities
from imgprint.dupes.known import (
    KnownList,
    KnownMatches,
    known_section,
    load_known,
    match_known,
    matched_pages,
    render_known_text,
)
from imgprint.dupes.near import (
    DEFAULT_DISTANCE,
    DEFAULT_PDQ_DISTANCE,
    PDQ_MIN_QUALITY,
    NearGroup,
    near_entry,
    near_groups,
    near_pairs,
)
from imgprint.dupes.reading import InputError, OnError, expand_paths, iter_file
from imgprint.dupes.render import render_html
from imgprint.dupes.report import Lazy, build_report, safe, write_json
from imgprint.dupes.sharing import SiteSharing, site_sharing
from imgprint.dupes.text import render_text

__all__ = [
    "BAND_DISTANCE",
    "DEFAULT_DISTANCE",
    "DEFAULT_PDQ_DISTANCE",
    "PDQ_MIN_QUALITY",
    "HASH_FIELDS",
    "Catalog",
    "InputError",
    "KnownList",
    "KnownMatches",
    "Lazy",
    "NearGroup",
    "OnError",
    "SiteNamer",
    "SiteSharing",
    "UnionFind",
    "build_report",
    "exact_groups",
    "expand_paths",
    "identities",
    "iter_file",
    "known_section",
    "load",
    "load_known",
    "match_known",
    "matched_pages",
    "near_entry",
    "near_groups",
    "near_pairs",
    "render_html",
    "render_known_text",
    "render_text",
    "safe",
    "site_sharing",
    "write_json",
]
