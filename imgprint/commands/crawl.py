"""``scrapy crawl``: refuse bad configuration before the first request, exit with
a status that says how the crawl went, and end with a summary a person reads.

Exit status (docs/operating.md, "Exit status"; when several apply, the lowest):

==  ==========================================================================
0   the crawl ran and its feeds were written (a crawl stopped with Ctrl-C or
    SIGTERM, feeds flushed, is 0 too: the summary says how to resume it)
1   Scrapy could not start the crawl (a component failed to load)
2   refused before the first request, nothing written: a bad setting or ``-a``
    argument, a URL file that is missing, unreadable or has no URL, a feed that
    cannot be written (storage disabled, e.g. ``s3://`` without boto3; a
    missing bucket; a path where no file can be created), feeds a ``JOBDIR``
    cannot resume from
3   every seed failed (no answer, or an HTTP error), so nothing was crawled
4   a feed could not be stored (an upload or a write failed): records lost
5   a worker of a shared crawl lost Redis for longer than
    ``IMGPRINT_REDIS_RETRY`` and stopped (``imgprint.frontier``)
==  ==========================================================================

The console is quiet at ``LOG_LEVEL = INFO``: the component lists and the
overridden settings Scrapy logs are shown at ``DEBUG`` only, and so is its
stats dump when the log goes to a terminal (``imgprint.logquiet``); the summary
says what was crawled, what failed and what the depth limit left out
(``imgprint.extensions.tally``; this command attaches its ``LinksNotFollowed``,
which sets the stats key ``imgprint/links/not_followed``).
Above ``DEBUG``, Scrapy's per-response and per-item DEBUG lines ("Crawled
(206) ...", "Scraped from ...") are not even made (``skip_per_request_debug``):
the root logger passes everything to the handler, which drops them, after a
log record was built for each (~1 % of a crawl's CPU).

Rendering (``IMGPRINT_RENDER``/``-a render`` not ``off``) also needs Chromium and
scrapy-playwright: checked here too (``imgprint.render.browser``), exit 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.exceptions import UsageError
from scrapy.settings import SETTINGS_PRIORITIES

from imgprint.config import Config, ConfigError, check_spider_args
from imgprint.extensions.feedwatch import FeedWatch
from imgprint.extensions.progress import Progress
from imgprint.extensions.tally import LinksNotFollowed, resume_command, summary_lines
from imgprint.frontier.state import CrawlState
from imgprint.logquiet import quiet_startup
from imgprint.preflight import check_feeds, check_seeds, redacted
from imgprint.render.browser import check_can_render
from imgprint.resume import check_jobdir_feeds
from imgprint.resume.feeds import local_path

EXIT_OK, EXIT_NOT_STARTED, EXIT_REFUSED, EXIT_NO_SEED, EXIT_FEED = 0, 1, 2, 3, 4
EXIT_FRONTIER_LOST = 5
logger = logging.getLogger("imgprint.summary")


def extension(crawler: Any, cls: type) -> Any:
    """The crawler's instance of extension ``cls``, or None when it is off."""
    manager = getattr(crawler, "extensions", None)
    for ext in getattr(manager, "middlewares", ()):
        if isinstance(ext, cls):
            return ext
    return None


#: Scrapy components that are off unless a setting turns them on (they raise
#: NotConfigured), with that setting. Scrapy imports every component named in
#: a component dictionary, even one set to None, only to find it off: ~125 ms
#: of start-up (aiohttp for RemoteControl, tldextract for cookies,
#: twisted.conch for the telnet console). While their setting is off they are
#: taken out of Scrapy's ``*_BASE`` dictionary; turning it on brings them back.
SWITCHED_OFF = {
    "EXTENSIONS_BASE": {"scrapy.extensions.remote_control.RemoteControl": "REMOTE_CONTROL_ENABLED",
                        "scrapy.extensions.telnet.TelnetConsole": "TELNETCONSOLE_ENABLED"},
    "DOWNLOADER_MIDDLEWARES_BASE": {
        "scrapy.downloadermiddlewares.cookies.CookiesMiddleware": "COOKIES_ENABLED"},
}


def skip_switched_off(settings: Any) -> None:
    """Take the components of ``SWITCHED_OFF`` whose setting is off out of the crawl."""
    for base, switches in SWITCHED_OFF.items():
        off = {path for path, switch in switches.items() if not settings.getbool(switch)}
        components = settings.getdict(base)
        if off & components.keys():
            # Above the process's own settings, which Scrapy merges into the
            # crawler's again when the crawl starts.
            priority = max(settings.getpriority(base) or 0, SETTINGS_PRIORITIES["cmdline"])
            settings.set(base, {k: v for k, v in components.items() if k not in off},
                         priority=priority)


