"""What ``scrapy crawl`` checks before a worker joins a shared crawl
(``IMGPRINT_REDIS_URL``); each problem is a ``ConfigError`` (exit status 2).

* no ``JOBDIR``: the frontier in Redis is the job's state; a job directory's
  resume journal would replay requests other workers have done;
* no rendering (``IMGPRINT_RENDER``/``-a render``): a rendered page is finished
  by a second request that must come back to the same worker;
* ``IMGPRINT_REDIS_RETRY`` under two thirds of ``IMGPRINT_REDIS_LEASE``: a worker
  blocked on an unreachable Redis cannot renew its leases (renewed every third
  of the lease), and they must not expire before it gives up;
* Redis answers ``PING`` at ``IMGPRINT_REDIS_URL`` (one try, 5 s);
* the crawl ``IMGPRINT_REDIS_CRAWL`` is not finished: rerunning a finished
  crawl would record nothing, so it is refused with a message naming it and
  how to start a new one.
"""

from __future__ import annotations

from typing import Any

from imgprint.config import Config, ConfigError


def check_shared_crawl(settings: Any, config: Config, render: str | None = None) -> None:
    if settings.get("JOBDIR"):
        raise ConfigError("JOBDIR and IMGPRINT_REDIS_URL: a shared crawl keeps its state in"
                          " Redis; leave out JOBDIR (docs/scaling.md)")
    if (render or config.render) != "off":
        raise ConfigError("IMGPRINT_RENDER (or -a render) and IMGPRINT_REDIS_URL: rendering"
                          " is not supported on a shared frontier yet")
    if config.redis_retry >= config.redis_lease * 2 / 3:
        raise ConfigError(
            f"IMGPRINT_REDIS_RETRY: {config.redis_retry:g} s is too long for"
            f" IMGPRINT_REDIS_LEASE={config.redis_lease:g}: a worker waiting that long for"
            " Redis would let its leases expire; keep it under two thirds of the lease")
    from imgprint.frontier.store import check_frontier

    check_frontier(config)
