"""imgprint in someone else's Scrapy project: a throwaway project, made in a
temporary directory outside this repository, with a spider of its own.

With the add-on, every ``image_urls`` entry gets the record ``scrapy crawl
images`` writes for that image; a spider's own image requests get the same;
redirects and failures give the images spider's records; a job stopped
(SIGTERM) and resumed has every record; without the add-on nothing of
imgprint runs. A wheel installed in a fresh virtualenv runs the
add-on and ``scrapy dupes``. A conflicting setting is refused in one line.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from w3lib.url import safe_url_string

from tests.conftest import CORPUS, PROJECT, Server, run_crawl
from tests.helpers import require_crawl_marker

pytestmark = pytest.mark.crawl

# Fields that depend on when and from where an image was found, not on the image.
CONTEXT = {"timestamp", "pages", "found_by"}

SETTINGS = """\
BOT_NAME = "shop"
SPIDER_MODULES = ["shop.spiders"]
ADDONS = {"imgprint.Addon": 500}
"""
# A user's spider: pages in, one item per page with its images' URLs (what an
# ImagesPipeline project yields), plus one item of extra URLs (-a extra=).
GALLERY = '''\
import scrapy


class GallerySpider(scrapy.Spider):
    name = "gallery"

    def __init__(self, pages="", extra="", **kwargs):
        super().__init__(**kwargs)
        self.start_urls = pages.split(",")
        self.extra = [u for u in extra.split(",") if u]

    async def start(self):
        for url in self.start_urls:
            yield scrapy.Request(url)  # a resumed job (JOBDIR) skips pages done

    def parse(self, response):
        urls = []
        for img in response.css("img"):
            src = img.attrib.get("data-src") or img.attrib.get("src", "")
            if src and not src.startswith("data:"):
                urls.append(response.urljoin(src))
        yield {"page": response.url, "image_urls": urls}
        if self.extra and response.url == self.start_urls[0]:
            yield {"page": "extra", "image_urls": self.extra}
'''
# The same spider asking for each image itself.
DIRECT = '''\
import imgprint

from shop.spiders.gallery import GallerySpider


class DirectSpider(GallerySpider):
    name = "direct"

    def parse(self, response):
        for item in super().parse(response):
            for url in item["image_urls"]:
                yield imgprint.image_request(url, callback=self.image, errback=self.failed)

    def image(self, response):
        yield imgprint.image_record(response)

    def failed(self, failure):
        yield imgprint.failure_record(failure)
'''
# Which imgprint modules the crawl loaded, and its imgprint stats (-s PROBE_FILE=).
PROBE = '''\
import json
import sys

from scrapy import signals


class Probe:
    def __init__(self, crawler):
        self.crawler = crawler
        crawler.signals.connect(self.closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def closed(self, spider):
        modules = sorted(m for m in sys.modules if m.split(".")[0] == "imgprint")
        stats = sorted(k for k in self.crawler.stats.get_stats() if k.startswith("imgprint"))
        with open(self.crawler.settings["PROBE_FILE"], "w") as f:
            json.dump({"modules": modules, "stats": stats}, f)
'''


@dataclass
class Run:
    returncode: int
    log: str
    items: list[dict]


def make_project(root: Path) -> Path:
    """A Scrapy project of someone else's, outside this repository."""
    assert PROJECT not in root.resolve().parents
    package = root / "shop"
    (package / "spiders").mkdir(parents=True)
    (root / "scrapy.cfg").write_text("[settings]\ndefault = shop.settings\n")
    for path, text in {"__init__.py": "", "settings.py": SETTINGS, "probe.py": PROBE,
                       "spiders/__init__.py": "", "spiders/gallery.py": GALLERY,
                       "spiders/direct.py": DIRECT}.items():
        (package / path).write_text(text)
    return root


