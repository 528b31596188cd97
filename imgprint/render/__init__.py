"""Render pages whose images are built by JavaScript, in Debian's headless Chromium.

Modelled on scrapy-playwright's own layout, and built on its download handler:

- ``mode``: whether a crawl renders (``IMGPRINT_RENDER``, ``-a render=``);
- ``heuristic``: which pages ``auto`` renders (``render_reason``);
- ``spider``: the spider's side (``RenderingMixin``): a page's static answer is
  discovered first, then rendered; only new images are requested;
- ``page``: one page in the browser (``RenderJob``): the navigation answered
  with the static body, images/media/fonts aborted and noted, scroll and wait;
- ``guardproxy``: the SOCKS5 relay that holds the browser to the network guard;
- ``handler``: one scrapy-playwright handler per crawl, behind
  ``imgprint.handlers.tor.TorDownloadHandler`` (which keeps the Tor routing);
- ``browser``: finding Debian's Chromium, launch flags.

Images never go to the browser: they are requested by the spider and fetched
on the ranged path like any other (``imgprint.middlewares.imagefetch``). A seed
that answers with an image is recorded, not rendered.

Settings: ``IMGPRINT_RENDER`` (``off``/``on``/``auto``; default ``off``),
``IMGPRINT_RENDER_PAGES`` (pages per browser context, 4), ``IMGPRINT_RENDER_WAIT``
(seconds of scrolling and waiting per page, 5), ``IMGPRINT_RENDER_SCROLLS``
(scroll steps per page, 20), ``IMGPRINT_RENDER_MEMORY`` (bytes each renderer may
map, 512 MiB), ``PLAYWRIGHT_LAUNCH_OPTIONS`` (``executable_path`` found when not
given). ``DOWNLOAD_TIMEOUT``/``TOR_DOWNLOAD_TIMEOUT`` bound the
navigation, ``IMGPRINT_PAGE_MAXSIZE`` the rendered DOM.

Stats: ``imgprint/render/pages``, ``imgprint/render/failed``,
``imgprint/render/time_ms``, ``imgprint/render/images/dom``,
``imgprint/render/images/requests`` (images found only after rendering, by
where), ``imgprint/render/auto/<reason>``, ``imgprint/render/auto/static``,
``imgprint/render/aborted``, ``imgprint/render/refused_literal``,
``imgprint/render/scroll_capped``, ``imgprint/render/crashed``,
``imgprint/render/guard/...``. Records of a
crawl that renders carry ``found_by``: ``html``, ``dom`` or ``requests``.
"""

from imgprint.render.mode import render_mode
from imgprint.render.page import RENDER_KEY

__all__ = ["RENDER_KEY", "render_mode"]
