"""imgprint deployed on a real Scrapyd (PyPI's ``scrapyd``) with ``scrapyd-deploy``.

The project is copied, its ``scrapy.cfg`` pointed at the test's Scrapyd, and
deployed as a user deploys it; a job scheduled with ``url=`` and ``depth=`` must
produce, over Scrapyd's HTTP API (``items_dir`` set), the records a local crawl
of the same site produces. A job without seeds must fail visibly.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.conftest import run_crawl
from tests.helpers import PROJECT
from tests.services import scrapyd

pytestmark = pytest.mark.crawl

SAME = ("url", "image_size", "sha256_first_10240_bytes", "content_sha256", "phash",
        "http_status", "error", "pages")


def api(base: str, path: str, data: dict | None = None) -> dict:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    with urllib.request.urlopen(base + path, data=body, timeout=30) as answer:
        return json.loads(answer.read())


def wait_finished(base: str, job: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in api(base, "/listjobs.json?project=imgprint")["finished"]:
            if entry["id"] == job:
                return entry
        time.sleep(0.5)
    raise AssertionError(f"job {job} did not finish")


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    work = tmp_path_factory.mktemp("scrapyd")
    server = scrapyd(work)
    project = tmp_path_factory.mktemp("project")
    shutil.copytree(PROJECT / "imgprint", project / "imgprint",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT / "setup.py", project)
    cfg = (PROJECT / "scrapy.cfg").read_text()
    assert "url = http://localhost:6800\n" in cfg  # no trailing slash
    (project / "scrapy.cfg").write_text(cfg.replace("http://localhost:6800", server.base))
    before = {p.name for p in project.iterdir()}
    deploy = subprocess.run([str(Path(sys.executable).with_name("scrapyd-deploy"))],
                            cwd=project, capture_output=True, text=True, timeout=300)
    yield server, work, project, before, deploy
    server.stop()


def test_deploy_leaves_no_untracked_files(deployed):
    server, work, project, before, deploy = deployed
    assert deploy.returncode == 0, deploy.stderr
    assert '"status": "ok"' in deploy.stdout + deploy.stderr
    left = {p.name for p in project.iterdir()} - before
    assert left <= {"build", "imgprint.egg-info"}, left
    ignored = subprocess.run(["git", "check-ignore", "build/", "imgprint.egg-info/"],
                             cwd=PROJECT, capture_output=True, text=True)
    assert ignored.stdout.split() == ["build/", "imgprint.egg-info/"]
    # The egg carries the HTML template of `scrapy dupes` (package data).
    egg = next((work / "eggs" / "imgprint").glob("*.egg"))
    assert "imgprint/dupes/report.html.template" in zipfile.ZipFile(egg).namelist()
    assert api(server.base, "/listspiders.json?project=imgprint")["spiders"] == ["images"]


def test_a_scheduled_job_matches_a_local_crawl(deployed, corpus_site, tmp_path):
    server = deployed[0]
    seed = corpus_site.server.url("/pages/0000.html")
    job = api(server.base, "/schedule.json", {"project": "imgprint", "spider": "images",
                                               "url": seed, "depth": "1"})["jobid"]
    finished = wait_finished(server.base, job)
    assert finished["items_url"], finished
    with urllib.request.urlopen(server.base + finished["items_url"], timeout=30) as answer:
        remote = [json.loads(line) for line in answer.read().decode().splitlines()]
    local = run_crawl(tmp_path, "-a", f"url={seed}", "-a", "depth=1")
    assert local.returncode == 0, local.log[-3000:]

    def key(records):
        return sorted(json.dumps({k: r.get(k) for k in SAME}, sort_keys=True)
                       for r in records if not r.get("seen_before"))

    assert len(key(remote)) > 20
    assert key(remote) == key(local.records)


def test_a_job_without_seeds_fails_visibly(deployed):
    server, work = deployed[0], deployed[1]
    job = api(server.base, "/schedule.json", {"project": "imgprint", "spider": "images"})["jobid"]
    finished = wait_finished(server.base, job)
    daemon_log = (work / "scrapyd.log").read_text()
    died = [line for line in daemon_log.splitlines()
            if "Process died: exitstatus=2" in line and job in line]
    assert died, daemon_log[-3000:]
    with urllib.request.urlopen(server.base + finished["log_url"], timeout=30) as answer:
        log = answer.read().decode()
    assert "imgprint: URL file not found: urls.txt" in log
