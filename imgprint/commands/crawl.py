"""``scrapy crawl``, exiting non-zero when a spider could not start its work.

Scrapy's own command only fails when the spider cannot be built; an unreadable
URL file is found later, in ``start()``, and is reported there as one log line.
"""

from __future__ import annotations

import argparse

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError


class Command(ScrapyCrawlCommand):
    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            raise UsageError("running 'scrapy crawl' needs exactly one spider")
        assert self.crawler_process
        crawler = self._create_crawler(args[0])
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        if self.crawler_process.bootstrap_failed:
            self.exitcode = 1
        elif getattr(crawler.spider, "fatal", None):
            self.exitcode = 2
