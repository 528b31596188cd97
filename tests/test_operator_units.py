"""Unit tests for what an operator sees: URL file lines, the progress line, the
summary, the resume command and the pre-crawl feed checks."""

from __future__ import annotations

from collections import Counter

from imgprint.extensions.progress import bar_wanted, progress_line
from imgprint.extensions.tally import Tally, error_kind, resume_command, summary_lines
from imgprint.items import ImageRecord
from imgprint.preflight import local_problem, redacted
from imgprint.urlfile import parse_lines


def test_inline_comments_are_cut_and_fragments_kept():
    urls, bad = parse_lines(["http://a.org/x # comment", "http://a.org/y#frag",
                             "http://b.org/\t# tab", "# whole line", ""])
    assert urls == ["http://a.org/x", "http://a.org/y#frag", "http://b.org/"]
    assert bad == []


def test_scheme_less_lines_get_a_hint():
    _, bad = parse_lines(["www.example.org/x", "localhost:8000/p.html", "not a url"])
    assert [b.reason for b in bad] == [
        "not an http(s) URL: no scheme; did you mean 'https://www.example.org/x'?",
        "not an http(s) URL: no scheme; did you mean 'https://localhost:8000/p.html'?",
        "not an http(s) URL"]


def record(**fields):
    r = ImageRecord(fields.pop("url", "http://a/x.jpg"), pages=[])
    r.set(**fields)
    return r


def test_tally_and_summary():
    tally = Tally()
    tally.add(record(image_size=30000, bytes_fetched=10241, exif={"a": "b"},
                     sha256_first_10240_bytes="00", gps={"lat": 1.0}))
    tally.add(record(image_size=3000, bytes_fetched=3000, xmp={"dc:title": "t"}))
    tally.add(record(error="HTTP 404", http_status=404, bytes_fetched=145))
    tally.add(record(error="timeout: no complete answer within 30 s"))
    tally.add(ImageRecord.sighting("http://a/x.jpg", ["http://a/p2"]))
    assert (tally.records, tally.seen_again, tally.fingerprinted, tally.with_gps) == (4, 1, 1, 1)
    assert (tally.with_exif, tally.with_xmp, tally.with_iptc) == (1, 1, 0)
    assert tally.errors == Counter({"HTTP 404": 1, "timeout": 1})
    lines = summary_lines(tally, {"imgprint/pages": 2, "imgprint/images/small": 0,
                                  "downloader/response_bytes": 12000}, ["out.jsonl"])
    # record() makes pages == []: image seeds; the one with an error and no bytes failed
    assert lines[0] == ("3 images recorded (1 later sighting) from 2 pages and 3 image seeds;"
                        " failed: 1 image seed")
    assert "with EXIF 1, with XMP 1, with IPTC 0, with GPS 1" in lines[1]
    assert "errors 2: HTTP 404 ×1, timeout ×1" in lines
    assert lines[3].startswith("fetched 13.4 KB of images totalling 33.0 KB (40.6 %)")
    assert lines[-1] == "feed: out.jsonl"
    assert error_kind("server applied Content-Encoding gzip: the bytes") == \
        "server applied Content-Encoding gzip"


def test_progress_line_and_bar_rule():
    line = progress_line({"pages_done": 3, "pages_pending": 2, "recorded": 40,
                          "images_pending": 20, "rate": 10.0, "overall": 8.0,
                          "bytes": 2_500_000, "errors": 1})
    assert line == ("pages 3 done, 2 pending | images 40 recorded, 20 pending, 10.0/s"
                    " (8.0/s overall) | 2.5 MB received | errors 1 | ETA ~2 s")

    class Tty:
        def isatty(self):
            return True

    assert bar_wanted(False, Tty()) is False
    assert bar_wanted(True, object()) is False


def test_resume_command_and_redaction():
    argv = ["/x/scrapy/__main__.py", "images", "-o", "out.jsonl", "-s", "JOBDIR=jobs/a b"]
    assert resume_command(argv) == "scrapy crawl images -o out.jsonl -s 'JOBDIR=jobs/a b'"
    assert redacted("s3://KEY:SECRET@bucket/x.jsonl") == "s3://KEY:***@bucket/x.jsonl"


def test_local_feed_problems(tmp_path):
    (tmp_path / "f").write_text("")
    assert local_problem(tmp_path / "new" / "dir" / "out.jsonl") is None
    assert local_problem(tmp_path / "f" / "out.jsonl") == f"{tmp_path / 'f'} is not a directory"
    assert local_problem(tmp_path) == "is a directory"


def test_dupes_html_summary_contents_order_and_merged_groups(tmp_path):
    import json

    from imgprint.dupes import build_report, load, render_html

    c, s = "c" * 64, "5" * 64
    records = [  # one picture under three URLs: two share both hashes, one only content
        {"url": "https://a.org/x.jpg", "pages": ["https://a.org/"],
         "content_sha256": c, "sha256_first_10240_bytes": s, "image_size": 30000},
        {"url": "https://b.net/x.jpg", "pages": ["https://b.net/"],
         "content_sha256": c, "sha256_first_10240_bytes": s, "image_size": 30000},
        {"url": "https://c.com/y.jpg", "pages": ["https://c.com/"],
         "content_sha256": c, "image_size": 29000},
    ]
    feed = tmp_path / "f.jsonl"
    feed.write_text("".join(json.dumps(r) + "\n" for r in records))
    html = render_html(build_report(load([feed], lambda e: None)))
    body = html[html.index("<body>"):]
    assert body.index("<table class=summary>") < body.index("<nav>") < body.index(
        "<h2 id=sites>") < body.index("<h2 id=near>") < body.index("<h2 id=identical>")
    assert '<a href="#identical">Identical images (1 groups)</a>' in body
    identical = body[body.index("<h2 id=identical>"):]
    assert identical.count("<details>") == 1  # both hashes, one row
    assert "<b>3</b> URLs" in identical and "29,000, 30,000 bytes" in identical
