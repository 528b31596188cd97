"""``IMGPRINT_RENDER = "auto"``: which pages are worth a browser.

A page is rendered when its static HTML can change once scripts run and shows
signs that its images are built by them. A page without any script is never
rendered (nothing could add an image), whatever else it holds; with scripts:

* ``no_images`` / ``few_images``: fewer than ``FEW_IMAGES`` images in the
  static HTML (a gallery that inserts its ``<img>`` tags, a single-page app);
* ``lazy_markers``: lazy-loading attributes or classes (``data-src``,
  ``data-lazy``, ``data-original``, ``data-bg``, ``class="lazy"``...);
* ``gallery_script``: a script file named like a lazy-loading, gallery,
  infinite-scroll or front-end framework library;
* ``script_images``: inline script that makes images (``createElement('img')``,
  ``new Image``, ``IntersectionObserver``, ``backgroundImage``, ``insertRule``,
  ``<img`` in a string);
* ``app_root``: an empty ``#root``/``#app``/``#__next`` element or framework data.

``render_reason`` names the first rule that fires, or None; the spider counts
them as ``imgprint/render/auto/<reason>`` (and ``imgprint/render/auto/static``).
"""

from __future__ import annotations

import re

from parsel import Selector

FEW_IMAGES = 3
_SCRIPTS = ("//script[not(@type) or contains(@type, 'javascript') or @type='module'"
            " or @type='text/babel']")
_LAZY = (
    "//img[@data-src or @data-srcset or @data-lazy or @data-lazy-src or @data-original]"
    " | //*[@data-bg or @data-background or @data-bg-src]"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' lazy ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' lazyload ')]"
)
_GALLERY = re.compile(
    r"lazy|lozad|infinite|masonry|isotope|photoswipe|lightgallery|fancybox|swiper|slick"
    r"|flickity|glightbox|lightbox|gallery|react|vue|angular|svelte|next|nuxt|jquery",
    re.IGNORECASE)
_MAKES_IMAGES = re.compile(
    r"createElement\(\s*['\"]img|new\s+Image\b|IntersectionObserver|backgroundImage"
    r"|background-image|insertRule|<img\b|\.src\s*=|srcset\s*=",
    re.IGNORECASE)
_APP_ROOT = ("//*[(@id='root' or @id='app' or @id='__next' or @id='__nuxt') and not(*)]"
             " | //script[@id='__NEXT_DATA__'] | //*[@ng-app or @data-reactroot]")


def render_reason(sel: Selector, static_images: int) -> str | None:
    """Why this page should be rendered, or None to keep its static HTML."""
    scripts = sel.xpath(_SCRIPTS)
    if not scripts:
        return None
    if static_images == 0:
        return "no_images"
    if static_images < FEW_IMAGES:
        return "few_images"
    if sel.xpath(_LAZY):
        return "lazy_markers"
    if any(_GALLERY.search(src) for src in scripts.xpath("@src").getall()):
        return "gallery_script"
    if any(_MAKES_IMAGES.search(text) for text in scripts.xpath("text()").getall()):
        return "script_images"
    if sel.xpath(_APP_ROOT):
        return "app_root"
    return None
