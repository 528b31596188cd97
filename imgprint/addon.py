"""``imgprint.Addon``: imgprint in any Scrapy project, as a Scrapy add-on.

    ADDONS = {"imgprint.Addon": 500}

It adds, at the add-on priority (so a value the project, a spider or ``-s``
gave stays), everything in ``imgprint.defaults`` the images spider's fetch
path needs:

* imgprint's settings (``IMGPRINT_*``, ``TOR_*``) and their defaults;
* its downloader middlewares (Tor routing 340, the network guard 640, the
  image fetch 650), its ``http``/``https`` download handler (Tor over SOCKS5),
  Scrapy's downloader with the per-site limit enforced (``DOWNLOADER``);
  ``BackoffRetryMiddleware`` in place of Scrapy's retry only when
  ``SCHEDULER`` is imgprint's, which is what keeps its pauses;
* ``ImageUrlsPipeline`` (``image_urls`` in, records out; it also
  fingerprints the records a spider yields) and ``SeedHostsMiddleware`` (the
  start requests' hosts are the guard's seed hosts);
* in ``update_pre_crawler_settings``, read before any crawler exists: the
  asyncio reactor and the connect-time DNS guard (``TWISTED_REACTOR``,
  ``TWISTED_DNS_RESOLVER``).

A component the project names itself in a component setting (even as
``None``) keeps the project's entry. Then the settings are checked once, with
``scrapy crawl images``' messages (``imgprint.config``), and imgprint refuses
to start, in one line, where a setting cannot work with it: a bad value, a
reactor other than asyncio's, another http(s) download handler,
``ImagesPipeline`` writing the same field, or a part only the images spider
has (``IMGPRINT_REDIS_URL``, ``IMGPRINT_RENDER``). From the project's
settings and ``-s`` that happens before the crawler process starts
(``SystemExit``: the line, exit status 1); from a spider's
``custom_settings``, when the crawler starts (``Refused``, logged as the
line; ``scrapy crawl`` exits 1).

The images spider's scheduler, resume, progress, feed and frontier parts stay
this project's (docs/addon.md says why).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from scrapy import Request
from scrapy.settings import BaseSettings
from scrapy.utils.httpobj import urlparse_cached
from scrapy.utils.misc import load_object

from imgprint import defaults
from imgprint.config import Config, ConfigError
from imgprint.frontier.state import CrawlState

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

PRIORITY = "addon"
PIPELINE = "imgprint.imageurls.ImageUrlsPipeline"
PIPELINE_ORDER = 1  # where ImagesPipeline's docs put it: before the project's own
SEED_HOSTS = "imgprint.addon.SeedHostsMiddleware"
SEED_HOSTS_ORDER = 50
RETRY = "scrapy.downloadermiddlewares.retry.RetryMiddleware"
BACKOFF = "imgprint.middlewares.retry.BackoffRetryMiddleware"
SCHEDULER = "imgprint.scheduler.Scheduler"
IMAGES_PIPELINE = "scrapy.pipelines.images.ImagesPipeline"
OWN_SETTINGS = {name: value for name, value in vars(defaults).items()
                if name.startswith(("IMGPRINT_", "TOR_"))}


class Refused(ConfigError):
    """A setting imgprint cannot run with (one line: ``imgprint: ...``)."""


class _RefusalLogged(logging.Filter):
    """Drops asyncio's "Task exception was never retrieved" for a ``Refused``:
    its line was logged already, the traceback says nothing more."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], Refused))


def set_defaults(settings: BaseSettings, values: dict[str, Any]) -> None:
    """``values`` at the add-on priority: a value set at a higher one stays."""
    for name, value in values.items():
        settings.set(name, value, priority=PRIORITY)


def add_component(settings: BaseSettings, name: str, path: str, order: int | None) -> None:
    """``path`` in component dict ``name``, unless the project names it there."""
    settings.setdefault_in_component_priority_dict(name, load_object(path), order)


def named(components: dict[Any, Any], path: str) -> bool:
    cls = load_object(path)
    return any(load_object(key) is cls for key in components)


def reactor_problem(settings: BaseSettings) -> str | None:
    if not settings.getbool("TWISTED_REACTOR_ENABLED", True):
        return ("TWISTED_REACTOR_ENABLED = False: imgprint runs on Twisted's asyncio reactor"
                " (its download handler and DNS guard are Twisted's); remove the setting")
    reactor = settings.get("TWISTED_REACTOR")
    if reactor != defaults.TWISTED_REACTOR:
        return (f"TWISTED_REACTOR = {reactor!r}: imgprint needs {defaults.TWISTED_REACTOR}"
                " (Scrapy's default); remove the setting")
    return None


def loaded(path: Any) -> Any:
    """The object ``path`` names, or None when it does not import (Scrapy says
    why when it loads the component itself)."""
    try:
        return load_object(path)
    except (ImportError, NameError, ValueError):
        return None


