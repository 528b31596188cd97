"""imgprint.resume without a crawl: the JOBDIR feed check, the journal, the feed reader.

No subprocess and no network: crawlers come from ``scrapy.utils.test.get_crawler``
and the signals are sent by hand, as the spider sends them.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.extensions.feedexport import FeedExporter
from scrapy.settings import Settings
from scrapy.utils.conf import feed_process_params_from_cli
from scrapy.utils.test import get_crawler
from twisted.python.failure import Failure

from imgprint.config import ConfigError
from imgprint.resume import ResumeExtension, ResumeState, check_jobdir_feeds
from imgprint.resume.feeds import FEED_LIST, recorded_urls
from imgprint.resume.journal import JOURNAL
from imgprint.signals import image_found, page_finished, page_scheduled, resume_requested

EXTENSION = "imgprint.resume.extension.ResumeExtension"
ORDER = 500
JL = {"format": "jsonlines"}


def cli_feeds(*output: str, overwrite: bool = False) -> dict:
    """FEEDS as ``scrapy crawl -o``/``-O`` fills it."""
    settings = Settings()
    if overwrite:
        return feed_process_params_from_cli(settings, [], overwrite_output=list(output))
    return feed_process_params_from_cli(settings, list(output))


def refusal(feeds: dict, **settings) -> str:
    with pytest.raises(ConfigError) as info:
        check_jobdir_feeds({"JOBDIR": "job", "FEEDS": feeds, **settings})
    message = str(info.value)
    assert "\n" not in message and message.startswith("JOBDIR: ")
    return message


# -- check_jobdir_feeds -------------------------------------------------------------
@pytest.mark.parametrize("feeds", [
    cli_feeds("out.jsonl"),
    cli_feeds("out.jl"),
    cli_feeds("output/images-%(time)s.jsonl"),
    {"output/images-%(time)s.jsonl": JL},  # the spider's default feed
    {"file:///tmp/out.jsonl": {}},  # format from the suffix, as Scrapy infers it
    {"out.jsonl": {**JL, "overwrite": False, "batch_item_count": 0}},
    {"out.jsonl": JL, "s3://bucket/out-%(time)s.jsonl": JL},  # a copy next to a local feed
    {"out.jsonl": JL, "s3://bucket/%(batch_id)d.jsonl": {**JL, "batch_item_count": 100}},
    {"out.jsonl": JL, "stdout:": JL},
])
def test_local_json_lines_appended_is_accepted(feeds):
    check_jobdir_feeds(Settings({"JOBDIR": "job", "FEEDS": feeds}))
    check_jobdir_feeds({"JOBDIR": "job", "FEEDS": feeds})


def test_without_jobdir_anything_goes():
    check_jobdir_feeds({"FEEDS": cli_feeds("out.json", overwrite=True)})
    check_jobdir_feeds({})


def test_overwrite_is_refused():
    message = refusal(cli_feeds("out.jsonl", overwrite=True))
    assert "feed out.jsonl is overwritten (-O)" in message
    assert "use -o out.jsonl (append) or a %(time)s file name" in message


def test_json_array_is_refused():
    message = refusal(cli_feeds("out.json"))
    assert "feed out.json has format json" in message
    assert message.endswith("use -o out.jsonl (JSON lines)")


@pytest.mark.parametrize("name, fmt", [("out.csv", "csv"), ("out.xml", "xml")])
def test_other_formats_are_refused(name, fmt):
    message = refusal(cli_feeds(name))
    assert f"feed {name} has format {fmt}" in message
    assert "use -o out.jsonl" in message


def test_format_from_a_suffix_when_none_is_given():
    assert "has format json," in refusal({"data/out.json": {}})
    assert "has format none," in refusal({"data/out": {}})


def test_batch_feeds_are_refused():
    message = refusal({"out-%(batch_id)d.jsonl": {**JL, "batch_item_count": 100}})
    assert "split into batches of 100 items" in message
    assert "unset FEED_EXPORT_BATCH_ITEM_COUNT/batch_item_count" in message
    message = refusal({"out-%(batch_id)d.jsonl": JL}, FEED_EXPORT_BATCH_ITEM_COUNT=50)
    assert "split into batches of 50 items" in message
    # The feed's own option wins over the setting, as in Scrapy.
    check_jobdir_feeds({"JOBDIR": "job", "FEEDS": {"o.jsonl": {**JL, "batch_item_count": 0}},
                        "FEED_EXPORT_BATCH_ITEM_COUNT": 50})


def test_a_remote_feed_each_run_would_replace_is_refused():
    message = refusal({"out.jsonl": JL, "s3://bucket/out.jsonl": JL})
    assert message.startswith("JOBDIR: feed s3://bucket/out.jsonl would be replaced by each"
                              " resumed run")


@pytest.mark.parametrize("uri", ["s3://bucket/%(time)s.jsonl", "ftp://host/%(time)s.jsonl",
                                 "stdout:"])
def test_only_remote_feeds_are_refused(uri):
    message = refusal({uri: JL})
    assert f"{uri} cannot be read back" in message
    assert message.endswith("add -o output/images-%(time)s.jsonl")


def test_no_feed_is_refused():
    message = refusal({}, IMGPRINT_DEFAULT_FEED="")
    assert "no feed is set; add -o output/images-%(time)s.jsonl" in message
    assert refusal({}, IMGPRINT_DEFAULT_FEED="runs/%(time)s.jsonl").endswith(
        "add -o runs/%(time)s.jsonl")


def test_deprecated_feed_uri_is_checked_too():
    assert "feed out.csv has format csv" in refusal({}, FEED_URI="out.csv", FEED_FORMAT="csv")


# -- the extension -----------------------------------------------------------------
def crawler_for(tmp_path: Path, feeds: dict | None = None, **settings):
    feeds = {str(tmp_path / "out.jsonl"): JL} if feeds is None else feeds
    return get_crawler(settings_dict={
        "JOBDIR": str(tmp_path / "job"), "FEEDS": feeds, "EXTENSIONS": {EXTENSION: ORDER},
        # These two need a running loop at spider_opened.
        "LOGSTATS_INTERVAL": 0, "MEMUSAGE_ENABLED": False, **settings,
    })


def open_spider(crawler):
    spider = crawler._create_spider("resume-test")
    crawler.signals.send_catch_log(signal=signals.spider_opened, spider=spider)
    return crawler.get_extension(ResumeExtension)


def send(crawler, signal, **kwargs) -> None:
    """As the spider sends imgprint's signals (with ``spider=``, which handlers may ignore)."""
    for _, result in crawler.signals.send_catch_log(signal=signal, spider=None, **kwargs):
        assert not isinstance(result, Failure), result


