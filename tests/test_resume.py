"""Kill -9 at random moments and resume: every image recorded exactly once.

Also the feeds a job may use: with ``JOBDIR``, ``-o out.json`` (a JSON array)
is refused before any request, and ``-o out.jsonl`` run twice on a finished job
fetches nothing again. Fast tests of ``imgprint.resume``: test_resume_unit.py.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.conftest import CORPUS, PROJECT, image_path_url, static_server

pytestmark = pytest.mark.crawl

# About 5 s for the whole site, so that kills land at every stage of it.
SLOW = {"CONCURRENT_REQUESTS": 1, "DOWNLOAD_DELAY": 0.005, "RANDOMIZE_DOWNLOAD_DELAY": False,
        "LOG_LEVEL": "INFO"}


def start_crawl(seeds, jobdir, out, log):
    argv = [sys.executable, "-m", "scrapy", "crawl", "images", "-a", f"urls={seeds}",
            "-o", str(out), "-s", f"JOBDIR={jobdir}"]
    for key, value in SLOW.items():
        argv += ["-s", f"{key}={value}"]
    return subprocess.Popen(argv, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=log)


def union_of_outputs(outputs):
    """Every line of every output, parsed: a partial line fails the test."""
    records = []
    for out in outputs:
        if out.exists():
            for line in out.read_text().splitlines():
                records.append(json.loads(line))  # raises on a cut line
    return records


def expected_paths(site):
    return {unquote(image_path_url(rel)) for rel in site.images}


def assert_exactly_once(records, site):
    images = Counter(unquote(urlsplit(r["url"]).path) for r in records if not r.get("seen_before"))
    duplicated = [p for p, n in images.items() if n > 1]
    assert not duplicated
    assert set(images) == expected_paths(site)


def test_sigkill_at_random_moments_then_resume(corpus_site, tmp_path):
    seeds = corpus_site.seed_file(tmp_path / "urls.txt")
    jobdir = tmp_path / "job"
    rng = random.Random(20261125)
    outputs, kills = [], 0
    log = (tmp_path / "crawl.log").open("w")
    for run in range(8):
        if kills == 4:
            break
        out = tmp_path / f"out-{run}.jsonl"
        outputs.append(out)
        proc = start_crawl(seeds, jobdir, out, log)
        try:
            proc.wait(timeout=rng.uniform(0.9, 1.8))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
    out = tmp_path / "out-final.jsonl"
    outputs.append(out)
    final = start_crawl(seeds, jobdir, out, log)
    assert final.wait(timeout=600) == 0
    records = union_of_outputs(outputs)
    per_run = [len(o.read_text().splitlines()) if o.exists() else 0 for o in outputs]
    print(f"\nkill -9 x{kills}: records per run {per_run}, "
          f"{len(expected_paths(corpus_site))} images")
    assert kills >= 3
    assert_exactly_once(records, corpus_site)


def test_sigterm_stops_gracefully_and_resumes(corpus_site, tmp_path):
    seeds = corpus_site.seed_file(tmp_path / "urls.txt")
    jobdir = tmp_path / "job"
    log = (tmp_path / "crawl.log").open("w")
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    proc = start_crawl(seeds, jobdir, first, log)
    # Stop it once it has recorded something (start-up time varies with load).
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline and not (
            first.exists() and first.stat().st_size):
        time.sleep(0.05)
    stopped_early = proc.poll() is None
    if stopped_early:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
    text = first.read_text()
    assert text.endswith("\n")  # the feed was flushed and closed
    assert start_crawl(seeds, jobdir, second, log).wait(timeout=600) == 0
    records = union_of_outputs([first, second])
    print(f"\nSIGTERM: {len(text.splitlines())} records before, "
          f"{len(second.read_text().splitlines())} after resuming")
    assert stopped_early
    assert_exactly_once(records, corpus_site)


IMAGES = ["Canon_40D.jpg", "Canon_PowerShot_S40.jpg", "Nikon_COOLPIX_P1.jpg"]


def three_image_site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    for name in IMAGES:
        (root / name).symlink_to(CORPUS / "exif-samples" / "jpg" / name)
    (root / "p.html").write_text("".join(f'<img src="{name}">' for name in IMAGES))
    return root


def crawl_job(url: str, jobdir: Path, output: Path) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "scrapy", "crawl", "images", "-a", f"url={url}",
            "-o", str(output), "-s", f"JOBDIR={jobdir}"]
    return subprocess.run(argv, cwd=PROJECT, capture_output=True, text=True, timeout=300)


def test_json_array_feed_with_jobdir_is_refused_at_start(tmp_path):
    """The bug: a rerun appended to the array (fetching 2 images again) and cut its ``]``."""
    server = static_server(three_image_site(tmp_path), tmp_path / "access.jsonl")
    out = tmp_path / "out.json"
    out.write_text('[\n{"url": "http://example.invalid/a.jpg"}\n]')
    before = out.read_bytes()
    try:
        proc = crawl_job(server.url("/p.html"), tmp_path / "job", out)
        sent = server.requests()
    finally:
        server.stop()
    assert proc.returncode != 0
    problem = [line for line in proc.stderr.splitlines() if "has format json" in line]
    assert len(problem) == 1, proc.stderr[-3000:]
    assert f"JOBDIR: feed {out} has format json" in problem[0]
    assert f"use -o {out.with_suffix('.jsonl')}" in problem[0]
    assert "Traceback" not in proc.stderr
    assert sent == []
    assert out.read_bytes() == before


def test_json_lines_feed_rerun_on_a_finished_job_fetches_nothing(tmp_path):
    server = static_server(three_image_site(tmp_path), tmp_path / "access.jsonl")
    out, jobdir = tmp_path / "out.jsonl", tmp_path / "job"
    try:
        first = crawl_job(server.url("/p.html"), jobdir, out)
        fetched_first = [r["path"] for r in server.requests()]
        server.clear_log()
        second = crawl_job(server.url("/p.html"), jobdir, out)
        fetched_second = [r["path"] for r in server.requests()]
    finally:
        server.stop()
    assert first.returncode == 0, first.stderr[-3000:]
    assert second.returncode == 0, second.stderr[-3000:]
    assert {f"/{name}" for name in IMAGES} <= set(fetched_first)
    assert not [p for p in fetched_second if p.endswith(".jpg")], fetched_second
    records = [json.loads(line) for line in out.read_text().splitlines()]  # every line whole
    recorded = [r["url"] for r in records if not r.get("seen_before")]
    assert sorted(recorded) == sorted(server.url(f"/{name}") for name in IMAGES)