def handler_problem(settings: BaseSettings) -> str | None:
    handlers = settings.getdict("DOWNLOAD_HANDLERS")
    for scheme, ours in defaults.DOWNLOAD_HANDLERS.items():
        theirs = handlers.get(scheme, ours)
        if theirs != ours and (theirs is None or loaded(theirs) is not load_object(str(ours))):
            return (f"DOWNLOAD_HANDLERS[{scheme!r}] = {theirs!r}: imgprint downloads"
                    f" {scheme} with {ours} (Tor routing); remove that entry")
    return None


def pipeline_problem(settings: BaseSettings, config: Config) -> str | None:
    images = load_object(IMAGES_PIPELINE)
    field = settings.get("IMAGES_RESULT_FIELD", "images")
    if field != config.images_result_field:
        return None
    for path, order in settings.getdict("ITEM_PIPELINES").items():
        cls = loaded(path)
        if order is not None and isinstance(cls, type) and issubclass(cls, images):
            return (f"ITEM_PIPELINES: {path} writes {field!r} too; remove it (imgprint's"
                    " pipeline takes image_urls instead) or set IMGPRINT_IMAGES_RESULT_FIELD")
    return None


def problem(settings: BaseSettings) -> str | None:
    """Why imgprint cannot run with ``settings`` (imgprint's defaults set), or None."""
    try:
        config = Config.from_settings(settings)
    except ConfigError as exc:
        return str(exc)
    if config.redis_url:
        return ("IMGPRINT_REDIS_URL: the shared frontier is the images spider's"
                " (scrapy crawl images), not the add-on's; remove the setting")
    if config.render != "off":
        return (f"IMGPRINT_RENDER = {config.render!r}: rendering is the images spider's"
                " (scrapy crawl images); the add-on reads the pages your spider gets")
    return (reactor_problem(settings) or handler_problem(settings)
            or pipeline_problem(settings, config))


class Addon:
    """The add-on (module docstring)."""

    @classmethod
    def update_pre_crawler_settings(cls, settings: BaseSettings) -> None:
        set_defaults(settings, {"TWISTED_REACTOR": defaults.TWISTED_REACTOR,
                                "TWISTED_DNS_RESOLVER": defaults.TWISTED_DNS_RESOLVER,
                                **OWN_SETTINGS})
        found = problem(settings)
        if found:
            raise SystemExit(f"imgprint: {found}")

    def update_settings(self, settings: BaseSettings) -> None:
        set_defaults(settings, OWN_SETTINGS)
        found = problem(settings)
        if found:
            self.refuse(found)
        set_defaults(settings, {"DOWNLOADER": defaults.DOWNLOADER})
        handlers = settings["DOWNLOAD_HANDLERS"]  # the checks left only imgprint's or none
        for scheme, path in defaults.DOWNLOAD_HANDLERS.items():
            handlers.set(scheme, path, priority=PRIORITY)
        self.add_middlewares(settings)
        add_component(settings, "SPIDER_MIDDLEWARES", SEED_HOSTS, SEED_HOSTS_ORDER)
        add_component(settings, "ITEM_PIPELINES", PIPELINE, PIPELINE_ORDER)

    @staticmethod
    def add_middlewares(settings: BaseSettings) -> None:
        middlewares = settings.getdict("DOWNLOADER_MIDDLEWARES")
        # Not issubclass: Scrapy's scheduler metaclass answers it by duck typing.
        pause_kept = load_object(SCHEDULER) in load_object(settings.get("SCHEDULER")).__mro__
        for path, order in defaults.DOWNLOADER_MIDDLEWARES.items():
            if path in (RETRY, BACKOFF):
                # The pause needs imgprint's scheduler; a project that orders
                # Scrapy's retry itself (or turns it off) keeps its choice.
                if not pause_kept or named(middlewares, RETRY) or named(middlewares, BACKOFF):
                    continue
            add_component(settings, "DOWNLOADER_MIDDLEWARES", path, order)

    @staticmethod
    def refuse(found: str) -> None:
        line = f"imgprint: {found}"
        logger.error("%s", line)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:  # the crawl runs in an asyncio task: its failure would repeat the line
            asyncio_logger = logging.getLogger("asyncio")
            if not any(isinstance(f, _RefusalLogged) for f in asyncio_logger.filters):
                asyncio_logger.addFilter(_RefusalLogged())
        raise Refused(line)


class SeedHostsMiddleware:
    """Spider middleware: the hosts of the spider's start requests are the
    guard's seed hosts (``imgprint.middlewares.netguard``): whoever starts a
    crawl at a private address vouches for that host, as with the images
    spider's seed file."""

    def __init__(self, crawler: Crawler):
        self.state = CrawlState.of(crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SeedHostsMiddleware:
        return cls(crawler)

    async def process_start(self, start: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for item_or_request in start:
            if isinstance(item_or_request, Request):
                host = urlparse_cached(item_or_request).hostname
                if host:
                    self.state.learn_seed_hosts({host})
            yield item_or_request
