"""The add-on's settings in-process: imgprint's defaults at the add-on priority,
the project's own values and entries kept, and one-line refusals; the request
and record functions every spider shares."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from scrapy import Request
from scrapy.exceptions import CannotResolveHostError
from scrapy.http import Response
from scrapy.settings import SETTINGS_PRIORITIES, Settings
from twisted.python.failure import Failure

from imgprint import defaults
from imgprint import settings as project_settings
from imgprint.addon import Addon, Refused
from imgprint.config import _FIELDS, Config, ConfigError
from imgprint.fetch.protocol import ERROR_STATUSES, FOUND_BY_KEY, IMAGE_KEY
from imgprint.imagerequest import failure_record, image_record, image_request
from tests.helpers import PROJECT

EPOLL = "twisted.internet.epollreactor.EPollReactor"
BACKOFF = "imgprint.middlewares.retry.BackoffRetryMiddleware"
RETRY = "scrapy.downloadermiddlewares.retry.RetryMiddleware"
ADDON = SETTINGS_PRIORITIES["addon"]


def addon_settings(**user) -> Settings:
    """A project's settings (``user``) after the add-on, as Scrapy applies it:
    the pre-crawler hook on the process's settings, then ``update_settings``."""
    settings = Settings()
    settings.setdict(user, priority="project")
    Addon.update_pre_crawler_settings(settings)
    Addon().update_settings(settings)
    return settings


def components(settings: Settings, name: str) -> dict[str, int | None]:
    return {k if isinstance(k, str) else f"{k.__module__}.{k.__qualname__}": v
            for k, v in settings.getdict(name).items()}


def test_every_imgprint_setting_has_its_default_in_defaults():
    """One copy: a setting added to imgprint.settings alone would be missing
    in every project using the add-on."""
    own = {n for n in vars(defaults) if n.startswith(("IMGPRINT_", "TOR_"))}
    missing = sorted(set(_FIELDS) - own)
    assert not missing, f"{missing}: give their defaults in imgprint/defaults.py, not settings.py"
    assert own == set(_FIELDS)
    assert all(getattr(project_settings, n) == getattr(defaults, n) for n in own)


def test_defaults_come_at_the_addon_priority_and_the_projects_values_stay():
    settings = addon_settings(IMGPRINT_MIN_SIZE=1000,
                              DOWNLOADER="scrapy.core.downloader.Downloader",
                              TWISTED_DNS_RESOLVER="scrapy.resolver.CachingHostnameResolver")
    assert settings.getint("IMGPRINT_MIN_SIZE") == 1000
    assert settings.getpriority("IMGPRINT_FOLLOWUPS") == ADDON
    assert Config.from_settings(settings).followups == defaults.IMGPRINT_FOLLOWUPS
    assert settings["DOWNLOADER"] == "scrapy.core.downloader.Downloader"
    assert settings["TWISTED_DNS_RESOLVER"] == "scrapy.resolver.CachingHostnameResolver"


def test_the_fetch_path_is_installed():
    settings = addon_settings()
    middlewares = components(settings, "DOWNLOADER_MIDDLEWARES")
    assert {k: middlewares[k] for k in defaults.DOWNLOADER_MIDDLEWARES
            if k in middlewares} == {"imgprint.middlewares.tor.TorMiddleware": 340,
                                     "imgprint.middlewares.netguard.NetGuardMiddleware": 640,
                                     "imgprint.middlewares.imagefetch.ImageFetchMiddleware": 650}
    # Scrapy's own scheduler does not keep the pause: Scrapy's retry stays.
    assert BACKOFF not in middlewares and RETRY not in middlewares
    assert settings.getdict("DOWNLOAD_HANDLERS") == defaults.DOWNLOAD_HANDLERS
    assert components(settings, "ITEM_PIPELINES") == {"imgprint.imageurls.ImageUrlsPipeline": 1}
    assert components(settings, "SPIDER_MIDDLEWARES") == {
        "imgprint.addon.SeedHostsMiddleware": 50}
    for name in ("DOWNLOADER", "TWISTED_DNS_RESOLVER", "TWISTED_REACTOR"):
        assert settings[name] == getattr(defaults, name)


def test_the_retry_pause_comes_with_imgprints_scheduler():
    middlewares = components(addon_settings(SCHEDULER="imgprint.scheduler.Scheduler"),
                             "DOWNLOADER_MIDDLEWARES")
    assert middlewares[BACKOFF] == 550 and middlewares[RETRY] is None


def test_the_projects_own_entries_stay():
    settings = addon_settings(
        SCHEDULER="imgprint.scheduler.Scheduler",
        DOWNLOADER_MIDDLEWARES={"imgprint.middlewares.netguard.NetGuardMiddleware": None,
                                RETRY: 560},
        ITEM_PIPELINES={"imgprint.imageurls.ImageUrlsPipeline": 700})
    middlewares = components(settings, "DOWNLOADER_MIDDLEWARES")
    assert middlewares["imgprint.middlewares.netguard.NetGuardMiddleware"] is None
    assert middlewares[RETRY] == 560 and BACKOFF not in middlewares
    assert components(settings, "ITEM_PIPELINES") == {"imgprint.imageurls.ImageUrlsPipeline": 700}


