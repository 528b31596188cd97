"""Scrapy settings for imgprint.

Every ``IMGPRINT_*`` setting is documented in README.md ("Settings"); each one
can also be overridden for a single request through ``request.meta`` under the
lower-case name given there.
"""

from imgprint.items import FIELDS

BOT_NAME = "imgprint"
SPIDER_MODULES = ["imgprint.spiders"]
NEWSPIDER_MODULE = "imgprint.spiders"
COMMANDS_MODULE = "imgprint.commands"

# --- What imgprint fetches -------------------------------------------------
IMGPRINT_URLS_FILE = "urls.txt"
# Bytes of the first ranged GET: the seed tool asked for `bytes=0-10240`.
IMGPRINT_RANGE_BYTES = 10241
# Images below this size get a record without fingerprint or EXIF.
IMGPRINT_MIN_SIZE = 20480
# "range": one ranged GET per image, size from Content-Range.
# "head": HEAD first, then the ranged GET only for images >= IMGPRINT_MIN_SIZE.
IMGPRINT_FETCH_MODE = "range"

# --- Output -----------------------------------------------------------------
# The feed used when no -o/-O (or FEEDS) is given; empty string: none.
IMGPRINT_DEFAULT_FEED = "output/images-%(time)s.jsonl"
# Also a guard: internal item keys (the fetched bytes) can never be exported.
FEED_EXPORT_FIELDS = FIELDS
FEED_EXPORT_ENCODING = "utf-8"

# --- Downloader ---------------------------------------------------------------
DOWNLOADER_MIDDLEWARES = {
    # After RedirectMiddleware (600) on the way out, before
    # HttpCompressionMiddleware (590) on the way back.
    "imgprint.rangefetch.RangeFetchMiddleware": 650,
}
ITEM_PIPELINES = {
    "imgprint.pipelines.FingerprintPipeline": 300,
}

ROBOTSTXT_OBEY = False
CONCURRENT_REQUESTS = 32
CONCURRENT_REQUESTS_PER_DOMAIN = 16
DOWNLOAD_TIMEOUT = 30
RETRY_ENABLED = True
RETRY_TIMES = 2
REDIRECT_MAX_TIMES = 10
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "INFO"
