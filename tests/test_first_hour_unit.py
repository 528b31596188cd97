"""Issue 24, unit layer: what a newcomer reads in the first hour. The closing
summary's wording (what was not followed, failed seeds and pages, singular and
plural), the feed check done by creating the file, near-match suggestions for
misspelled names, no warning for a component that is off, the stats dump kept
at DEBUG, and outputs the README suggests ignored by git."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import pytest
from scrapy.exceptions import NotConfigured

from imgprint.config import ConfigError, check_spider_args
from imgprint.extensions.tally import Tally, counted, summary_lines
from imgprint.frontier.worker import FrontierWorker
from imgprint.items import ImageRecord
from imgprint.logquiet import quiet_startup
from imgprint.preflight import local_problem
from tests.helpers import PROJECT, project_crawler
from tests.test_config import config


def record(url: str = "http://a/x.jpg", pages: list[str] | None = None, **fields):
    r = ImageRecord(url, pages=["http://a/"] if pages is None else pages)
    r.set(**fields)
    return r


# -- 1. what was not followed -------------------------------------------------------
def test_the_summary_says_which_links_were_not_followed_and_how_to_follow_them():
    tally = Tally()
    tally.add(record(image_size=30000, bytes_fetched=10241))
    stats = {"imgprint/seeds": 1, "imgprint/pages": 1, "imgprint/links/not_followed": 34}
    lines = summary_lines(tally, stats, ["out.jsonl"])
    assert lines[:2] == ["1 image recorded (0 later sightings) from 1 page",
                         "34 same-site links not followed: add -a depth=1 to follow them"]
    stats["imgprint/links/not_followed"] = 1
    assert "1 same-site link not followed: add -a depth=3 to follow it" in summary_lines(
        tally, stats, [], depth=2)
    stats.update({"imgprint/links/not_followed": 0, "imgprint/pages/depth_capped": 2,
                  "imgprint/pages/images_capped": 1})
    lines = summary_lines(tally, stats, [])
    assert not any("same-site" in line for line in lines)
    assert "links not followed on 2 pages: IMGPRINT_MAX_PAGES_PER_DEPTH reached" in lines
    assert "images not recorded on 1 page: IMGPRINT_MAX_IMAGES_PER_PAGE reached" in lines


# -- 3. wording that adds up ----------------------------------------------------------
def test_an_offline_first_run_says_nothing_was_crawled():
    """The README's urls.txt without a network: a page seed and an image seed fail;
    the image seed still gets its error record."""
    tally = Tally()
    tally.add(record("https://exiv2.org/include/img_1771.jpg", pages=[],
                     error="DNSLookupError: DNS lookup failed: address 'exiv2.org' not found"))
    stats = {"imgprint/seeds": 2, "imgprint/seeds/failed": 2, "imgprint/pages/failed": 1,
             "imgprint/images/failed": 1}
    assert summary_lines(tally, stats, ["output/images-1.jsonl"]) == [
        "nothing was crawled: all 2 seeds failed (1 page, 1 image seed); the errors above"
        " say why",
        "errors 2: failed page ×1, DNSLookupError ×1",
        "feed: output/images-1.jsonl (1 error record: the failed image seed)"]
    one = {"imgprint/seeds": 1, "imgprint/seeds/failed": 1, "imgprint/pages/failed": 1}
    assert summary_lines(Tally(), one, [])[:2] == [
        "nothing was crawled: the seed failed (1 page); the errors above say why",
        "errors 1: failed page ×1"]


def test_failed_pages_and_image_seeds_are_counted_apart_and_as_errors():
    tally = Tally()
    tally.add(record(image_size=30000, bytes_fetched=10241))
    tally.add(record("http://a/seed.jpg", pages=[], image_size=3000, bytes_fetched=3000))
    tally.add(record("http://a/gone.jpg", pages=[], error="HTTP 404", http_status=404))
    tally.add(ImageRecord.sighting("http://a/x.jpg", ["http://a/p2"]))
    stats = {"imgprint/seeds": 4, "imgprint/seeds/failed": 2, "imgprint/pages": 2,
             "imgprint/pages/failed": 1}
    lines = summary_lines(tally, stats, ["out.jsonl"])
    assert lines[0] == ("2 images recorded (1 later sighting) from 2 pages and 1 image seed;"
                        " failed: 1 page, 1 image seed")
    assert "errors 2: failed page ×1, HTTP 404 ×1" in lines
    assert lines[-1] == "feed: out.jsonl"


def test_an_eta_under_a_second_is_not_0_s():
    from imgprint.extensions.progress import progress_line

    figures = {"pages_done": 25, "pages_pending": 0, "recorded": 470, "images_pending": 13,
               "rate": 49.5, "overall": 93.7, "bytes": 4_300_000, "errors": 3}
    assert progress_line(figures).endswith("| errors 3 | ETA <1 s")


def test_plurals():
    assert [counted(n, "image") for n in (0, 1, 2)] == ["0 images", "1 image", "2 images"]
    assert counted(1, "set of sites", "sets of sites") == "1 set of sites"
    assert counted(3, "set of sites", "sets of sites") == "3 sets of sites"
    only_seeds = Tally()
    only_seeds.add(record("http://a/seed.jpg", pages=[], image_size=300, bytes_fetched=300))
    assert summary_lines(only_seeds, {"imgprint/seeds": 1}, [])[0] == (
        "1 image recorded (0 later sightings) from 1 image seed")


# -- 2. the feed check creates the file --------------------------------------------------
@pytest.mark.parametrize("path, words", [
    # os.access says yes to root for both (CI runs as root); creating says no.
    ("/proc/nope/out.jsonl", "cannot create directory /proc/nope: "),
    ("/proc/version", "file is not writable: "),
])
def test_a_feed_path_the_file_system_refuses(path, words):
    assert (local_problem(Path(path)) or "").startswith(words)


def test_the_feed_check_leaves_no_trace(tmp_path):
    target = tmp_path / "new" / "dir" / "out.jsonl"
    assert local_problem(target) is None
    assert list(tmp_path.iterdir()) == []  # the file and the directories made are gone
    existing = tmp_path / "earlier.jsonl"
    existing.write_text('{"url": "http://a/x.jpg"}\n')
    before = (existing.read_bytes(), existing.stat().st_mtime_ns)
    assert local_problem(existing) is None
    assert (existing.read_bytes(), existing.stat().st_mtime_ns) == before


def test_an_unwritable_directory():
    """A directory the crawling user may not write: as root (CI), the check runs as
    nobody (setpriv), since root writes through any mode bits."""
    import sys
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="imgprint-locked-"))  # /tmp: nobody can reach it
    try:
        top.chmod(0o755)
        locked = top / "locked"
        locked.mkdir(mode=0o555)
        locked.chmod(0o555)
        code = ("import sys; from pathlib import Path; from imgprint.preflight import"
                " local_problem; print(local_problem(Path(sys.argv[1])))")
        as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] \
            if os.geteuid() == 0 else []
        out = subprocess.run([*as_user, sys.executable, "-c", code, str(locked / "out.jsonl")],
                             cwd=PROJECT, capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == f"cannot create a file in {locked}: Permission denied", \
            out.stderr[-2000:]
        assert list(locked.iterdir()) == []
    finally:
        (top / "locked").rmdir()
        top.rmdir()


# -- 4. noise ---------------------------------------------------------------------------
@pytest.mark.parametrize("name, suggestion", [
    ("IMGPRINT_MIN_SIZ", "; did you mean IMGPRINT_MIN_SIZE?"),
    ("IMGPRINT_FOLOWUPS", "; did you mean IMGPRINT_FOLLOWUPS?"),
    ("TOR_PROXY", "; did you mean TOR_PROXIES?"),
    ("IMGPRINT_TOR_ALL", "; did you mean TOR_ALL?"),
    ("IMGPRINT_NOTHING_LIKE_IT", ""),
])
def test_a_misspelled_setting_gets_the_near_name_not_all_names(name, suggestion):
    with pytest.raises(ConfigError) as err:
        config(**{name: "1"})
    assert str(err.value) == (f"{name}: unknown setting{suggestion}"
                              " (docs/settings.md lists imgprint's settings)")


@pytest.mark.parametrize("name, suggestion", [
    ("dept", "; did you mean -a depth?"), ("URL", "; did you mean -a url?"),
    ("render_mode", "; did you mean -a render?"), ("xyz", ""),
])
def test_a_misspelled_argument_gets_the_near_name(name, suggestion):
    with pytest.raises(ConfigError) as err:
        check_spider_args({name: "1"})
    assert str(err.value) == (f"-a {name}: unknown argument{suggestion}"
                              " (the images spider takes url, urls, depth, render)")


def test_a_component_that_is_off_says_nothing():
    # Scrapy logs "Disabled <component>: <message>" as a WARNING when there is a message.
    with pytest.raises(NotConfigured) as off:
        FrontierWorker.from_crawler(project_crawler())
    assert off.value.args == ()


@pytest.mark.parametrize("console, level", [(True, logging.DEBUG), (False, logging.INFO)])
def test_the_stats_dump_is_at_debug_on_a_terminal_only(caplog, console, level):
    quiet_startup(console=console)
    stats = logging.getLogger("scrapy.statscollectors")
    try:
        with caplog.at_level(logging.DEBUG):
            stats.info("Dumping Scrapy stats:\n{'item_scraped_count': 1}")
    finally:
        quiet_startup()
    [dump] = caplog.records
    assert dump.levelno == level and "item_scraped_count" in dump.getMessage()


def test_outputs_the_readme_suggests_are_ignored_by_git():
    names = ["out.jsonl", "jobs/run1/requests.seen", "dupes.html", "dupes.json",
             "output/images-2026-12-01T04-15-57.jsonl", "build/", "imgprint.egg-info/"]
    ignored = subprocess.run(["git", "check-ignore", *names], cwd=PROJECT,
                             capture_output=True, text=True).stdout.split()
    assert ignored == names
    kept = subprocess.run(["git", "check-ignore", "urls.txt", "docs/records.md"],
                          cwd=PROJECT, capture_output=True, text=True)
    assert kept.stdout == "" and kept.returncode == 1
