"""What ``scrapy crawl`` checks before a worker joins a shared crawl
(``IMGPRINT_REDIS_URL``); each problem is a ``ConfigError`` (exit status 2).

* no ``JOBDIR``: the frontier in Redis is the job's state; a job directory's
  resume journal would replay requests other workers have done;
* no rendering (``IMGPRINT_RENDER``/``-a render``): a rendered page is finished
  by a second request that must come back to the same worker;
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
    from imgprint.frontier.store import check_frontier

    check_frontier(config)
