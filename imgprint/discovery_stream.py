"""Image references of a page without building a tree, for pages lxml cannot hold.

libxml2 stops at 2,048 nested elements ("Excessive depth in document") and,
in recover mode, silently drops the rest of the page: every later image was
lost. ``truncated_by_depth`` tells (cheaply: by re-parsing only when the page
has more ``<img`` tags than the tree); ``stream_refs`` then reads the page with
Python's ``html.parser`` (a tokenizer, no depth limit) and returns the same
kinds of references as ``imgprint.discovery`` finds, in the same order of kinds.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from parsel import Selector

_IMG_TAG = re.compile(r"<img\b", re.IGNORECASE)
_META_NAMES = frozenset({"og:image", "og:image:url", "og:image:secure_url", "twitter:image",
                         "twitter:image:src"})


def truncated_by_depth(sel: Selector, text: str) -> bool:
    """The page has more ``<img`` tags than lxml's tree holds img elements."""
    in_tree = int(sel.root.xpath("count(//img)"))
    seen = 0
    for _ in _IMG_TAG.finditer(text):
        seen += 1
        if seen > in_tree:
            return True
    return False


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.kinds: dict[str, list[str]] = {k: [] for k in
                                            ("src", "poster", "srcset", "meta", "style", "a")}
        self.base: str | None = None
        self.picture = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        kinds = self.kinds
        if tag == "img":
            kinds["src"] += [a[k] for k in ("src", "data-src") if k in a]
            kinds["srcset"] += [a[k] for k in ("srcset", "data-srcset") if k in a]
        elif tag == "input" and a.get("type") == "image" and "src" in a:
            kinds["src"].append(a["src"])
        elif tag == "video" and "poster" in a:
            kinds["poster"].append(a["poster"])
        elif tag == "picture":
            self.picture += 1
        elif tag == "source" and self.picture:
            kinds["srcset"] += [a[k] for k in ("srcset", "data-srcset") if k in a]
        elif tag == "meta" and (a.get("property") in _META_NAMES or a.get("name") in _META_NAMES):
            kinds["meta"].append(a.get("content", ""))
        elif tag == "a" and "href" in a:
            kinds["a"].append(a["href"])
        elif tag == "base" and self.base is None and "href" in a:
            self.base = a["href"]
        if "style" in a:
            kinds["style"].append(a["style"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "picture" and self.picture:
            self.picture -= 1


def stream_refs(text: str) -> _Refs:
    """Every image-bearing attribute of the page, by kind, and its ``<base href>``."""
    parser = _Refs()
    parser.feed(text)
    parser.close()
    return parser