def config_message(**values) -> str:
    """The message ``scrapy crawl images`` gives for these settings."""
    settings = Settings()
    settings.setmodule(project_settings)
    settings.setdict(values, priority="cmdline")
    with pytest.raises(ConfigError) as info:
        Config.from_settings(settings)
    return f"imgprint: {info.value}"


REFUSALS = [
    ({"TWISTED_REACTOR": EPOLL}, f"imgprint: TWISTED_REACTOR = '{EPOLL}': imgprint needs"
     " twisted.internet.asyncioreactor.AsyncioSelectorReactor (Scrapy's default);"
     " remove the setting"),
    ({"TWISTED_REACTOR_ENABLED": False}, "imgprint: TWISTED_REACTOR_ENABLED = False:"),
    ({"DOWNLOAD_HANDLERS": {"https": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"}},
     "imgprint: DOWNLOAD_HANDLERS['https'] = 'scrapy_playwright.handler."
     "ScrapyPlaywrightDownloadHandler': imgprint downloads https with"
     " imgprint.handlers.tor.TorDownloadHandler (Tor routing); remove that entry"),
    ({"ITEM_PIPELINES": {"scrapy.pipelines.images.ImagesPipeline": 1}, "IMAGES_STORE": "x"},
     "imgprint: ITEM_PIPELINES: scrapy.pipelines.images.ImagesPipeline writes 'images' too"),
    ({"IMGPRINT_REDIS_URL": "redis://127.0.0.1:6379/0"}, "imgprint: IMGPRINT_REDIS_URL: the"
     " shared frontier is the images spider's"),
    ({"IMGPRINT_RENDER": "auto"}, "imgprint: IMGPRINT_RENDER = 'auto': rendering is the"
     " images spider's"),
]
BAD_VALUES = [{"IMGPRINT_MIN_SIZE": "20k"}, {"IMGPRINT_FOLLOWUPS": "two"},
              {"TOR_PROXIES": "http://127.0.0.1:9050"}, {"IMGPRINT_IMAGES_RESULT_FIELD": " "},
              {"IMGPRINT_MINSIZE": "1"}]


@pytest.mark.parametrize("values, line", REFUSALS + [(v, None) for v in BAD_VALUES])
def test_a_conflict_is_refused_in_one_line_before_the_crawler_process(values, line):
    line = line or config_message(**values)  # a bad value: the crawl command's message
    settings = Settings()
    settings.setdict(values, priority="cmdline")
    with pytest.raises(SystemExit) as info:
        Addon.update_pre_crawler_settings(settings)
    message = str(info.value.code)
    assert message.startswith(line) and "\n" not in message


@pytest.mark.parametrize("values, line", REFUSALS[:1] + [(BAD_VALUES[0], None)])
def test_a_spiders_conflict_is_refused_in_one_logged_line(values, line, caplog):
    line = line or config_message(**values)
    settings = Settings()
    settings.setdict(values, priority="spider")  # custom_settings: seen by the crawler only
    with caplog.at_level(logging.ERROR, logger="imgprint.addon"), \
            pytest.raises(Refused) as info:
        Addon().update_settings(settings)
    assert str(info.value).startswith(line)
    assert [r.getMessage() for r in caplog.records] == [str(info.value)]


def test_importing_imgprint_loads_nothing_else():
    """Scrapy imports imgprint in every project it is installed in (the
    ``scrapy dupes`` entry point): the package alone must stay light."""
    out = subprocess.run(
        [sys.executable, "-c", "import sys, imgprint; print(sorted(m for m in sys.modules"
         " if m.split('.')[0] == 'imgprint'))"],
        cwd=PROJECT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['imgprint']"


def test_an_image_request_lets_error_answers_reach_the_callback():
    request = image_request("http://example.org/a.jpg", head=True, found_by="dom",
                            meta={"handle_httpstatus_list": [404], "tor": True})
    assert request.method == "HEAD"
    assert request.meta[IMAGE_KEY] and request.meta[FOUND_BY_KEY] == "dom"
    assert request.meta["handle_httpstatus_list"] == ERROR_STATUSES and request.meta["tor"]


def test_records_of_an_error_answer_and_of_no_answer():
    request = image_request("http://example.org/a.jpg")
    request.meta["redirect_urls"] = ["http://example.org/old.jpg"]
    answer = Response("http://example.org/a.jpg", status=404, request=request,
                      headers={"Content-Type": "text/html"}, body=b"<html>gone</html>")
    record = image_record(answer).to_dict()
    assert record["url"] == "http://example.org/old.jpg"
    assert (record["error"], record["http_status"]) == ("HTTP 404", 404)
    assert record["final_url"] == "http://example.org/a.jpg" and "image_size" in record

    request = Request("http://nowhere.invalid/a.jpg", meta={"download_timeout": 3})
    failure = Failure(CannotResolveHostError("nowhere.invalid"))
    failure.request = request  # as Scrapy sets it for an errback
    record = failure_record(failure).to_dict()
    assert record["url"] == request.url
    assert record["error"].startswith("DNS lookup failed")
    assert "http_status" not in record and "image_size" not in record
