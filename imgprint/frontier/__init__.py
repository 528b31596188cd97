"""A shared frontier on Redis: any number of ``scrapy crawl images`` workers, on
any number of machines, crawl one collection (``IMGPRINT_REDIS_URL``;
docs/scaling.md).

Without the setting nothing here is loaded and ``redis`` is never imported:
the crawl is one process with its frontier in memory, as always.

* ``store``: the crawl's state in Redis (queue, leases, the image -> pages
  lists, the recorded set, seed hosts) and the Lua scripts (``scripts``) that
  change it atomically; the only module that imports ``redis``.
* ``scheduler``: imgprint's scheduler over the Redis queue; requests are leased.
* ``spider``: what the images spider does differently with a shared frontier.
* ``worker``: the extension that renews leases, commits written records, keeps
  an idle worker open while others hold work, and marks the crawl finished.

Wiring happens in one place, ``configure``, called by the spider's
``update_settings``.
"""

from __future__ import annotations

import os
import socket
from typing import Any

# Request meta: the id of the frontier lease this request is covered by.
LEASE_KEY = "imgprint_lease"
# Attribute of an ImageRecord whose writing completes a lease:
# (image URL, pages taken, lease id).
OWED_ATTR = "_imgprint_owed"
SCHEDULER = "imgprint.frontier.scheduler.RedisScheduler"


def worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def is_on(settings: Any) -> bool:
    return bool(str(settings.get("IMGPRINT_REDIS_URL") or "").strip())


def configure(settings: Any) -> None:
    """Switch a crawl's settings to the shared frontier."""
    settings.set("SCHEDULER", SCHEDULER, priority="spider")


def worker_feed(uri: str) -> str:
    """The default feed of one worker: workers started in the same second must
    not write the same ``%(time)s`` file."""
    stem, dot, suffix = uri.rpartition(".")
    if not dot or "/" in suffix:
        return f"{uri}-{worker_name()}"
    return f"{stem}-{worker_name()}.{suffix}"
