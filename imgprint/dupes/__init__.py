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
- :mod:`.near`: perceptual-hash near-duplicates by multi-index hashing (numpy);
- :mod:`.sharing`: the sites carrying the same images;
- :mod:`.details`: for the copies in groups, their pages and a summary of
  their metadata (a second reading of the files), and how a group's copies differ;
- :mod:`.report`: :func:`build_report` puts all of it in one JSON-ready dict,
  written by :func:`write_json` or :func:`render_text` (:mod:`.text`);
- :mod:`.render`: :func:`render_html`, a self-contained page built on the
  package data file ``report.html.template`` (a group's rows: :mod:`.render_groups`).
"""

from __future__ import annotations

from imgprint.dupes.catalogue import HASH_FIELDS, Catalog, SiteNamer, load
from imgprint.dupes.exact import UnionFind, exact_groups, identities
from imgprint.dupes.near import DEFAULT_DISTANCE, NearGroup, near_groups, near_pairs
from imgprint.dupes.reading import InputError, OnError, expand_paths, iter_file
from imgprint.dupes.render import render_html
from imgprint.dupes.report import Lazy, build_report, safe, write_json
from imgprint.dupes.sharing import SiteSharing, site_sharing
from imgprint.dupes.text import render_text

__all__ = [
    "DEFAULT_DISTANCE",
    "HASH_FIELDS",
    "Catalog",
    "InputError",
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
    "load",
    "near_groups",
    "near_pairs",
    "render_html",
    "render_text",
    "safe",
    "site_sharing",
    "write_json",
]
