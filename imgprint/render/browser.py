"""Which Chromium the render handler launches, and with which flags.

Debian's ``chromium`` package (``apt-get install chromium``), never Playwright's
own download: ``playwright install`` fetches a browser from a CDN, which fails
on a machine without internet access. ``PLAYWRIGHT_LAUNCH_OPTIONS`` is honoured;
without an ``executable_path`` in it, the first of ``CANDIDATES`` that exists
is used, and none at all is a ``ChromiumMissing`` error (a ``ConfigError``:
``scrapy crawl`` reports it in one line, exit status 2, before any request).

The flags keep a headless Chromium quiet on a closed network (no background
networking, component updates, sync or QUIC), keep WebRTC from opening UDP
sockets around the proxy, and map every ``.onion`` name to "not found" in
Chromium's own resolver: onion names only ever travel to a Tor SOCKS proxy
(which resolves them itself), never to a local DNS lookup.

``IMGPRINT_RENDER_MEMORY`` bounds each renderer process (where a page's script
runs): Chromium starts renderers through ``prlimit --data=N``
(``--renderer-cmd-prefix``; util-linux), so everything a renderer maps
writable (JS heap, array buffers, DOM, WebAssembly memory) is under
``RLIMIT_DATA``; past it the renderer crashes, or an allocation fails in the
page's script. The V8 heap alone (``--js-flags=--max-old-space-size``, also
set, to half of N) would not do: 2 GB of ``Uint8Array`` passed a 512 MB heap
flag. Where ``prlimit`` is missing (not Linux) only the heap flag applies.
About 200 MB of N go to the renderer itself: at 512 MiB a page's script gets
~320 MB of heap, at 1 GiB ~740 MB.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from typing import Any

from imgprint.config import ConfigError

CANDIDATES = (
    "/usr/lib/chromium/chromium",  # Debian: the binary behind /usr/bin/chromium
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",  # Ubuntu's name (a snap wrapper there)
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
)
FLAGS = (
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--host-resolver-rules=MAP *.onion ~NOTFOUND",
)
INSTALL_HINT = (
    "install Chromium (Debian/Ubuntu: `apt-get install chromium`; macOS: `brew install"
    " --cask chromium`) or set PLAYWRIGHT_LAUNCH_OPTIONS={\"executable_path\": ...};"
    " do not run `playwright install`"
)


logger = logging.getLogger(__name__)


class ChromiumMissing(ConfigError):
    """Rendering is on and no Chromium can be found."""


def find_chromium(configured: str | None = None) -> str:
    """The Chromium binary to launch: ``configured``, or the first candidate found."""
    if configured:
        if not os.access(configured, os.X_OK):
            raise ChromiumMissing(f"IMGPRINT_RENDER: {configured!r} (PLAYWRIGHT_LAUNCH_OPTIONS"
                                  f" executable_path) is not an executable; {INSTALL_HINT}")
        return configured
    for path in CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    raise ChromiumMissing(f"IMGPRINT_RENDER: rendering needs Chromium and none was found"
                          f" ({', '.join(CANDIDATES[:2])}); {INSTALL_HINT}")


def memory_flags(limit: int) -> list[str]:
    """Chromium flags bounding each renderer to ``limit`` bytes (0: none)."""
    if not limit:
        return []
    flags = [f"--js-flags=--max-old-space-size={limit // 2 // 2**20}"]
    prlimit = shutil.which("prlimit")
    if prlimit and not any(c.isspace() for c in prlimit):  # Chromium splits the prefix
        flags.append(f"--renderer-cmd-prefix={prlimit} --data={limit}")
    else:
        logger.warning("IMGPRINT_RENDER_MEMORY: prlimit (util-linux) not found: only the"
                       " JavaScript heap of a rendered page is limited")
    return flags


def launch_options(configured: dict[str, Any] | None, memory: int = 0) -> dict[str, Any]:
    """``PLAYWRIGHT_LAUNCH_OPTIONS`` with the executable found and imgprint's flags
    (with the renderers' memory limit) before any ``args`` of the user's (a
    later flag wins in Chromium)."""
    options = dict(configured or {})
    options["executable_path"] = find_chromium(options.get("executable_path"))
    options.setdefault("headless", True)
    options["args"] = [*FLAGS, *memory_flags(memory), *(options.get("args") or [])]
    return options


def check_can_render(configured: dict[str, Any] | None) -> None:
    """Raise ``ConfigError`` unless scrapy-playwright and a Chromium are there."""
    for module in ("scrapy_playwright", "playwright"):
        if importlib.util.find_spec(module) is None:
            raise ConfigError(f"IMGPRINT_RENDER: the {module} package is missing"
                              " (pip install -r requirements.txt)")
    launch_options(configured)