def requested_state(crawler) -> ResumeState:
    results = crawler.signals.send_catch_log(signal=resume_requested)
    return next(r for _, r in results if r is not None)


def test_not_configured_without_jobdir():
    with pytest.raises(NotConfigured):
        ResumeExtension.from_crawler(get_crawler(settings_dict={"FEEDS": {"o.jsonl": JL}}))
    crawler = get_crawler(settings_dict={"EXTENSIONS": {EXTENSION: ORDER}})
    assert crawler.get_extension(ResumeExtension) is None


def test_bad_feed_stops_the_crawler_before_it_starts(tmp_path):
    with pytest.raises(ConfigError, match="has format json"):
        crawler_for(tmp_path, {str(tmp_path / "out.json"): {"format": "json"}})


def test_runs_after_the_feed_exporter(tmp_path):
    crawler = crawler_for(tmp_path)
    kinds = [type(m) for m in crawler.extensions.middlewares]
    assert kinds.index(FeedExporter) < kinds.index(ResumeExtension)


def test_feed_files_are_listed_once_with_times_expanded(tmp_path):
    feeds = {str(tmp_path / "out.jsonl"): JL, str(tmp_path / "f-%(time)s.jsonl"): JL,
             "stdout:": JL}
    for _ in range(2):
        open_spider(crawler_for(tmp_path, feeds)).spider_closed(None)
    listed = (tmp_path / "job" / FEED_LIST).read_text().splitlines()
    assert listed[0] == str((tmp_path / "out.jsonl").resolve())
    assert len(set(listed)) == len(listed)  # out.jsonl once; f-<time> once per second
    assert all(Path(p).parent == tmp_path.resolve() for p in listed)
    assert all(Path(p).name.startswith("f-") and "%(" not in p for p in listed[1:])


def write_feed(path: Path, *records: dict, tail: str = "") -> None:
    with path.open("a") as f:
        f.write("".join(json.dumps(r) + "\n" for r in records) + tail)


