"""imgprint's defaults: its own settings and the Scrapy components it plugs in.

Read by both places imgprint runs from: the project's settings module
(``imgprint.settings``, ``scrapy crawl images`` from this checkout) and the
add-on (``imgprint.addon.Addon``, any Scrapy project), so each default lives
here once. Every ``IMGPRINT_*`` and ``TOR_*`` setting is documented in
docs/settings.md and checked once by ``imgprint.config``; a new one gets its
default here (tests/test_addon_unit.py fails otherwise).

The uppercase names below are Scrapy settings; ``imgprint.settings`` takes
them all (``from imgprint.defaults import *``). This module imports nothing, so
that import brings no other name along.
"""

# --- What imgprint fetches -------------------------------------------------
IMGPRINT_URLS_FILE = "urls.txt"
# Bytes of the first ranged GET: the seed tool asked for `bytes=0-10240`.
IMGPRINT_RANGE_BYTES = 10241
# Images below this size get a record without fingerprint or EXIF.
IMGPRINT_MIN_SIZE = 20480
# "range": one ranged GET per image, size from Content-Range.
# "head": HEAD first, then the ranged GET only for images >= IMGPRINT_MIN_SIZE.
IMGPRINT_FETCH_MODE = "range"
# Seed pages wait while more image requests than this are pending (0: no limit).
IMGPRINT_MAX_PENDING_IMAGES = 2000
# Follow-up Range requests per image past the first bytes (imgprint.fetch.loop):
# metadata first, the hash inputs riding along or taking what is left, so an
# image costs at most 4 requests (the measurements behind 3 + 0:
# docs/benchmarks.md, "Defaults").
IMGPRINT_FOLLOWUPS = 3
IMGPRINT_FOLLOWUP_BYTES = 262144
# Most bytes of the speculative window the metadata's last follow-up may add:
# the rest of a multi-page TIFF's page chain, from its first unread IFD to the
# end of the file, when the chain's stride says more pages follow (0: none):
# off by default, the byte goal wins (docs/benchmarks.md, "Defaults").
IMGPRINT_FOLLOWUP_AHEAD_BYTES = 0
# Several ranges in one follow-up (Range: bytes=a-b,c-d): needed spans too far
# apart to share a range, and small windows at a multi-page TIFF's predicted
# page IFDs (only for a chain of like strides). A host whose answer to one does
# not hold every range asked for gets no more of them (docs/benchmarks.md,
# "Defaults").
IMGPRINT_MULTI_RANGE = True
# Follow-ups past IMGPRINT_FOLLOWUPS for the content hash and phash inputs alone
# (none when IMGPRINT_FOLLOWUPS is 0).
IMGPRINT_HASH_FOLLOWUPS = 0
# content_sha256 covers this many bytes of coded image data (docs/fingerprints.md);
# 0: no content hash. Hashes made with different values never match.
IMGPRINT_CONTENT_BYTES = 4096
# Most bytes of a progressive JPEG's first scan fetched and decoded for phash;
# 0: phash from EXIF thumbnails only (65536 left the first scans of 7 of 112
# progressive copies of corpus photos unread; docs/fingerprints.md).
IMGPRINT_PHASH_SCAN_BYTES = 262144
# The perceptual hash's top band (docs/fingerprints.md): rows [0, ceil(f x
# height)) of the picture, decoded from the first coded bytes of a baseline
# JPEG, PNG or WebP (phash_band); 0: no band. Band hashes made with different
# values never match: keep it fixed across crawls that are compared.
IMGPRINT_PHASH_BAND = 0.2
# Most bytes fetched for the band of one image, besides IMGPRINT_FOLLOWUP_BYTES
# (0: none fetched; a band held anyway is still hashed). The measurements
# behind both: docs/fingerprints.md.
IMGPRINT_PHASH_BAND_BYTES = 1572864
# Worker processes for the CPU work of images: format walks, EXIF, hashing,
# decoding (imgprint.workers). 0: one per CPU core; 1: none, that work runs on
# IMGPRINT_PHASH_WORKERS threads in the crawl's own process.
IMGPRINT_PROCESSES = 0
# Threads for that work when IMGPRINT_PROCESSES is 1.
IMGPRINT_PHASH_WORKERS = 2
# Characters kept of each text metadata value (XMP, IPTC, ICC description, PNG
# text, comments, UserComment), 16 to 8192; longer ones end in "…truncated".
IMGPRINT_METADATA_MAX_CHARS = 2000

# Render pages in headless Chromium (imgprint.render): "off", "on", or "auto"
# (only pages whose static HTML looks script-built); also -a render=...
IMGPRINT_RENDER = "off"
# Pages open at once per browser context (~410 MB Chromium at 1, ~565 MB at ~10).
IMGPRINT_RENDER_PAGES = 4
# Seconds a rendered page may spend scrolling and waiting for the network to go quiet.
IMGPRINT_RENDER_WAIT = 5
# Most viewport-high scroll steps per page (bounds infinite scroll; 0: no scrolling).
IMGPRINT_RENDER_SCROLLS = 20
# Bytes each Chromium renderer may map (RLIMIT_DATA through prlimit; 0: no limit,
# else at least 256 MiB). A page's script gets ~200 MB less: ~320 MB of heap at
# 512 MiB. Past it the render is aborted and recorded; the crawl goes on.
IMGPRINT_RENDER_MEMORY = 512 * 1024 * 1024

