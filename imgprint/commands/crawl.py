"""``scrapy crawl``, refusing bad configuration before the first request.

Before the crawl starts it checks every ``IMGPRINT_*``/``TOR_*`` setting
(``imgprint.config``), the spider's ``-a`` arguments, that Chromium and
scrapy-playwright are there when pages are rendered (``imgprint.render.browser``)
and, with ``JOBDIR``, the feeds resume needs (``imgprint.resume``): a problem
is one line on stderr and exit status 2, and no request is sent. Afterwards it
exits 1 when Scrapy could not start the crawl and 2 when the spider could not
start its work (an unreadable URL file, found in ``start()``).
"""

from __future__ import annotations

import argparse
import sys

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError

from imgprint.config import Config, ConfigError, check_spider_args
from imgprint.render.browser import check_can_render
from imgprint.resume import check_jobdir_feeds


class Command(ScrapyCrawlCommand):
    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            raise UsageError("running 'scrapy crawl' needs exactly one spider")
        assert self.crawler_process
        crawler = self._create_crawler(args[0])
        try:
            config = Config.from_settings(crawler.settings)
            if crawler.spidercls.name == "images":
                render = check_spider_args(opts.spargs).render or config.render
                if render != "off":
                    check_can_render(crawler.settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS"))
            check_jobdir_feeds(crawler.settings)
        except ConfigError as exc:
            print(f"imgprint: {exc}", file=sys.stderr)
            self.exitcode = 2
            return
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        if self.crawler_process.bootstrap_failed:
            self.exitcode = 1
        elif getattr(crawler.spider, "fatal", None):
            self.exitcode = 2