def test_journal_round_trip(tmp_path):
    crawler = crawler_for(tmp_path)
    ext = open_spider(crawler)
    assert requested_state(crawler) == ResumeState()
    send(crawler, page_scheduled, url="http://s/a", depth=0)
    send(crawler, page_scheduled, url="http://s/b", depth=1)
    send(crawler, image_found, url="http://s/1.jpg", page="http://s/a")
    send(crawler, image_found, url="http://s/2.jpg", page="http://s/a")
    send(crawler, image_found, url="http://s/2.jpg", page="http://s/b")
    send(crawler, page_finished, url="http://s/a")
    ext.spider_closed(None)
    journal = tmp_path / "job" / JOURNAL
    assert [json.loads(line) for line in journal.read_text().splitlines()] == [
        {"page": "http://s/a", "depth": 0}, {"page": "http://s/b", "depth": 1},
        {"image": "http://s/1.jpg", "on": "http://s/a"},
        {"image": "http://s/2.jpg", "on": "http://s/a"},
        {"image": "http://s/2.jpg", "on": "http://s/b"},
        {"page_done": "http://s/a"},
    ]
    write_feed(tmp_path / "out.jsonl", {"url": "http://s/1.jpg", "pages": ["http://s/a"]})

    crawler = crawler_for(tmp_path)
    open_spider(crawler)
    state = requested_state(crawler)
    assert state.pending_pages == {"http://s/b": 1}
    assert state.pending_images == {"http://s/2.jpg": ["http://s/a", "http://s/b"]}
    assert state.recorded == {"http://s/1.jpg"}
    assert "http://s/a" in state.pages and "http://s/b" in state.pages
    assert state.repaired == 0
    assert crawler.stats.get_value("imgprint/resume/pages") == 1
    assert crawler.stats.get_value("imgprint/resume/images") == 1
    assert crawler.stats.get_value("imgprint/resume/recorded") == 1
    assert crawler.stats.get_value("imgprint/resume/repaired_lines") == 0


def test_partial_last_lines_are_repaired(tmp_path):
    job = tmp_path / "job"
    job.mkdir()
    feed = tmp_path / "out.jsonl"
    (job / FEED_LIST).write_text(f"{feed.resolve()}\n")
    write_feed(feed, {"url": "http://s/1.jpg"}, tail='{"url": "http://s/2.jpg", "pa')
    journal = job / JOURNAL
    write_feed(journal, {"page": "http://s/a", "depth": 0},
               {"image": "http://s/1.jpg", "on": "http://s/a"},
               {"image": "http://s/2.jpg", "on": "http://s/a"}, tail='{"page_done": "http:/')

    crawler = crawler_for(tmp_path)
    ext = open_spider(crawler)
    state = requested_state(crawler)
    assert state.repaired == 1
    assert feed.read_text() == '{"url": "http://s/1.jpg"}\n'
    assert state.recorded == {"http://s/1.jpg"}
    assert state.pending_images == {"http://s/2.jpg": ["http://s/a"]}
    assert state.pending_pages == {"http://s/a": 0}  # its page_done line was cut
    assert crawler.stats.get_value("imgprint/resume/repaired_lines") == 1
    # This run appends after whole lines.
    send(crawler, page_finished, url="http://s/a")
    ext.spider_closed(None)
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert lines[-1] == {"page_done": "http://s/a"} and len(lines) == 4


def test_feed_streaming_keeps_urls_of_complete_records_only(tmp_path):
    feed = tmp_path / "out.jsonl"
    write_feed(feed, {"url": "http://s/1.jpg", "exif": {"Make": "x" * 1000}},
               {"url": "http://s/1.jpg", "pages": ["p"], "seen_before": True},
               {"url": "http://s/3.jpg", "seen_before": True},
               {"url": "http://s/4.jpg", "error": "HTTP 404"}, {"pages": []}, ["not", "a", "dict"],
               tail='not json\n{"url": "http://s/5.jpg"}')
    urls = recorded_urls(feed)
    assert inspect.isgenerator(urls)
    assert list(urls) == ["http://s/1.jpg", "http://s/4.jpg"]
    assert list(recorded_urls(tmp_path / "missing.jsonl")) == []


def test_state_is_empty_by_default():
    state = ResumeState()
    assert (state.pending_pages, state.pending_images, state.recorded, state.repaired) == (
        {}, {}, set(), 0)
    assert "http://s/a" not in state.pages
