"""A quiet console: Scrapy's long start-up lists and its closing stats dump shown
at DEBUG, not at INFO.

At ``LOG_LEVEL = INFO`` Scrapy logs the overridden settings (with the feed's
34-name field list) and every enabled extension, middleware and pipeline, about
90 lines before ``Spider opened``, and a ~40-line dump of its stats just before
imgprint's summary (which is what a user reads); with an S3 feed, botocore says
where it found credentials and endpoint for every client. ``quiet_startup()``
adds a filter to those loggers that lowers these records to DEBUG: with ``-L DEBUG``
(or ``-s LOG_LEVEL=DEBUG``) they are all still there, the stats dump included
(``STATS_DUMP``, Scrapy's setting, still decides whether it is made at all).
"""

from __future__ import annotations

import logging

# logger name -> message prefixes lowered to DEBUG (INFO records; and the
# WARNING that resume is off without JOBDIR, which is the normal case)
STARTUP_NOISE = {
    "scrapy.middleware": ("Enabled ", "Disabled imgprint.resume.extension.ResumeExtension"),
    "scrapy.crawler": ("Overridden settings",),
    "scrapy.utils.log": ("Versions:", "Enabled addons"),
    "scrapy.addons": ("Enabled addons",),
    "scrapy.extensions.telnet": ("Telnet Password",),
    "scrapy.statscollectors": ("Dumping Scrapy stats",),
    # boto3, once per S3 client (the feed check, the feed storage, each batch)
    "botocore.credentials": ("Found credentials",),
    "botocore.configprovider": ("Found endpoint",),
}


class _Lower(logging.Filter):
    def __init__(self, prefixes: tuple[str, ...]):
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno in (logging.INFO, logging.WARNING) and (
                record.getMessage().startswith(self.prefixes)):
            # Handlers compare their level with this: an INFO handler drops it.
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


def quiet_startup() -> None:
    for name, prefixes in STARTUP_NOISE.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Lower) for f in logger.filters):
            logger.addFilter(_Lower(prefixes))
