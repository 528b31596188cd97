"""One page in the browser: what it may fetch, and how long it may take.

A ``RenderJob`` travels on the render request (``meta[RENDER_KEY]``); the
spider makes it from the page's static answer and the render handler gives it
its limits. In the browser it:

* answers the page's own navigation with the static body the crawler already
  fetched (no second GET), labelled with the charset Scrapy decoded it with:
  Chromium would take windows-1252 for a page without one and garble non-ASCII
  URLs;
* aborts every request for an image, media file or font (and anything else
  whose URL ends like an image) before it leaves the browser, noting image
  URLs: the browser's requests find CSS- and script-loaded images that
  discovery cannot see in the DOM. Images stay on imgprint's ranged path. At
  most ``RenderLimits.keep`` URLs are noted, none longer than ``url_limit``
  (``URLLENGTH_LIMIT``; those are counted in ``too_long``): a script asking for
  images in a loop, with URLs of up to Chromium's 2 MB, costs no memory;
* aborts requests to non-public IP literals (unless a seed host): names are
  checked by the guard relay (``imgprint.render.guardproxy``) or resolved by Tor;
* after load, waits for the network to be quiet, then scrolls down a viewport
  at a time (two animation frames between steps, so lazy loaders see each
  step), at most ``IMGPRINT_RENDER_SCROLLS`` steps and ``IMGPRINT_RENDER_WAIT``
  seconds in all, waiting again for quiet at the bottom in case it grew;
* refuses a rendered DOM larger than ``IMGPRINT_PAGE_MAXSIZE``;
* notes when the page's renderer crashes (``crashed``; over
  ``IMGPRINT_RENDER_MEMORY``, most likely) and then aborts every request of the
  page, so scrapy-playwright's retry of a closed target fails at once instead
  of loading the page again (from the network, as its body was given once).

``abort_request`` is scrapy-playwright's ``PLAYWRIGHT_ABORT_REQUEST``: it aborts
images, media and fonts too, so they stay out even if the page set-up failed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from imgprint.discovery import looks_like_image_url
from imgprint.middlewares.netguard import ip_literal, refusal

RENDER_KEY = "_imgprint_render"
BLOCKED_TYPES = frozenset({"image", "media", "font"})
QUIET_SECONDS = 0.5  # as Playwright's "networkidle"
GRACE_SECONDS = 5.0  # for the last evaluation once the wait budget is spent

SCROLL_STEP = """async () => {
  window.scrollBy(0, window.innerHeight);
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const el = document.scrollingElement || document.documentElement;
  return [window.scrollY + window.innerHeight >= el.scrollHeight - 2, el.scrollHeight];
}"""
PAGE_HEIGHT = "(document.scrollingElement || document.documentElement).scrollHeight"
DOM_SIZE = "document.documentElement.outerHTML.length"


class RenderError(Exception):
    """The page could not be rendered within its limits."""


def blocked(resource_type: str, url: str) -> bool:
    return resource_type in BLOCKED_TYPES or (
        resource_type != "document" and looks_like_image_url(url))


async def abort_request(request: Any) -> bool:
    """``PLAYWRIGHT_ABORT_REQUEST``: never let the browser download an image."""
    return blocked(request.resource_type, request.url)


@dataclass
class RenderLimits:
    wait: float  # seconds for quiet + scrolling
    scrolls: int  # most scroll steps
    max_size: int  # bytes of DOM (0: no cap)
    timeout: float  # navigation and single-step timeout, seconds
    url_limit: int = 2083  # longest image URL noted (URLLENGTH_LIMIT; 0: any)
    keep: int = 10_000  # most image URLs noted


class NetworkQuiet:
    """Counts the page's requests in flight; ``wait`` returns once none has
    been for ``QUIET_SECONDS`` (True) or the time is up (False)."""

    def __init__(self, page: Any):
        self.loop = asyncio.get_running_loop()
        self.inflight = 0
        self.last = self.loop.time()
        self.changed = asyncio.Event()
        page.on("request", self._started)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)

    def _started(self, _: Any) -> None:
        self.inflight += 1
        self.last = self.loop.time()
        self.changed.set()

    def _ended(self, _: Any) -> None:
        self.inflight -= 1
        self.last = self.loop.time()
        self.changed.set()

    async def wait(self, timeout: float) -> bool:
        deadline = self.loop.time() + timeout
        while True:
            now = self.loop.time()
            if self.inflight <= 0 and now - self.last >= QUIET_SECONDS:
                return True
            if now >= deadline:
                return False
            wake = deadline if self.inflight > 0 else min(deadline, self.last + QUIET_SECONDS)
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), max(0.01, wake - now))
            except TimeoutError:
                pass


@dataclass(eq=False)
class RenderJob:
    url: str  # the page, after redirects
    body: bytes  # its static HTML, as fetched
    encoding: str  # as Scrapy decoded it
    limits: RenderLimits | None = None
    seed_hosts: frozenset[str] = frozenset()
    guard: bool = True
    requested: list[str] = field(default_factory=list)  # image URLs the page asked for
    too_long: int = 0  # image URLs over the limit, not noted
    aborted: int = 0
    refused: list[str] = field(default_factory=list)
    scroll_capped: bool = False
    crashed: bool = False  # the renderer died (IMGPRINT_RENDER_MEMORY, most likely)
    busy: float = 0.0  # seconds from page set-up to the end of settle
    _ready: bool = False
    _answered: bool = False
    _quiet: NetworkQuiet | None = None

    # -- scrapy-playwright's page init callback ----------------------------------
    async def init_page(self, page: Any, request: Any) -> None:
        assert self.limits is not None
        self.busy = -asyncio.get_running_loop().time()
        page.set_default_timeout(self.limits.timeout * 1000)
        page.set_default_navigation_timeout(self.limits.timeout * 1000)
        self._quiet = NetworkQuiet(page)
        page.on("crash", self._crashed)
        # Routes registered later run first: this one before scrapy-playwright's.
        await page.route("**", self._route)
        self._ready = True

    def _crashed(self, _: Any) -> None:
        self.crashed = True

    async def _route(self, route: Any, request: Any) -> None:
        url = request.url
        if self.crashed:  # a retry after the crash: not again
            await route.abort("blockedbyclient")
            return
        if (not self._answered and request.is_navigation_request()
                and request.frame.parent_frame is None):
            self._answered = True
            await route.fulfill(status=200, body=self.body, headers={
                "Content-Type": f"text/html; charset={self.encoding}"})
            return
        if blocked(request.resource_type, url):
            self.aborted += 1
            if request.resource_type == "image" or looks_like_image_url(url):
                self._note(url)
            await route.abort("blockedbyclient")
            return
        literal = ip_literal(urlsplit(url).hostname or "")
        if self.guard and literal and refusal(literal, [literal], self.seed_hosts):
            self.refused.append(url)
            await route.abort("addressunreachable")
            return
        await route.fallback()

    def _note(self, url: str) -> None:
        assert self.limits is not None
        if self.limits.url_limit and len(url) > self.limits.url_limit:
            self.too_long += 1
        elif len(self.requested) < self.limits.keep:
            self.requested.append(url)

    # -- a scrapy-playwright PageMethod, after load ------------------------------
    async def settle(self, page: Any) -> None:
        if not self._ready or self._quiet is None or self.limits is None:
            raise RenderError("the page could not be set up (see the warning above)")
        limits, quiet = self.limits, self._quiet
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limits.wait

        def left() -> float:
            return max(0.0, deadline - loop.time())

        await quiet.wait(left())
        steps, done = 0, limits.scrolls == 0
        while not done and steps < limits.scrolls and left() > 0:
            bottom, height = await asyncio.wait_for(page.evaluate(SCROLL_STEP),
                                                    left() + GRACE_SECONDS)
            steps += 1
            if bottom:
                await quiet.wait(left())
                grown = await asyncio.wait_for(page.evaluate(PAGE_HEIGHT), GRACE_SECONDS)
                done = grown <= height
        self.scroll_capped = not done
        await quiet.wait(left())
        size = await asyncio.wait_for(page.evaluate(DOM_SIZE), GRACE_SECONDS)
        self.busy += loop.time()
        if limits.max_size and size > limits.max_size:
            raise RenderError(f"rendered page has {size} characters, more than"
                              f" IMGPRINT_PAGE_MAXSIZE ({limits.max_size})")