#: Loggers with a DEBUG line for every response or record.
PER_REQUEST_LOGGERS = ("scrapy.core.engine", "scrapy.core.scraper")


def skip_per_request_debug(settings: Any) -> None:
    """Give the per-request loggers the crawl's LOG_LEVEL when it is above DEBUG."""
    if not settings.getbool("LOG_ENABLED"):
        return  # the user's own logging: leave it alone
    level = logging.getLevelName(str(settings.get("LOG_LEVEL", "DEBUG")).upper())
    if isinstance(level, int) and level > logging.DEBUG:
        for name in PER_REQUEST_LOGGERS:
            logging.getLogger(name).setLevel(level)


def check_before_crawl(crawler: Any, spargs: dict[str, Any]) -> Config:
    """Every check made before the first request: settings, ``-a`` arguments,
    seeds, the browser, feeds, the shared frontier; ConfigError names the first
    problem."""
    config = Config.from_settings(crawler.settings)
    if crawler.spidercls.name == "images":
        spider_args = check_spider_args(spargs)
        check_seeds(spider_args, config)
        if (spider_args.render or config.render) != "off":
            check_can_render(crawler.settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS"))
    check_jobdir_feeds(crawler.settings)
    check_feeds(crawler)
    if config.redis_url:
        from imgprint.frontier.preflight import check_shared_crawl
        check_shared_crawl(crawler.settings, config, spargs.get("render"))
    return config


class Command(ScrapyCrawlCommand):
    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            raise UsageError("running 'scrapy crawl' needs exactly one spider")
        assert self.crawler_process and self.settings is not None
        # A terminal gets no stats dump; a log file or a pipe keeps it (logquiet).
        quiet_startup(console=sys.stderr.isatty() and not self.settings.get("LOG_FILE"))
        crawler = self._create_crawler(args[0])
        skip_per_request_debug(crawler.settings)
        skip_switched_off(crawler.settings)
        try:
            check_before_crawl(crawler, opts.spargs)
        except ConfigError as exc:
            print(f"imgprint: {exc}", file=sys.stderr)
            if crawler.settings.get("LOG_FILE"):  # e.g. Scrapyd's job log
                logger.error("imgprint: %s", exc)
            self.exitcode = EXIT_REFUSED
            return
        self.links = LinksNotFollowed(crawler)  # held: signals keep weak references
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        self.exitcode = self.outcome(crawler)

    def outcome(self, crawler: Any) -> int:
        """Log the summary and problems; return the exit status."""
        if self.crawler_process is not None and self.crawler_process.bootstrap_failed:
            return EXIT_NOT_STARTED
        if CrawlState.of(crawler).fatal:
            return EXIT_REFUSED
        stats = crawler.stats.get_stats()
        codes = []
        seeds = int(stats.get("imgprint/seeds", 0))
        if seeds and int(stats.get("imgprint/seeds/failed", 0)) >= seeds:
            logger.error("imgprint: every seed failed (%d of %d): exit status 3", seeds, seeds)
            codes.append(EXIT_NO_SEED)
        if stats.get("imgprint/redis/lost"):
            codes.append(EXIT_FRONTIER_LOST)
        watch = extension(crawler, FeedWatch)
        for line in watch.failures if watch else ():
            logger.error("imgprint: feed not written: %s", line)
            codes.append(EXIT_FEED)
        self.summarize(crawler, stats)
        return min(codes, default=EXIT_OK)

    def summarize(self, crawler: Any, stats: dict[str, Any]) -> None:
        progress = extension(crawler, Progress)
        if progress is None:
            return
        from imgprint.scrapy_internals import feed_uris

        feeds = []
        for uri in feed_uris(crawler):
            path = local_path(uri)
            gone = path is not None and not path.exists()
            feeds.append(redacted(uri) + (" (not written: no records)" if gone else ""))
        args = getattr(crawler.spider, "args", None)
        lines = summary_lines(progress.tally, stats, feeds, getattr(args, "depth", 0))
        if stats.get("finish_reason") == "shutdown":
            if crawler.settings.get("JOBDIR"):
                lines.append(f"stopped before the end; resume with: {resume_command(sys.argv)}")
            else:
                lines.append("stopped before the end (no JOBDIR: a rerun starts over)")
        logger.info("Summary:\n  %s", "\n  ".join(lines))
