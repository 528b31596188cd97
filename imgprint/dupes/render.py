"""The HTML view of the report :func:`~imgprint.dupes.report.build_report` returns.

The page is ``report.html.template`` (package data next to this module) with
its ``%BODY%`` and ``%DATA%`` filled in. Every string in the report comes from
crawled pages and is hostile: the page escapes everything, links only
http(s) URLs, embeds its graph data as JSON that cannot close its
``<script>``, and forbids any network access with a Content-Security-Policy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from html import escape
from importlib.resources import files
from itertools import islice
from typing import Any

from imgprint.dupes.details import metadata_diff
from imgprint.dupes.render_groups import (
    badges,
    flagged,
    hash_label,
    identical_row,
    link,
    near_row,
    site_names,
)
from imgprint.dupes.text import hash_of

# The HTML page lists this many groups per section; --json has them all.
HTML_MAX_GROUPS = 500
TEMPLATE = "report.html.template"


@cache
def page_template() -> str:
    """The page around the report, from the package data."""
    return files("imgprint.dupes").joinpath(TEMPLATE).read_text(encoding="utf-8")


def render_html(report: dict[str, Any]) -> str:
    """A self-contained page: no external resource, viewable offline.

    Summary and contents first, then the sections in the order an investigator
    reads them: groups where a copy still carries identifying metadata (when
    the report has the copies' details), sites sharing images, near-duplicate
    groups, identical images (the two exact hashes merged into one list). One
    folded row per group.
    """
    s = report["summary"]
    graph = _graph(report["sites"])
    identical = _merged_identical(report["exact"])
    searched = s["distance"] is not None
    near = list(islice(report["near"], HTML_MAX_GROUPS + 1)) if searched else []
    # Every group is counted; the page lists the first HTML_MAX_GROUPS.
    details = bool(s.get("details"))
    near_shown = list(islice(filter(flagged, report["near"]), HTML_MAX_GROUPS)) if details else []
    flagged_identical = [g for g in identical if flagged(g)]
    n_flagged = (sum(map(flagged, report["near"])) if details else 0) + len(flagged_identical)
    sections = [
        ("identifying", f"Copies still carrying GPS, a camera serial or an author "
                        f"({n_flagged:,} groups)"),
        ("sites", f"Sites sharing images ({len(report['sites']['groups']):,} sets of sites)"),
        ("near", f"Near-duplicate groups ({len(report['near']):,})"
         if searched else "Near-duplicates: not searched"),
        ("identical", f"Identical images ({len(identical):,} groups)"),
    ]
    if not details:
        sections = sections[1:]
    parts = [
        *_summary(s, report, len(identical), n_flagged if details else None),
        "<nav><b>Contents</b><ol>"
        + "".join(f'<li><a href="#{a}">{escape(t)}</a></li>' for a, t in sections)
        + "</ol></nav>",
        *(_identifying_section(near_shown, flagged_identical, n_flagged, sections[0][1])
          if details else ()),
        *_sites_section(report["sites"], graph, sections[-3][1]),
        *_near_section(s["distance"], near, len(report["near"]), sections[-2][1]),
        *_identical_section(identical, sections[-1][1]),
    ]
    # One pass: a %DATA% inside a URL in the body must stay text, not get
    # the graph JSON pasted into an attribute.
    fill = {"BODY": "\n".join(parts), "DATA": _json_for_script(graph)}
    return re.sub(r"%(BODY|DATA)%", lambda m: fill[m[1]], page_template())


def _identifying_section(near: list[dict[str, Any]], identical: list[dict[str, Any]],
                         total: int, text: str) -> Iterator[str]:
    yield _heading("identifying", text)
    yield ("<p class=note>Groups where at least one copy still carries a position (GPS), a"
           " camera serial number or an author or copyright holder, which other copies may"
           " have lost: the first rows to read. Each group is listed again in its own"
           " section below.</p>")
    shown = 0
    for rows, row in ((identical, identical_row), (near, near_row)):
        for g in rows[: HTML_MAX_GROUPS - shown]:
            yield from row(g)
        shown += min(len(rows), HTML_MAX_GROUPS - shown)
    yield _more(total)


def _summary(s: dict[str, Any], report: dict[str, Any], identical: int,
             flagged: int | None) -> Iterator[str]:
    rows: list[tuple[str, int | str]] = [
        ("feed files read", s["files"]), ("records", s["records"]),
        ("image URLs", s["images"]), ("with content_sha256", s["with_content_sha256"]),
        ("with sha256_first_10240_bytes", s["with_sha256_first_10240_bytes"]),
        ("with phash", s["with_phash"]),
        ("sets of sites sharing images", len(report["sites"]["groups"])),
        ("near-duplicate groups", len(report["near"]) if s["distance"] is not None else "–"),
        ("groups of identical images", identical),
        ("groups where a copy still carries GPS, a camera serial or an author",
         "–" if flagged is None else flagged),
    ]
    yield "<table class=summary>" + "".join(
        f"<tr><th>{escape(k)}</th><td>{v:,}</td></tr>" if isinstance(v, int)
        else f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows
    ) + "</table>"


def _heading(anchor: str, text: str) -> str:
    return f'<h2 id={anchor}><a href="#{anchor}">{escape(text)}</a></h2>'


def _sites_section(sites: dict[str, Any], graph: dict[str, Any], text: str) -> Iterator[str]:
    yield _heading("sites", text)
    if graph["nodes"]:
        yield ('<div id=graphbox><svg id=graph role=img aria-label="sites sharing images">'
               "</svg><noscript><p>The graph needs JavaScript; the list below has the same"
               " data.</p></noscript></div>")
        yield ("<p class=note>A node is a site (registrable domain of the pages an image was"
               " found on), its size the number of shared images it carries; an edge joins two"
               " sites that carry the same image, its width the number of such images.</p>")
    else:
        yield "<p class=note>No two sites share an image.</p>"
    for g in islice(sites["groups"], HTML_MAX_GROUPS):
        yield (f"<details><summary><b>{g['count']:,}</b> images shared by"
               f" {site_names(g['sites'])}</summary><ul>")
        for img in g["images"]:
            urls = " ".join(link(i["url"]) for i in img["images"])
            yield f"<li>{hash_label(*hash_of(img))} {badges(img)}{urls}</li>"
        yield "</ul></details>"
    yield _more(len(sites["groups"]))


def _near_section(distance: int | None, near: list[Any], total: int,
                  text: str) -> Iterator[str]:
    yield _heading("near", text)
    if distance is None:
        return
    yield f"<p class=note>phash within {distance} bits, single linkage.</p>"
    for g in near[:HTML_MAX_GROUPS]:
        yield from near_row(g)
    yield _more(total)


def _merged_identical(exact: dict[str, Any]) -> list[dict[str, Any]]:
    """Groups of both exact hashes, merged where they share a URL, biggest first."""
    owner: dict[str, int] = {}
    merged: list[dict[str, Any] | None] = []
    for kind, groups in exact.items():
        for g in groups:
            ids = sorted({owner[i["url"]] for i in g["images"] if i["url"] in owner})
            target = merged[ids[0]] if ids else None
            if target is None:
                target = {"hashes": {}, "sizes": set(), "images": {}, "by": set()}
                merged.append(target)
                ids = [len(merged) - 1, *ids]
            for other in ids[1:]:
                o = merged[other]
                if o is not None and o is not target:
                    for key in ("hashes", "images"):
                        target[key].update(o[key])
                    target["sizes"] |= o["sizes"]
                    target["by"] |= o["by"]
                    for url in o["images"]:
                        owner[url] = ids[0]
                    merged[other] = None
            target["hashes"].setdefault(kind, g["hash"])
            target["sizes"].update(g["image_sizes"])
            if g.get("by"):
                target["by"].add(str(g["by"]))
            for img in g["images"]:
                target["images"][img["url"]] = img
                owner[img["url"]] = ids[0]
    groups = [g for g in merged if g is not None]
    for g in groups:
        g["images"] = list(g["images"].values())
        g["by"] = ", ".join(sorted(g["by"]))
        if all("metadata" in img for img in g["images"]):
            g["metadata_diff"] = metadata_diff([img["metadata"] for img in g["images"]])
    groups.sort(key=lambda g: -len(g["images"]))
    return groups


def _identical_section(groups: list[dict[str, Any]], text: str) -> Iterator[str]:
    yield _heading("identical", text)
    yield ("<p class=note>Same <code>content_sha256</code> (same coded image data, metadata"
           " ignored) or same <code>sha256_first_10240_bytes</code> (the seed tool's"
           " fingerprint); groups sharing a URL are one row.</p>")
    for g in groups[:HTML_MAX_GROUPS]:
        yield from identical_row(g)
    yield _more(len(groups))


def _graph(sites: dict[str, Any]) -> dict[str, Any]:
    """Nodes (sites with an edge) and edges of the site graph the page draws."""
    linked = {e["a"] for e in sites["edges"]} | {e["b"] for e in sites["edges"]}
    return {"nodes": [{"id": k, "n": v} for k, v in sites["per_site"].items() if k in linked],
            "edges": sites["edges"]}


def _json_for_script(data: Any) -> str:
    # Inside <script>, "</script>" or "<!--" in a string would end or alter the
    # element: escape the characters that can start them.
    return (json.dumps(data, ensure_ascii=True)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _more(total: int) -> str:
    if total <= HTML_MAX_GROUPS:
        return ""
    return (f"<p class=more>{total - HTML_MAX_GROUPS:,} more groups not shown; "
            f"<code>--json</code> lists them all.</p>")
