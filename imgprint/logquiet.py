"""A quiet console: Scrapy's long start-up lists shown at DEBUG, not at INFO,
and on a terminal its closing stats dump too.

At ``LOG_LEVEL = INFO`` Scrapy logs the overridden settings (with the feed's
34-name field list) and every enabled extension, middleware and pipeline, about
90 lines before ``Spider opened``; with an S3 feed, botocore says where it found
credentials and endpoint for every client. ``quiet_startup()`` adds a filter to
those loggers that lowers these records to DEBUG: with ``-L DEBUG`` (or ``-s
LOG_LEVEL=DEBUG``) they are all still there.

Scrapy's ~40-line stats dump just before imgprint's summary (which is what a
user reads) is lowered the same way when the log goes to a terminal
(``console=True``). A log written to a file (``LOG_FILE``, Scrapyd's job logs)
or a pipe (scripts and tests that read the stats from it) keeps it at INFO;
``STATS_DUMP``, Scrapy's setting, still decides whether it is made at all.
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
    # boto3, once per S3 client (the feed check, the feed storage, each batch)
    "botocore.credentials": ("Found credentials",),
    "botocore.configprovider": ("Found endpoint",),
}
# Lowered only when the log goes to a terminal.
CONSOLE_NOISE = {
    "scrapy.statscollectors": ("Dumping Scrapy stats",),
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


def quiet_startup(console: bool = False) -> None:
    """Install the filters (again: a second call replaces the first's)."""
    for name in {**STARTUP_NOISE, **CONSOLE_NOISE}:
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, _Lower)]:
            logger.removeFilter(old)
    for name, prefixes in {**STARTUP_NOISE, **(CONSOLE_NOISE if console else {})}.items():
        logging.getLogger(name).addFilter(_Lower(prefixes))
