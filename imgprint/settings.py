"""Scrapy settings for imgprint (this project: ``scrapy crawl images``).

imgprint's own settings (``IMGPRINT_*``, ``TOR_*``) and the components it plugs
into Scrapy have their defaults in ``imgprint.defaults``, which the add-on
(``imgprint.addon``) reads too; what follows them here is this project's own.
Every ``IMGPRINT_*`` and ``TOR_*`` setting is documented in docs/settings.md
("Settings") and checked once, before the crawl starts, by ``imgprint.config``.
"""

from imgprint import defaults
from imgprint.defaults import *  # noqa: F403 - imgprint's defaults, shared with the add-on
from imgprint.items import FIELDS

BOT_NAME = "imgprint"
SPIDER_MODULES = ["imgprint.spiders"]
NEWSPIDER_MODULE = "imgprint.spiders"
COMMANDS_MODULE = "imgprint.commands"

# --- Output -----------------------------------------------------------------
# Column order (CSV); the fetched bytes are never a field (imgprint.items).
FEED_EXPORT_FIELDS = FIELDS
FEED_EXPORT_ENCODING = "utf-8"
# U+2028/U+2029/U+0085 written as escapes: a feed line is one line for every reader;
# CSV cells that would start a formula (=, +, -, @, tab, CR) get a leading '.
FEED_EXPORTERS = {
    "jsonlines": "imgprint.exporters.JsonLinesExporter",
    "jsonl": "imgprint.exporters.JsonLinesExporter",
    "jl": "imgprint.exporters.JsonLinesExporter",
    "json": "imgprint.exporters.JsonExporter",
    "csv": "imgprint.exporters.CsvExporter",
}

# --- Downloader ---------------------------------------------------------------
# DOWNLOADER, DOWNLOADER_MIDDLEWARES, TWISTED_DNS_RESOLVER and TWISTED_REACTOR
# come from imgprint.defaults.
# Scrapy's UrlLengthMiddleware logs whole URLs (a page can make that 10 MB);
# this one logs their first characters (imgprint.middlewares.urllength).
SPIDER_MIDDLEWARES = {
    "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": None,
    # A warning for spiders that copy response.meta into new requests, which
    # the images spider never does: a pass of every record and request less.
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,
    "imgprint.middlewares.urllength.BoundedUrlLengthMiddleware": 800,
}
# Scrapy's middlewares that do nothing for the images spider still cost every
# request a pass through them (docs/benchmarks.md, "CPU per image"): no
# allowed_domains (images live on any host), no http_user/http_pass. Project
# only: the add-on leaves a user's project its own.
DOWNLOADER_MIDDLEWARES = {
    **defaults.DOWNLOADER_MIDDLEWARES,
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
    "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": None,
}
# Scrapy's in-memory stats without a wrapper around every call (imgprint.stats).
STATS_CLASS = "imgprint.stats.StatsCollector"
ITEM_PIPELINES = {
    "imgprint.pipelines.FingerprintPipeline": 300,
}

# Retries wait here, not in a download slot; with JOBDIR, pending requests live
# in memory and imgprint.resume makes a killed crawl resumable.
SCHEDULER = "imgprint.scheduler.Scheduler"
EXTENSIONS = {
    # After FeedExporter (0): it reads the feed files that exporter opened.
    "imgprint.resume.extension.ResumeExtension": 500,
    # A progress line with pages, images, rate, bytes and errors instead of
    # LogStats' "Crawled N pages"; the records' tally for the closing summary.
    "scrapy.extensions.logstats.LogStats": None,
    "imgprint.extensions.progress.Progress": 510,
    # A feed that could not be written makes `scrapy crawl` exit 4.
    "imgprint.extensions.feedwatch.FeedWatch": 520,
}

ROBOTSTXT_OBEY = False
# Enough requests in flight to fill a slow link with round trips (measured:
# docs/benchmarks.md, "Defaults"). Both limits hold per site since
# imgprint.scrapy_internals.Downloader. Lower them, or use AUTOTHROTTLE_ENABLED, for
# small servers.
CONCURRENT_REQUESTS = 64
CONCURRENT_REQUESTS_PER_DOMAIN = 64
DOWNLOAD_TIMEOUT = 30
RETRY_ENABLED = True
RETRY_TIMES = 2
REDIRECT_MAX_TIMES = 10
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
# Each image answer yields one record: Scrapy's default of 100 makes the asyncio
# reactor start 100 tasks per response, CPU for nothing (docs/benchmarks.md).
CONCURRENT_ITEMS = 1
# Scrapy's remote-control endpoint (on by default in 2.19) costs start-up time
# and a token file; turn it on with -s REMOTE_CONTROL_ENABLED=true when wanted.
REMOTE_CONTROL_ENABLED = False
LOG_LEVEL = "INFO"
# Quiet start-up: no version dump (Scrapy's component lists and overridden
# settings go to DEBUG, imgprint.logquiet).
LOG_VERSIONS: list[str] = []

# --- Tor and network safety ---
# See imgprint/handlers/tor.py, imgprint/middlewares/tor.py and
# imgprint/middlewares/netguard.py (and docs/tor.md).
DOWNLOAD_HANDLERS = {
    **defaults.DOWNLOAD_HANDLERS,
    # Only http(s) is ever fetched.
    "file": None,
    "ftp": None,
    "s3": None,
}

# --- Shared frontier on Redis (imgprint.frontier, docs/scaling.md) ---
# After FeedExporter (0): it commits records that exporter has written.
EXTENSIONS["imgprint.frontier.worker.FrontierWorker"] = 530