def crawl(project: Path, spider: str, out: Path, *args: str, python: str = sys.executable,
          env: dict[str, str] | None = None, **settings: object) -> Run:
    """``scrapy crawl SPIDER -O out`` in ``project``; this checkout's imgprint is
    the one imported (``PYTHONPATH``) unless ``env`` says otherwise."""
    require_crawl_marker("a crawl")
    argv = [python, "-m", "scrapy", "crawl", spider, "-O", str(out), *args]
    for key, value in settings.items():
        argv += ["-s", f"{key}={value}"]
    env = env or {**os.environ, "PYTHONPATH": str(PROJECT)}
    proc = subprocess.run(argv, cwd=project, capture_output=True, text=True, timeout=300,
                          env=env)
    items = []
    if out.exists():
        items = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return Run(proc.returncode, proc.stderr, items)


def key(url: str) -> str:
    """A URL as both crawls spell it (the spider's urljoin leaves non-ASCII as is)."""
    return safe_url_string(url)


def image_fields(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in CONTEXT}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return make_project(tmp_path_factory.mktemp("user-project"))


def test_every_image_url_gets_the_images_spiders_record(project, corpus_site, corpus_crawl,
                                                        tmp_path):
    crawl_images, _ = corpus_crawl
    expected = {key(r["url"]): r for r in crawl_images.records if not r.get("seen_before")}
    pages = ",".join(corpus_site.server.url(p) for p in corpus_site.pages)
    run = crawl(project, "gallery", tmp_path / "items.jsonl", "-a", f"pages={pages}")
    assert run.returncode == 0, run.log[-3000:]
    assert len(run.items) == len(corpus_site.pages)
    entries = 0
    for item in run.items:
        assert [r["url"] for r in item["images"]] == [key(u) for u in item["image_urls"]]
        for record in item["images"]:
            entries += 1
            assert "pages" not in record and record["timestamp"]
            assert image_fields(record) == image_fields(expected[key(record["url"])])
    # Every image the images spider found on these pages, none twice.
    assert entries == len(expected) == 493


def test_a_spiders_own_image_requests_get_the_same_records(project, corpus_site, corpus_crawl,
                                                          tmp_path):
    crawl_images, _ = corpus_crawl
    expected = {key(r["url"]): r for r in crawl_images.records}
    pages = corpus_site.pages[:3]
    run = crawl(project, "direct", tmp_path / "records.jsonl",
                "-a", f"pages={','.join(corpus_site.server.url(p) for p in pages)}")
    assert run.returncode == 0, run.log[-3000:]
    assert len(run.items) == sum(
        1 for r in crawl_images.records
        if set(r["pages"]) & {corpus_site.server.url(p) for p in pages})
    for record in run.items:
        assert image_fields(record) == image_fields(expected[key(record["url"])])


def test_without_the_addon_nothing_of_imgprint_runs(project, corpus_site, tmp_path):
    probe = tmp_path / "probe.json"
    corpus_site.server.clear_log()
    run = crawl(project, "gallery", tmp_path / "items.jsonl",
                "-a", f"pages={corpus_site.server.url(corpus_site.pages[0])}",
                ADDONS="{}", EXTENSIONS='{"shop.probe.Probe": 0}', PROBE_FILE=probe)
    assert run.returncode == 0, run.log[-3000:]
    [item] = run.items
    assert item["image_urls"] and "images" not in item
    # The page only: no image was asked for.
    assert [r["path"] for r in corpus_site.server.requests()] == [corpus_site.pages[0]]
    loaded = json.loads(probe.read_text())
    assert loaded["stats"] == []
    # Only what Scrapy loads for the `scrapy dupes` command's entry point,
    # in every project imgprint is installed in.
    command = subprocess.run(
        [sys.executable, "-c", "import sys, imgprint.commands.dupes; print(' '.join("
         "m for m in sys.modules if m.split('.')[0] == 'imgprint'))"],
        cwd=PROJECT, capture_output=True, text=True, check=True).stdout.split()
    assert set(loaded["modules"]) <= set(command)
    assert not any(m.startswith(("imgprint.fetch", "imgprint.middlewares", "imgprint.config",
                                 "imgprint.pipelines", "imgprint.imageurls"))
                   for m in loaded["modules"])


