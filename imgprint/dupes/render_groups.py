"""One group of copies in the HTML page: its folded row and its table of copies.

The row says first what an investigator looks for (a copy still carrying GPS,
a camera serial or an author; copies whose metadata differ), then the hashes,
each labelled with its name, sizes and sites. Unfolded, a table gives a row per
copy (URL, sites, pages) and a column per metadata field. Every string is
hostile: escaped, control characters shown, only http(s) URLs linked.
"""

from __future__ import annotations

from collections.abc import Iterator
from html import escape
from typing import Any
from urllib.parse import quote

from imgprint.dupes.details import FIELDS, LABELS
from imgprint.dupes.report import UNSAFE, safe
from imgprint.dupes.text import differences

# Pages listed per copy in a group's table; --json has up to details.PAGES_KEPT.
HTML_PAGES = 5


def near_row(g: dict[str, Any]) -> Iterator[str]:
    """A near-duplicate group: copies, the hash they are near, how far apart."""
    sites = sorted({site for img in g["images"] for site in img["sites"]})
    center = hash_label(g.get("center_hash") or "phash", g["center"])
    yield (f"<details><summary><b>{g['count']}</b> URLs {by_label(g)}{badges(g)}"
           f"around {center}, up to {g['max_distance']} bits apart,"
           f" on {site_names(sites[:6])}{' …' if len(sites) > 6 else ''}</summary>")
    yield from copies_table(g, near=True)
    yield "</details>"


def identical_row(g: dict[str, Any]) -> Iterator[str]:
    """A group of identical images (both exact hashes merged)."""
    hashes = " ".join(hash_label(k, h) for k, h in sorted(g["hashes"].items()))
    sizes = ", ".join(f"{x:,}" for x in sorted(g["sizes"]))
    sizes = f"{sizes} bytes" if sizes else "size unknown"
    sites = sorted({site for img in g["images"] for site in img["sites"]})
    yield (f"<details><summary><b>{len(g['images'])}</b> URLs {by_label(g)}{badges(g)}"
           f"{hashes} {sizes}, on {site_names(sites[:6])}{' …' if len(sites) > 6 else ''}"
           "</summary>")
    yield from copies_table(g)
    yield "</details>"


def flagged(g: dict[str, Any]) -> bool:
    return bool(g.get("metadata_diff", {}).get("identifying_copies"))


def by_label(g: dict[str, Any]) -> str:
    by = g.get("by")
    if isinstance(by, list):  # a near group: the hashes that joined it
        by = "+".join(by)
    return f"<span class=by>by {escape(safe(by))}</span> " if by else ""


def hash_label(kind: str, value: str | None) -> str:
    """A hash prefix and which hash it is, the whole hash on hover."""
    value = value or ""
    return (f"<span class=hash>{escape(kind)} <code title=\"{escape(value, quote=True)}\">"
            f"{escape(value[:16])}</code></span>")


def badges(g: dict[str, Any]) -> str:
    """What an investigator looks for first: a copy still identifying, copies differing."""
    diff = g.get("metadata_diff")
    if not diff:
        return ""
    out = ""
    if n := diff["identifying_copies"]:
        fields = [LABELS[f] for f in ("gps", "serial", "author") if f in diff["fields"]]
        out += (f"<span class=flag>&#9873; {n} of {diff['copies']} still carr"
                f"{'y' if n > 1 else 'ies'} {escape(', '.join(fields))}</span> ")
    if found := differences(diff):
        out += f"<span class=differs>metadata differs: {escape('; '.join(found))}</span> "
    return out


def copies_table(g: dict[str, Any], near: bool = False) -> Iterator[str]:
    """The copies of a group as a table: a row per copy, a column per metadata
    field; a column whose values differ is marked, an identifying value flagged."""
    images = g["images"]
    diff = g.get("metadata_diff")
    if diff is None:  # a report built without the feeds: URLs and sites only
        yield "<ul>" + "".join(f"<li>{link(i['url'])} <span class=site>"
                               f"{site_names(i['sites'])}</span></li>" for i in images) + "</ul>"
        return
    differs = set(diff["differs"])
    head = "".join(f"<th{' class=differs title=differs' if f in differs else ''}>"
                   f"{escape(LABELS[f])}{' &#8800;' if f in differs else ''}</th>"
                   for f in FIELDS)
    yield (f"<table class=copies><tr>{'<th>d</th>' if near else ''}<th>copy</th>"
           f"<th>pages</th>{head}</tr>")
    for img in images:
        cells = "".join(_cell(img, f) for f in FIELDS)
        dist = f"<td>{img['distance']}</td>" if near else ""
        yield (f"<tr>{dist}<td class=url>{link(img['url'])}<br><span class=site>"
               f"{site_names(img['sites'])}</span></td><td class=pages>{_pages(img)}</td>"
               f"{cells}</tr>")
    yield "</table>"


def _cell(img: dict[str, Any], name: str) -> str:
    value = img["metadata"].get(name)
    if value is None:
        return "<td class=none>–</td>"
    text = escape(safe(value))
    if name in img["identifying"]:
        return f"<td class=id title=\"still carried\">&#9873; {text}</td>"
    return f"<td>{text}</td>"


def _pages(img: dict[str, Any]) -> str:
    pages = img["pages"][:HTML_PAGES]
    more = img["pages_total"] - len(pages)
    return "<br>".join(link(p) for p in pages) + (f"<br>+{more:,} more" if more > 0 else "")


def link(url: str) -> str:
    text = escape(safe(url))
    if url.lower().startswith(("http://", "https://")):
        href = UNSAFE.sub(lambda m: quote(m.group()), url)
        return (f'<a href="{escape(href, quote=True)}" rel="noopener noreferrer nofollow">'
                f"{text}</a>")
    return text


def site_names(names: list[str]) -> str:
    return ", ".join(f"<b>{escape(safe(n))}</b>" for n in names)