# --- Items with image_urls (imgprint.imageurls, the add-on's pipeline) ---------
# The item field holding image URLs, and the one that gets a record per URL:
# ImagesPipeline's names (IMAGES_URLS_FIELD, IMAGES_RESULT_FIELD).
IMGPRINT_IMAGES_URLS_FIELD = "image_urls"
IMGPRINT_IMAGES_RESULT_FIELD = "images"

# --- Output (the images spider's) ---------------------------------------------
# The feed used when no -o/-O (or FEEDS) is given; empty string: none.
IMGPRINT_DEFAULT_FEED = "output/images-%(time)s.jsonl"
# Seconds between progress lines (0: none); a live bar on a terminal's stderr.
IMGPRINT_PROGRESS_INTERVAL = 10
IMGPRINT_PROGRESS_BAR = True

# --- Retries ---------------------------------------------------------------------
# The pause before retry n: base * 2 ** (n - 1) s, or the answer's Retry-After,
# capped (imgprint.middlewares.retry; the pause is kept by imgprint.scheduler).
IMGPRINT_RETRY_BACKOFF_BASE = 0.5
IMGPRINT_RETRY_BACKOFF_MAX = 30

# --- Tor and network safety ---
# See imgprint/handlers/tor.py, imgprint/middlewares/tor.py and
# imgprint/middlewares/netguard.py (and docs/tor.md).
TOR_PROXIES = ["socks5h://127.0.0.1:9050"]
TOR_ALL = False
TOR_USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
# Onion services are slow: a first circuit alone can take 30 s or more.
TOR_DOWNLOAD_TIMEOUT = 120
TOR_RETRY_TIMES = 3
TOR_CONCURRENCY_PER_HOST = 4
TOR_MIDDLEWARE_ENABLED = True
IMGPRINT_NETGUARD_ENABLED = True
IMGPRINT_GUARD_PRIVATE = True
IMGPRINT_PAGE_MAXSIZE = 10 * 1024 * 1024
# Hostile pages (docs/reliability.md): most image URLs taken from one page,
# most pages scheduled per crawl depth past the seeds (0: no cap), and most
# requests of one site in the downloader at once (imgprint.scheduler; 0: no cap).
IMGPRINT_MAX_IMAGES_PER_PAGE = 1000
IMGPRINT_MAX_PAGES_PER_DEPTH = 1000
# Most pages a record lists, and a pending image holds in memory; more go to
# seen_before sightings (imgprint.items.split_pages). 100 page URLs of at most
# URLLENGTH_LIMIT (2,083) characters are 208 KB: with the record's own 256 KiB,
# a line stays under 0.5 MB; at 100 bytes a URL, 10 KB.
IMGPRINT_MAX_PAGES_PER_RECORD = 100
IMGPRINT_MAX_PER_SITE = 16
# --- Shared frontier on Redis (imgprint.frontier, docs/scaling.md) ---
# Empty: one process, frontier in memory (no Redis). Else every `scrapy crawl
# images` with the same URL and IMGPRINT_REDIS_CRAWL is a worker of one crawl.
IMGPRINT_REDIS_URL = ""
IMGPRINT_REDIS_CRAWL = "images"
# Seconds a worker holds a request without renewing its lease (it renews every
# third of this); a dead worker's requests go back to the queue after it.
IMGPRINT_REDIS_LEASE = 60
# Seconds a worker keeps retrying an unreachable Redis before it stops.
IMGPRINT_REDIS_RETRY = 30
# --- The Scrapy components imgprint plugs in -------------------------------------
# Scrapy's downloader, with CONCURRENT_REQUESTS_PER_DOMAIN actually enforced and
# an image's follow-ups counted with the image (imgprint.scrapy_internals).
DOWNLOADER = "imgprint.scrapy_internals.Downloader"
DOWNLOADER_MIDDLEWARES = {
    # Scrapy's retry decisions, plus a bounded pause before each retry, which
    # imgprint.scheduler keeps (the add-on swaps these two only with that scheduler).
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "imgprint.middlewares.retry.BackoffRetryMiddleware": 550,
    # Before DownloadTimeoutMiddleware (350): Tor defaults are set first.
    "imgprint.middlewares.tor.TorMiddleware": 340,
    # Redirect targets are new requests: they pass the guard too.
    "imgprint.middlewares.netguard.NetGuardMiddleware": 640,
    # After RedirectMiddleware (600) on the way out, before
    # HttpCompressionMiddleware (590) on the way back.
    "imgprint.middlewares.imagefetch.ImageFetchMiddleware": 650,
}
# http(s) through imgprint's handler: Tor requests over SOCKS5, the rest over
# Scrapy's HTTP/1.1 handler (imgprint.handlers.tor).
DOWNLOAD_HANDLERS: dict[str, str | None] = {
    "http": "imgprint.handlers.tor.TorDownloadHandler",
    "https": "imgprint.handlers.tor.TorDownloadHandler",
}
# The guard again at connect time: the address checked is the address connected
# to, whatever a second DNS answer says (imgprint.resolver).
TWISTED_DNS_RESOLVER = "imgprint.resolver.GuardedResolver"
# Scrapy's default, which imgprint needs: its download handler and its
# components run on asyncio (httpx for Tor, asyncio tasks and events).
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
