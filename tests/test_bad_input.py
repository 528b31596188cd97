"""Bad input never stops the crawl and never loses a record."""

from __future__ import annotations

import pytest

from tests.conftest import CORPUS, free_port, run_crawl, static_server
from tests.test_config import BAD_CONFIG

pytestmark = pytest.mark.crawl

FUZZING = CORPUS / "metadata-extractor" / "fuzzing"
GOOD = CORPUS / "exif-samples" / "jpg" / "Canon_PowerShot_S40.jpg"


@pytest.fixture
def page_site(tmp_path):
    """A page ``/p.html`` showing one image ``/a.jpg``."""
    root = tmp_path / "site"
    root.mkdir()
    (root / "a.jpg").symlink_to(GOOD)
    (root / "p.html").write_text('<img src="a.jpg">')
    server = static_server(root, tmp_path / "access.jsonl")
    yield server
    server.stop()


def test_bad_lines_are_reported_with_their_line_number(tmp_path, page_site):
    server = page_site
    seeds = tmp_path / "urls.txt"
    seeds.write_text(f"# comment\n\nnot a url\n{server.url('/p.html')}\n"
                     "ftp://example.invalid/x\nhttp://\n")
    crawl = run_crawl(tmp_path, "-a", f"urls={seeds}")
    assert crawl.returncode == 0
    assert "line 3: not an http(s) URL: 'not a url'" in crawl.log
    assert "line 5: not an http(s) URL: 'ftp://example.invalid/x'" in crawl.log
    assert "line 6: URL has no host: 'http://'" in crawl.log
    assert [r["url"] for r in crawl.records] == [server.url("/a.jpg")]


def test_missing_url_file_is_one_clear_error(tmp_path):
    crawl = run_crawl(tmp_path, "-a", f"urls={tmp_path / 'nope.txt'}")
    assert crawl.returncode != 0
    assert f"URL file not found: {tmp_path / 'nope.txt'}" in crawl.log
    assert "Traceback" not in crawl.log
    assert crawl.records == []


def test_http_errors_and_dead_hosts_get_records(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    (root / "ok.jpg").symlink_to(GOOD)
    dead = f"http://127.0.0.1:{free_port()}/gone.jpg"
    (root / "p.html").write_text(
        f'<img src="ok.jpg"><img src="missing.jpg"><img src="/status/500/x.jpg">'
        f'<img src="/status/503/y.jpg"><img src="{dead}">')
    server = static_server(root, tmp_path / "access.jsonl")
    try:
        crawl = run_crawl(tmp_path, "-a", f"url={server.url('/p.html')}",
                          settings={"RETRY_TIMES": 1})
        sent = server.requests()
    finally:
        server.stop()
    assert crawl.returncode == 0
    by_url = {r["url"]: r for r in crawl.records}
    assert by_url[server.url("/ok.jpg")]["sha256_first_10240_bytes"]
    assert by_url[server.url("/missing.jpg")]["error"] == "HTTP 404"
    assert by_url[server.url("/status/500/x.jpg")]["error"] == "HTTP 500"
    assert by_url[server.url("/status/503/y.jpg")]["http_status"] == 503
    assert by_url[dead]["error"] == "connection refused"
    assert all(r["pages"] == [server.url("/p.html")] for r in crawl.records)
    # 500 is retried once (RETRY_TIMES=1), 404 is not.
    assert [r["path"] for r in sent].count("/status/500/x.jpg") == 2
    assert [r["path"] for r in sent].count("/missing.jpg") == 1


def test_fuzzed_files_served_as_jpeg(tmp_path):
    root = tmp_path / "site"
    (root / "f").mkdir(parents=True)
    names = sorted(p.name for p in FUZZING.iterdir() if p.is_file())
    for name in names:
        (root / "f" / name).symlink_to(FUZZING / name)
    (root / "p.html").write_text("".join(f'<img src="f/{n}">' for n in names))
    server = static_server(root, tmp_path / "access.jsonl", types=[".fuzzed=image/jpeg"])
    try:
        crawl = run_crawl(tmp_path, "-a", f"url={server.url('/p.html')}")
    finally:
        server.stop()
    assert crawl.returncode == 0
    assert "Traceback" not in crawl.log
    recorded = {r["url"].rsplit("/", 1)[1] for r in crawl.records}
    assert recorded == set(names)
    fingerprinted = [r for r in crawl.records if "sha256_first_10240_bytes" in r]
    errors = [r for r in crawl.records if r.get("error")]
    print(f"\nfuzzed: {len(names)} files, {len(fingerprinted)} fingerprinted, "
          f"{len(errors)} with an EXIF error recorded")
    assert all(r["content_type"] == "image/jpeg" for r in crawl.records)


def test_bad_configuration_stops_before_the_first_request(tmp_path, page_site):
    """The command path end to end: one line, exit 2, no request, no record."""
    args, message = BAD_CONFIG[0]
    crawl = run_crawl(tmp_path, "-a", f"url={page_site.url('/p.html')}", *args)
    sent = page_site.requests()
    assert crawl.returncode == 2
    errors = [line for line in crawl.log.splitlines() if line.startswith("imgprint: ")]
    assert len(errors) == 1 and errors[0].startswith(f"imgprint: {message}"), crawl.log[-2000:]
    assert "Traceback" not in crawl.log
    assert sent == [] and crawl.records == []


@pytest.mark.crawl
def test_friendly_spellings_run(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    (root / "a.jpg").symlink_to(GOOD)
    server = static_server(root, tmp_path / "access.jsonl")
    try:
        crawl = run_crawl(tmp_path, "-a", f"url={server.url('/a.jpg')}",
                          settings={"IMGPRINT_FETCH_MODE": "HEAD", "TOR_ALL": "no",
                                    "IMGPRINT_GUARD_PRIVATE": "yes"})
        sent = server.requests()
    finally:
        server.stop()
    assert crawl.returncode == 0, crawl.log[-2000:]
    assert [r["sha256_first_10240_bytes"] for r in crawl.records] == [
        "c629c7247153f59599727db141ee1f3c5e4a5a3cc90fa88e2e97d3d78c2fc823"]
    assert sent