def test_a_stopped_job_resumes_with_every_record(project, corpus_site, corpus_crawl,
                                                 tmp_path):
    """Ctrl-C or SIGTERM: the items being fetched are finished, not cut short;
    the resumed job (JOBDIR) does the rest. (A kill -9 loses the items in
    flight, as with ImagesPipeline: docs/addon.md.)"""
    crawl_images, _ = corpus_crawl
    expected = {key(r["url"]): r for r in crawl_images.records if not r.get("seen_before")}
    pages = ",".join(corpus_site.server.url(p) for p in corpus_site.pages)
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    argv = [sys.executable, "-m", "scrapy", "crawl", "gallery", "-a", f"pages={pages}",
            "-s", f"JOBDIR={tmp_path / 'job'}", "-s", "CONCURRENT_REQUESTS=1",
            "-s", "DOWNLOAD_DELAY=0.005", "-s", "RANDOMIZE_DOWNLOAD_DELAY=False"]
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    proc = subprocess.Popen([*argv, "-o", str(first)], cwd=project, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline and not (
            first.exists() and first.stat().st_size):
        time.sleep(0.05)
    stopped_early = proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 0 and stopped_early
    again = subprocess.run([*argv, "-o", str(second)], cwd=project, env=env,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    items = [json.loads(line) for out in (first, second) for line in out.read_text().splitlines()]
    assert sorted(i["page"] for i in items) == sorted(pages.split(","))
    records = [r for item in items for r in item["images"]]
    assert len(records) == sum(len(item["image_urls"]) for item in items) == 493
    for record in records:
        assert image_fields(record) == image_fields(expected[key(record["url"])])


IMAGE = CORPUS / "exif-samples" / "jpg" / "Canon_PowerShot_S40.jpg"
# Faults of tests/servers/faulty_site.py whose records the two ways must share
# (a retried 503, a reset, an error status, a file smaller than asked, a
# server ignoring Range, not the file's bytes, an HTML page, a redirect loop).
FAULTS = ["ok", "503-retry-after", "reset", "500", "416", "norange", "badrange", "gzip",
          "html-as-jpeg", "loop"]


def test_redirects_and_failures_give_the_images_spiders_records(project, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.jpg").symlink_to(IMAGE)
    faulty = Server([sys.executable, "-m", "tests.servers.faulty_site", str(root),
                     "--log", str(tmp_path / "faults.jsonl")])
    pages = Server([sys.executable, "-m", "tests.servers.static_site", str(tmp_path),
                    "--log", str(tmp_path / "pages.jsonl")])
    urls = [faulty.url(f"/{f}/a.jpg") for f in FAULTS]
    urls += [pages.url("/status/404/gone.jpg"), "http://127.0.0.1:9/refused.jpg"]
    (tmp_path / "page.html").write_text("".join(f'<img src="{u}">' for u in urls))
    page = pages.url("/page.html")
    settings = {"DOWNLOAD_TIMEOUT": 3, "RETRY_TIMES": 2, "REDIRECT_MAX_TIMES": 5,
                "IMGPRINT_RETRY_BACKOFF_BASE": 0.2}
    try:
        images = run_crawl(tmp_path, "-a", f"url={page}", settings=settings)
        addon = crawl(project, "gallery", tmp_path / "items.jsonl", "-a", f"pages={page}",
                      **settings)
        direct = crawl(project, "direct", tmp_path / "direct.jsonl", "-a", f"pages={page}",
                       **settings)
    finally:
        faulty.stop()
        pages.stop()
    assert images.returncode == addon.returncode == direct.returncode == 0, addon.log[-3000:]
    expected = {r["url"]: r for r in images.records}
    [item] = addon.items
    ways = {"image_urls": item["images"], "image_request": direct.items}
    for way, records in ways.items():
        assert sorted(r["url"] for r in records) == sorted(map(key, urls)), way
        for record in records:
            want = expected[record["url"]]
            if "/loop/" in record["url"]:
                # The images spider's dupefilter stops the loop at once; the
                # others stop at REDIRECT_MAX_TIMES: both an error, no hash.
                assert "redirect" in record["error"] and "redirect" in want["error"]
                assert "sha256_first_10240_bytes" not in record
                continue
            assert image_fields(record) == image_fields(want), (way, record["url"])
    by_path = {urlsplit(r["url"]).path: r for r in item["images"]}
    assert by_path["/ok/a.jpg"]["sha256_first_10240_bytes"]
    assert by_path["/status/404/gone.jpg"]["error"] == "HTTP 404"
    assert by_path["/refused.jpg"]["error"] == "connection refused"


def test_a_conflicting_setting_is_refused_in_one_line(project, corpus_site, tmp_path):
    corpus_site.server.clear_log()
    reactor = "twisted.internet.epollreactor.EPollReactor"
    run = crawl(project, "gallery", tmp_path / "items.jsonl",
                "-a", f"pages={corpus_site.server.url(corpus_site.pages[0])}",
                TWISTED_REACTOR=reactor)
    assert run.returncode == 1
    assert run.log.strip() == (
        f"imgprint: TWISTED_REACTOR = '{reactor}': imgprint needs"
        " twisted.internet.asyncioreactor.AsyncioSelectorReactor (Scrapy's default);"
        " remove the setting")
    assert corpus_site.server.requests() == [] and not run.items


def build_venv(tmp: Path) -> Path:
    """A wheel of this checkout installed in a new virtualenv whose other
    packages are this one's (a .pth line): imgprint comes from the wheel only."""
    source = tmp / "source"
    source.mkdir()
    for name in ("setup.py", "pyproject.toml", "requirements.txt", "MANIFEST.in"):
        shutil.copy(PROJECT / name, source / name)
    shutil.copytree(PROJECT / "imgprint", source / "imgprint",
                    ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels),
                    str(source)], check=True, capture_output=True, timeout=300)
    [wheel] = wheels.glob("imgprint-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.base_prefix + "/bin/python3", "-m", "venv", "--without-pip", str(venv)],
                   check=True, capture_output=True)
    python = venv / "bin" / "python"

    def site_packages(py: str | Path) -> str:
        return subprocess.run([str(py), "-c", "import sysconfig;"
                               " print(sysconfig.get_paths()['purelib'])"],
                              check=True, capture_output=True, text=True).stdout.strip()

    Path(site_packages(python), "dependencies.pth").write_text(site_packages(sys.executable))
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True)
    return python


