"""Text and HTML views of the report :func:`imgprint.dupes.build_report` returns.

Every string in the report comes from crawled pages and is hostile: text output
neutralises control and bidi characters (terminal escapes, spoofed URLs), the
HTML page escapes everything, links only http(s) URLs, embeds its graph data as
JSON that cannot close its ``<script>``, and forbids any network access with a
Content-Security-Policy.
"""

from __future__ import annotations

import json
import re
from html import escape
from itertools import islice
from typing import IO, Any
from urllib.parse import quote

from imgprint.dupes import Lazy

# C0/C1 controls (ANSI escapes), zero-width and bidi-override characters.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
# The HTML page lists this many groups per section; --json has them all.
HTML_MAX_GROUPS = 500


def safe(text: Any) -> str:
    """``text`` with characters that could act on a terminal shown as ``\\uXXXX``."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", str(text))


def write_json(obj: Any, out: IO[str]) -> None:
    """``json.dump`` that streams :class:`~imgprint.dupes.Lazy` lists item by item."""
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


def _title(kind: str) -> str:
    return {"content_sha256": "Identical images (content_sha256, metadata ignored)",
            "sha256_first_10240_bytes": "Identical first 10,241 bytes "
                                        "(sha256_first_10240_bytes, seed-compatible)"}[kind]


def render_text(report: dict[str, Any], out: IO[str]) -> None:
    """Write the report as text, a group at a time."""
    s = report["summary"]

    def w(line: str) -> None:
        out.write(line + "\n")

    w(f"{s['files']} files, {s['records']:,} records, {s['images']:,} image URLs "
      f"({s['with_content_sha256']:,} with content_sha256, "
      f"{s['with_sha256_first_10240_bytes']:,} with sha256_first_10240_bytes, "
      f"{s['with_phash']:,} with phash)")
    for kind, groups in report["exact"].items():
        w(f"{kind}: {len(groups):,} groups of identical images "
          f"({s['urls_in_exact_groups'][kind]:,} URLs)")
    if s["distance"] is None:
        w("near-duplicates: not searched")
    else:
        w(f"near-duplicates (phash, Hamming distance <= {s['distance']}): "
          f"{len(report['near']):,} groups")
    w(f"sites sharing images: {len(report['sites']['groups']):,} sets of sites")

    for kind, groups in report["exact"].items():
        if not groups:
            continue
        w("")
        w(f"== {_title(kind)} ==")
        for n, g in enumerate(groups, 1):
            sizes = ", ".join(f"{x:,}" for x in g["image_sizes"]) or "unknown"
            w(f"[{n}] {g['count']} URLs, {kind} {g['hash']}, size {sizes}")
            for img in g["images"]:
                w(f"    {safe(img['url'])}  ({safe(', '.join(img['sites']))})")

    if report["near"]:
        w("")
        w(f"== Near-duplicates (phash within {s['distance']} bits) ==")
        for n, g in enumerate(report["near"], 1):
            w(f"[{n}] {g['count']} URLs, phash around {g['center']}, "
              f"max distance {g['max_distance']}")
            for img in g["images"]:
                w(f"    d={img['distance']:<2} {img['phash']}  {safe(img['url'])}")

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


def _json_for_script(data: Any) -> str:
    # Inside <script>, "</script>" or "<!--" in a string would end or alter the
    # element: escape the characters that can start them.
    return (json.dumps(data, ensure_ascii=True)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _link(url: str) -> str:
    text = escape(safe(url))
    if url.lower().startswith(("http://", "https://")):
        href = _UNSAFE.sub(lambda m: quote(m.group()), url)
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


def render_html(report: dict[str, Any]) -> str:
    """A self-contained page: no external resource, viewable offline."""
    s = report["summary"]
    parts: list[str] = []
    p = parts.append
    p(f"<p>{s['files']} files, {s['records']:,} records, {s['images']:,} image URLs "
      f"({s['with_content_sha256']:,} with content_sha256, "
      f"{s['with_sha256_first_10240_bytes']:,} with sha256_first_10240_bytes, "
      f"{s['with_phash']:,} with phash).</p>")

    sites = report["sites"]
    p(f"<h2>Sites sharing images ({len(sites['groups']):,} sets of sites)</h2>")
    p('<div id=graphbox><svg id=graph viewBox="0 0 900 600" role=img '
      'aria-label="sites sharing images"></svg>'
      "<noscript><p>The graph needs JavaScript; the list below has the same data.</p>"
      "</noscript></div>")
    p("<p class=note>A node is a site (registrable domain of the pages an image was found "
      "on), its size the number of shared images it carries; an edge joins two sites that "
      "carry the same image, its width the number of such images.</p>")
    p("<ol>")
    for g in islice(sites["groups"], HTML_MAX_GROUPS):
        p(f"<li>{g['count']:,} identical images between {_sites(g['sites'])}<ul>")
        for img in g["images"]:
            h = img["content_sha256"] or img["sha256_first_10240_bytes"]
            urls = "<br>".join(_link(i["url"]) for i in img["images"])
            p(f"<li><code>{escape(h[:16])}</code> {urls}</li>")
        p("</ul></li>")
    p("</ol>")
    p(_more(len(sites["groups"])))

    for kind, groups in report["exact"].items():
        p(f"<h2>{escape(_title(kind))}: {len(groups):,} groups</h2><ol>")
        for g in islice(groups, HTML_MAX_GROUPS):
            sizes = ", ".join(f"{x:,}" for x in g["image_sizes"]) or "unknown"
            p(f"<li>{g['count']} URLs, <code>{escape(g['hash'])}</code>, size {sizes}<ul>")
            for img in g["images"]:
                p(f"<li>{_link(img['url'])} <span class=site>{_sites(img['sites'])}</span></li>")
            p("</ul></li>")
        p("</ol>")
        p(_more(len(groups)))

    if s["distance"] is None:
        p("<h2>Near-duplicates: not searched</h2>")
    else:
        p(f"<h2>Near-duplicates (phash within {s['distance']} bits): "
          f"{len(report['near']):,} groups</h2><ol>")
        for g in islice(report["near"], HTML_MAX_GROUPS):
            p(f"<li>{g['count']} URLs around <code>{escape(g['center'])}</code>, "
              f"max distance {g['max_distance']}<ul>")
            for img in g["images"]:
                p(f"<li><code>d={img['distance']} {escape(img['phash'])}</code> "
                  f"{_link(img['url'])}</li>")
            p("</ul></li>")
        p("</ol>")
        p(_more(len(report["near"])))

    linked = {e["a"] for e in sites["edges"]} | {e["b"] for e in sites["edges"]}
    graph = {"nodes": [{"id": k, "n": v} for k, v in sites["per_site"].items() if k in linked],
             "edges": sites["edges"]}
    return _PAGE.replace("%BODY%", "\n".join(parts)).replace("%DATA%", _json_for_script(graph))


_PAGE = """<!DOCTYPE html>
<html lang=en><head><meta charset=utf-8>
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name=referrer content=no-referrer>
<title>imgprint dupes</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1em 2em;color:#222}
code{font-size:12px}a{color:#1a55a0;word-break:break-all}
li{margin:.2em 0}.site{color:#777;font-size:12px}.note,.more{color:#555}
#graphbox{border:1px solid #ccc;max-width:900px}svg{width:100%;height:auto;display:block}
svg text{font-size:10px;fill:#333;pointer-events:none}
</style></head><body>
<h1>Duplicate images</h1>
%BODY%
<script type="application/json" id=data>%DATA%</script>
<script>
(function(){
"use strict";
var data=JSON.parse(document.getElementById("data").textContent);
var svg=document.getElementById("graph"),NS="http://www.w3.org/2000/svg",W=900,H=600;
var nodes=data.nodes,byId={};
if(!nodes.length){var t=document.createElementNS(NS,"text");t.setAttribute("x",20);
 t.setAttribute("y",30);t.textContent="No site shares an image with another.";
 svg.appendChild(t);return;}
nodes.forEach(function(n,i){var a=2*Math.PI*i/nodes.length;
 n.x=W/2+200*Math.cos(a);n.y=H/2+200*Math.sin(a);n.vx=0;n.vy=0;byId[n.id]=n;});
var edges=data.edges.filter(function(e){return byId[e.a]&&byId[e.b];});
var maxN=Math.max.apply(null,nodes.map(function(n){return n.n;}));
var maxE=Math.max.apply(null,edges.map(function(e){return e.images;}).concat([1]));
function r(n){return 4+10*Math.sqrt(n.n/maxN);}
// A plain force layout: nodes repel, edges pull, everything drifts to the centre.
for(var it=0;it<300;it++){
 var k=1-it/300;
 for(var i=0;i<nodes.length;i++){var a=nodes[i];
  for(var j=i+1;j<nodes.length;j++){var b=nodes[j],dx=a.x-b.x,dy=a.y-b.y,
   d2=dx*dx+dy*dy+0.01,f=1500/d2;a.vx+=dx*f;a.vy+=dy*f;b.vx-=dx*f;b.vy-=dy*f;}}
 edges.forEach(function(e){var a=byId[e.a],b=byId[e.b],dx=b.x-a.x,dy=b.y-a.y,
  d=Math.sqrt(dx*dx+dy*dy)+0.01,f=(d-80)*0.02;a.vx+=dx/d*f;a.vy+=dy/d*f;
  b.vx-=dx/d*f;b.vy-=dy/d*f;});
 nodes.forEach(function(n){n.vx+=(W/2-n.x)*0.005;n.vy+=(H/2-n.y)*0.005;
  n.x+=Math.max(-20,Math.min(20,n.vx))*k;n.y+=Math.max(-20,Math.min(20,n.vy))*k;
  n.vx*=0.5;n.vy*=0.5;n.x=Math.max(15,Math.min(W-15,n.x));
  n.y=Math.max(15,Math.min(H-15,n.y));});
}
function el(name,attrs,parent){var e=document.createElementNS(NS,name);
 for(var k in attrs)e.setAttribute(k,attrs[k]);parent.appendChild(e);return e;}
edges.forEach(function(e){var a=byId[e.a],b=byId[e.b];
 var l=el("line",{x1:a.x,y1:a.y,x2:b.x,y2:b.y,stroke:"#8aa",
  "stroke-opacity":0.6,"stroke-width":1+5*e.images/maxE},svg);
 el("title",{},l).textContent=e.a+" \\u2194 "+e.b+": "+e.images+" shared images";});
nodes.forEach(function(n){var c=el("circle",{cx:n.x,cy:n.y,r:r(n),fill:"#d2691e",
 "fill-opacity":0.8},svg);
 el("title",{},c).textContent=n.id+": "+n.n+" shared images";
 el("text",{x:n.x+r(n)+2,y:n.y+3},svg).textContent=n.id;});
})();
</script>
</body></html>
"""
