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
"""

from __future__ import annotations

import importlib.util
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


def launch_options(configured: dict[str, Any] | None) -> dict[str, Any]:
    """``PLAYWRIGHT_LAUNCH_OPTIONS`` with the executable found and imgprint's flags
    before any ``args`` of the user's (a later flag wins in Chromium)."""
    options = dict(configured or {})
    options["executable_path"] = find_chromium(options.get("executable_path"))
    options.setdefault("headless", True)
    options["args"] = [*FLAGS, *(options.get("args") or [])]
    return options


def check_can_render(configured: dict[str, Any] | None) -> None:
    """Raise ``ConfigError`` unless scrapy-playwright and a Chromium are there."""
    for module in ("scrapy_playwright", "playwright"):
        if importlib.util.find_spec(module) is None:
            raise ConfigError(f"IMGPRINT_RENDER: the {module} package is missing"
                              " (pip install -r requirements.txt)")
    launch_options(configured)