def test_a_wheel_in_a_fresh_virtualenv_runs_the_addon_and_dupes(project, corpus_site,
                                                                tmp_path):
    python = build_venv(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run(
        [str(python), "-c", "import importlib.resources, imgprint;"
         " print(imgprint.__file__);"
         " print(importlib.resources.files('imgprint.dupes')"
         ".joinpath('report.html.template').is_file())"],
        cwd=project, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert where[0].startswith(str(tmp_path / "venv")) and where[1] == "True"
    # Its runtime dependencies are requirements.txt's pins.
    requires = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(*m.requires('imgprint'))"],
        cwd=project, env=env, capture_output=True, text=True, check=True).stdout.split()
    pins = [line.split(" #")[0].strip() for line in (PROJECT / "requirements.txt").read_text()
            .splitlines() if line.strip() and not line.startswith(("#", "-"))]
    assert "scrapy==2.19.0" in pins and sorted(requires) == sorted(pins)
    pages = ",".join(corpus_site.server.url(p) for p in corpus_site.pages[:2])
    out = tmp_path / "records.jsonl"
    run = crawl(project, "direct", out, "-a", f"pages={pages}", python=str(python), env=env)
    assert run.returncode == 0, run.log[-3000:]
    assert run.items and all(r.get("sha256_first_10240_bytes") or r.get("image_size", 0) < 20480
                             for r in run.items if "error" not in r)
    html = tmp_path / "dupes.html"
    dupes = subprocess.run([str(python), "-m", "scrapy", "dupes", "--html", str(html), str(out)],
                           cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert dupes.returncode == 0, dupes.stderr[-3000:]
    n = len(run.items)
    counts = [sum(1 for r in run.items if r.get(f)) for f in
              ("content_sha256", "sha256_first_10240_bytes", "phash", "pdq")]
    assert dupes.stdout.splitlines()[0] == (
        f"1 files, {n} records, {n} image URLs ({counts[0]} with content_sha256,"
        f" {counts[1]} with sha256_first_10240_bytes, {counts[2]} with phash,"
        f" {counts[3]} with pdq)")
    assert counts[1] > 0 and html.read_text().startswith("<!DOCTYPE html>")
