"""Kill -9 at random moments and resume: every image recorded exactly once."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from collections import Counter
from urllib.parse import unquote, urlsplit

from tests.conftest import PROJECT, image_path_url

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
    try:
        proc.wait(timeout=2.5)
        stopped_early = False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
        stopped_early = True
    text = first.read_text()
    assert text.endswith("\n")  # the feed was flushed and closed
    assert start_crawl(seeds, jobdir, second, log).wait(timeout=600) == 0
    records = union_of_outputs([first, second])
    print(f"\nSIGTERM: {len(text.splitlines())} records before, "
          f"{len(second.read_text().splitlines())} after resuming")
    assert stopped_early
    assert_exactly_once(records, corpus_site)
