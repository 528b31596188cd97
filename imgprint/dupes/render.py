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
from urllib.parse import quote

from imgprint.dupes.report import UNSAFE, safe

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
    reads them: sites sharing images, near-duplicate groups, identical images
    (the two exact hashes merged into one list). One folded row per group.
    """
    s = report["summary"]
    graph = _graph(report["sites"])
    identical = _merged_identical(report["exact"])
    near = list(islice(report["near"], HTML_MAX_GROUPS + 1)) if s["distance"] is not None else []
    sections = [
        ("sites", f"Sites sharing images ({len(report['sites']['groups']):,} sets of sites)"),
        ("near", f"Near-duplicate groups ({len(report['near']):,})"
         if s["distance"] is not None else "Near-duplicates: not searched"),
        ("identical", f"Identical images ({len(identical):,} groups)"),
    ]
    parts = [
        *_summary(s, report, len(identical)),
        "<nav><b>Contents</b><ol>"
        + "".join(f'<li><a href="#{a}">{escape(t)}</a></li>' for a, t in sections)
        + "</ol></nav>",
        *_sites_section(report["sites"], graph, sections[0][1]),
        *_near_section(s["distance"], near, len(report["near"]), sections[1][1]),
        *_identical_section(identical, sections[2][1]),
    ]
    # One pass: a %DATA% inside a URL in the body must stay text, not get
    # the graph JSON pasted into an attribute.
    fill = {"BODY": "\n".join(parts), "DATA": _json_for_script(graph)}
    return re.sub(r"%(BODY|DATA)%", lambda m: fill[m[1]], page_template())


def _summary(s: dict[str, Any], report: dict[str, Any], identical: int) -> Iterator[str]:
    rows = [
        ("feed files read", s["files"]), ("records", s["records"]),
        ("image URLs", s["images"]), ("with content_sha256", s["with_content_sha256"]),
        ("with sha256_first_10240_bytes", s["with_sha256_first_10240_bytes"]),
        ("with phash", s["with_phash"]),
        ("sets of sites sharing images", len(report["sites"]["groups"])),
        ("near-duplicate groups", len(report["near"]) if s["distance"] is not None else "–"),
        ("groups of identical images", identical),
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
               f" {_sites(g['sites'])}</summary><ul>")
        for img in g["images"]:
            h = img["content_sha256"] or img["sha256_first_10240_bytes"]
            urls = " ".join(_link(i["url"]) for i in img["images"])
            yield f"<li><code>{escape(h[:16])}</code> {urls}</li>"
        yield "</ul></details>"
    yield _more(len(sites["groups"]))


def _near_section(distance: int | None, near: list[Any], total: int,
                  text: str) -> Iterator[str]:
    yield _heading("near", text)
    if distance is None:
        return
    yield f"<p class=note>phash within {distance} bits, single linkage.</p>"
    for g in near[:HTML_MAX_GROUPS]:
        sites = sorted({site for img in g["images"] for site in img["sites"]})
        yield (f"<details><summary><b>{g['count']}</b> URLs around"
               f" <code>{escape(g['center'])}</code>, up to {g['max_distance']} bits apart,"
               f" on {_sites(sites[:6])}{' …' if len(sites) > 6 else ''}</summary><ul>")
        for img in g["images"]:
            yield (f"<li><code>d={img['distance']}</code> {_link(img['url'])}"
                   f" <span class=site>{_sites(img['sites'])}</span></li>")
        yield "</ul></details>"
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
                target = {"hashes": {}, "sizes": set(), "images": {}}
                merged.append(target)
                ids = [len(merged) - 1, *ids]
            for other in ids[1:]:
                o = merged[other]
                if o is not None and o is not target:
                    target["hashes"].update(o["hashes"])
                    target["sizes"] |= o["sizes"]
                    target["images"].update(o["images"])
                    for url in o["images"]:
                        owner[url] = ids[0]
                    merged[other] = None
            target["hashes"].setdefault(kind, g["hash"])
            target["sizes"].update(g["image_sizes"])
            for img in g["images"]:
                target["images"][img["url"]] = img["sites"]
                owner[img["url"]] = ids[0]
    groups = [g for g in merged if g is not None]
    groups.sort(key=lambda g: -len(g["images"]))
    return groups


def _identical_section(groups: list[dict[str, Any]], text: str) -> Iterator[str]:
    yield _heading("identical", text)
    yield ("<p class=note>Same <code>content_sha256</code> (same coded image data, metadata"
           " ignored) or same <code>sha256_first_10240_bytes</code> (the seed tool's"
           " fingerprint); groups sharing a URL are one row.</p>")
    for g in groups[:HTML_MAX_GROUPS]:
        hashes = " ".join(f"<code title={k}>{escape(h[:16])}</code>"
                          for k, h in sorted(g["hashes"].items()))
        sizes = ", ".join(f"{x:,}" for x in sorted(g["sizes"])) or "size unknown"
        sites = sorted({site for names in g["images"].values() for site in names})
        yield (f"<details><summary><b>{len(g['images'])}</b> URLs {hashes} {sizes} bytes,"
               f" on {_sites(sites[:6])}{' …' if len(sites) > 6 else ''}</summary><ul>")
        for url, names in g["images"].items():
            yield f"<li>{_link(url)} <span class=site>{_sites(names)}</span></li>"
        yield "</ul></details>"
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


def _link(url: str) -> str:
    text = escape(safe(url))
    if url.lower().startswith(("http://", "https://")):
        href = UNSAFE.sub(lambda m: quote(m.group()), url)
        return (f'<a href="{escape(href, quote=True)}" rel="noopener noreferrer nofollow">'
                f"{text}</a>")
    return text


def _sites(names: list[str]) -> str:
    return ", ".join(f"<b>{escape(safe(n))}</b>" for n in names)


def _more(total: int) -> str:
    if total <= HTML_MAX_GROUPS:
        return ""
    return (f"<p class=more>{total - HTML_MAX_GROUPS:,} more groups not shown; "
            f"<code>--json</code> lists them all.</p>")
