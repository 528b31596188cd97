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

from imgprint.dupes.report import UNSAFE, safe, title

# The HTML page lists this many groups per section; --json has them all.
HTML_MAX_GROUPS = 500
TEMPLATE = "report.html.template"


@cache
def page_template() -> str:
    """The page around the report, from the package data."""
    return files("imgprint.dupes").joinpath(TEMPLATE).read_text(encoding="utf-8")


def render_html(report: dict[str, Any]) -> str:
    """A self-contained page: no external resource, viewable offline."""
    s = report["summary"]
    parts = [
        f"<p>{s['files']} files, {s['records']:,} records, {s['images']:,} image URLs "
        f"({s['with_content_sha256']:,} with content_sha256, "
        f"{s['with_sha256_first_10240_bytes']:,} with sha256_first_10240_bytes, "
        f"{s['with_phash']:,} with phash).</p>",
        *_sites_section(report["sites"]),
        *_exact_sections(report["exact"]),
        *_near_section(s["distance"], report["near"]),
    ]
    # One pass: a %DATA% inside a URL in the body must stay text, not get
    # the graph JSON pasted into an attribute.
    fill = {"BODY": "\n".join(parts), "DATA": _json_for_script(_graph(report["sites"]))}
    return re.sub(r"%(BODY|DATA)%", lambda m: fill[m[1]], page_template())


def _sites_section(sites: dict[str, Any]) -> Iterator[str]:
    yield f"<h2>Sites sharing images ({len(sites['groups']):,} sets of sites)</h2>"
    yield ('<div id=graphbox><svg id=graph viewBox="0 0 900 600" role=img '
           'aria-label="sites sharing images"></svg>'
           "<noscript><p>The graph needs JavaScript; the list below has the same data.</p>"
           "</noscript></div>")
    yield ("<p class=note>A node is a site (registrable domain of the pages an image was "
           "found on), its size the number of shared images it carries; an edge joins two "
           "sites that carry the same image, its width the number of such images.</p>")
    yield "<ol>"
    for g in islice(sites["groups"], HTML_MAX_GROUPS):
        yield f"<li>{g['count']:,} identical images between {_sites(g['sites'])}<ul>"
        for img in g["images"]:
            h = img["content_sha256"] or img["sha256_first_10240_bytes"]
            urls = "<br>".join(_link(i["url"]) for i in img["images"])
            yield f"<li><code>{escape(h[:16])}</code> {urls}</li>"
        yield "</ul></li>"
    yield "</ol>"
    yield _more(len(sites["groups"]))


def _exact_sections(exact: dict[str, Any]) -> Iterator[str]:
    for kind, groups in exact.items():
        yield f"<h2>{escape(title(kind))}: {len(groups):,} groups</h2><ol>"
        for g in islice(groups, HTML_MAX_GROUPS):
            sizes = ", ".join(f"{x:,}" for x in g["image_sizes"]) or "unknown"
            yield f"<li>{g['count']} URLs, <code>{escape(g['hash'])}</code>, size {sizes}<ul>"
            for img in g["images"]:
                yield (f"<li>{_link(img['url'])} "
                       f"<span class=site>{_sites(img['sites'])}</span></li>")
            yield "</ul></li>"
        yield "</ol>"
        yield _more(len(groups))


def _near_section(distance: int | None, near: Any) -> Iterator[str]:
    if distance is None:
        yield "<h2>Near-duplicates: not searched</h2>"
        return
    yield (f"<h2>Near-duplicates (phash within {distance} bits): "
           f"{len(near):,} groups</h2><ol>")
    for g in islice(near, HTML_MAX_GROUPS):
        yield (f"<li>{g['count']} URLs around <code>{escape(g['center'])}</code>, "
               f"max distance {g['max_distance']}<ul>")
        for img in g["images"]:
            yield (f"<li><code>d={img['distance']} {escape(img['phash'])}</code> "
                   f"{_link(img['url'])}</li>")
        yield "</ul></li>"
    yield "</ol>"
    yield _more(len(near))


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
