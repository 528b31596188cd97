"""Shared fixtures: real HTTP servers on loopback and a helper that runs real crawls."""

from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.helpers import CORPUS, CRAWL_TEST, PROJECT, SHARED, require_crawl_marker

REFERENCE = SHARED / "reference" / "seed-compat-visible.jsonl"
SITE_TOOL = SHARED / "tools" / "site.py"
IMAGE_TYPES = [
    ".heic=image/heic", ".heif=image/heif", ".avif=image/avif", ".webp=image/webp",
    ".tif=image/tiff", ".tiff=image/tiff", ".JPG=image/jpeg",
]


class Server:
    """A server process on 127.0.0.1 that prints its port on its first line."""

    def __init__(self, argv: list[str], log: Path | None = None, cwd: Path = PROJECT):
        require_crawl_marker("a server")
        self.log = log
        self.proc = subprocess.Popen(
            argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        line = self.proc.stdout.readline().strip()
        if not line.isdigit():
            self.proc.kill()
            raise RuntimeError(f"server {argv} did not start: {line!r}")
        self.port = int(line)
        self.base = f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def requests(self) -> list[dict]:
        if not self.log or not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def clear_log(self) -> None:
        if self.log:
            self.log.write_text("")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def static_server(root: Path, log: Path, types: list[str] = IMAGE_TYPES) -> Server:
    argv = [sys.executable, "-m", "tests.servers.static_site", str(root), "--log", str(log)]
    for t in types:
        argv += ["--type", t]
    return Server(argv, log)


def http_server_ignoring_range(root: Path, log: Path) -> Server:
    """Python's http.server: sends the whole file whatever the Range header says."""
    argv = [sys.executable, "-m", "tests.servers.norange_site", str(root), "--log", str(log)]
    return Server(argv, log)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def image_path_url(rel: str) -> str:
    """URL path under which site.py serves a corpus file."""
    return "/img/" + "/".join(quote(part) for part in rel.split("/"))


@dataclass
class Site:
    root: Path
    server: Server
    pages: list[str]
    images: list[str] = field(default_factory=list)  # corpus-relative paths

    def seed_file(self, dest: Path) -> Path:
        dest.write_text("".join(self.server.url(p) + "\n" for p in self.pages))
        return dest


@pytest.fixture(scope="session")
def corpus_site(tmp_path_factory) -> Site:
    """The corpus as site.py builds it, served by Twisted's static.File."""
    root = tmp_path_factory.mktemp("corpus-site")
    subprocess.run([sys.executable, str(SITE_TOOL), "build", str(CORPUS), str(root)],
                   check=True, capture_output=True)
    pages = sorted("/pages/" + p.name for p in (root / "pages").glob("*.html"))
    exts = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".heic", ".heif", ".avif"}
    images = sorted(p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*")
                    if p.is_file() and p.suffix.lower() in exts)
    server = static_server(root, root / "access.jsonl")
    yield Site(root, server, pages, images)
    server.stop()


@dataclass
class Crawl:
    returncode: int
    records: list[dict]
    log: str
    output: Path

    def by_path(self) -> dict[str, dict]:
        from urllib.parse import unquote, urlsplit
        return {unquote(urlsplit(r["url"]).path): r for r in self.records
                if not r.get("seen_before")}


def run_crawl(tmp_path: Path, *args: str, settings: dict | None = None,
              timeout: float = 600, output: str = "out.jsonl", append: bool = False) -> Crawl:
    """``scrapy crawl images ARGS -O tmp/out.jsonl`` in the project, as a user runs it
    (``-o``, appending, with ``append``: what a JOBDIR needs)."""
    require_crawl_marker("a crawl")
    out = tmp_path / output
    argv = [sys.executable, "-m", "scrapy", "crawl", "images", "-o" if append else "-O",
            str(out), *args]
    for key, value in (settings or {}).items():
        argv += ["-s", f"{key}={value}"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    before = out.stat() if out.exists() else None
    proc = subprocess.run(argv, cwd=PROJECT, capture_output=True, text=True, timeout=timeout,
                          env=env)
    records = []
    if out.exists():
        records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
        after = out.stat()
        if before is None or (after.st_mtime_ns, after.st_size) != (before.st_mtime_ns,
                                                                    before.st_size):
            check_records(records, out)  # what the crawl wrote, not a test's own file
    return Crawl(proc.returncode, records, proc.stderr, out)


def crawl_page_of(site: Path, names: list[str], tmp_path: Path) -> Crawl:
    """Serve `site` with an index.html showing each of `names` as an <img>, crawl
    it with ``scrapy crawl images``, and check that the crawl ran."""
    (site / "index.html").write_text("".join(f'<img src="/{n}">' for n in names))
    server = static_server(site, tmp_path / "access.jsonl")
    try:
        crawl = run_crawl(tmp_path, "-a", f"url={server.url('/index.html')}")
    finally:
        server.stop()
    assert crawl.returncode == 0, crawl.log[-3000:]
    return crawl


@functools.cache
def record_validator():
    from jsonschema import Draft202012Validator

    from imgprint.schema import record_schema

    return Draft202012Validator(record_schema())


def check_records(records: list[dict], where: object) -> None:
    """Every feed line a test reads is a valid record (imgprint/schema/record.schema.json)."""
    from jsonschema.exceptions import best_match

    validator = record_validator()
    for line, record in enumerate(records, 1):
        error = best_match(validator.iter_errors(record))
        if error is not None:
            raise AssertionError(f"{where}, line {line}: not a valid record: {error.json_path}:"
                                 f" {error.message[:500]}")


def load_reference() -> list[dict]:
    return [json.loads(line) for line in REFERENCE.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def corpus_crawl(corpus_site, tmp_path_factory) -> tuple[Crawl, list[dict]]:
    """One default crawl of the whole corpus site, and the requests the server saw."""
    tmp = tmp_path_factory.mktemp("crawl")
    corpus_site.server.clear_log()
    crawl = run_crawl(tmp, "-a", f"urls={corpus_site.seed_file(tmp / 'urls.txt')}")
    assert crawl.returncode == 0, crawl.log[-3000:]
    return crawl, corpus_site.server.requests()


# Programs the crawl layer starts; .ci/run installs them from .ci/apt-packages.txt.
# Missing ones fail a run that selects crawl tests at once, instead of skipping
# what needs them; the unit layer needs none of them.
REQUIRED_PROGRAMS = ("microsocks", "unshare", "ip", "exiftool", "chromium", "redis-server")


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "crawl: runs real crawls, servers or programs (exiftool, chromium, ...) in"
        " subprocesses (the slow layer);"
        " `pytest -m 'not crawl'` runs the unit layer in seconds")


def pytest_collection_modifyitems(items) -> None:
    # Tests that use a real server or crawl fixture are crawl tests by definition.
    slow = {"corpus_site", "corpus_crawl", "fault_crawl"}
    for item in items:
        if slow & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.crawl)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item) -> None:
    CRAWL_TEST["marked"] = item.get_closest_marker("crawl") is not None


def pytest_sessionstart(session) -> None:
    if not CORPUS.is_dir():
        raise pytest.UsageError(f"the test corpus is missing: {CORPUS}")


def pytest_collection_finish(session) -> None:
    import shutil
    if not any(item.get_closest_marker("crawl") for item in session.items):
        return
    missing = [p for p in REQUIRED_PROGRAMS if not shutil.which(p)]
    if missing:
        raise pytest.UsageError(
            f"missing programs {missing} (the crawl layer runs them): run `bash .ci/run`"
            " (installs .ci/apt-packages.txt), or `pytest -m 'not crawl'` for the unit layer")
