"""``scrapy dupes`` on hostile feeds (issue 23, finding 7).

A line longer than the bound, a gzip'd feed holding one huge line, a line of a
thousand nested lists, a million bad lines: each costs its own line, reported
as an input error (exit status 1); everything else is read and the report is
always written, in bounded memory. The bound is ``bounds.MAX_LINE_BYTES``
(64 MiB): a unit test lowers it to keep its file small; the command-level tests
run the real command with the default, in a child whose peak RSS is measured.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from imgprint.dupes import bounds, iter_file, reading

PROJECT = Path(__file__).resolve().parents[1]
H = "ab" * 32
# ``scrapy dupes`` in a child that prints its own peak RSS (KiB) last: VmHWM of its
# own address space (ru_maxrss would carry the test process's high-water mark in).
MEASURED = """\
import re, sys
from scrapy.cmdline import execute
try:
    execute(["scrapy", "dupes", *sys.argv[1:]])
finally:
    status = open("/proc/self/status").read()
    print("maxrss", re.search(r"VmHWM:\\s*(\\d+) kB", status)[1], file=sys.stderr)
"""
# The command on a one-record feed peaks at about 90 MB; a held 64 MiB line
# and its parse stay well within this, a line read whole (300 MB and up) does not.
RSS_LIMIT_MB = 250


def record(url: str, **extra: object) -> bytes:
    return json.dumps({"url": url, "pages": [url.rsplit("/", 1)[0] + "/"],
                       "sha256_first_10240_bytes": H, **extra}).encode() + b"\n"


def run_measured(*args: object) -> tuple[subprocess.CompletedProcess, float]:
    """The real command; its result and its peak RSS in MB."""
    proc = subprocess.run([sys.executable, "-c", MEASURED, *map(str, args)], cwd=PROJECT,
                          capture_output=True, text=True, timeout=300)
    last = proc.stderr.strip().rsplit("\n", 1)[-1]
    assert last.startswith("maxrss "), proc.stderr[-2000:]
    return proc, int(last.split()[1]) / 1024


def grouped_urls(report: dict) -> set[str]:
    return {i["url"] for g in report["exact"]["sha256_first_10240_bytes"] for i in g["images"]}


def test_a_line_over_the_bound_is_skipped_and_reported(tmp_path, monkeypatch):
    """A valid record over the bound is not taken: the line is reported, the next read."""
    monkeypatch.setattr(bounds, "MAX_LINE_BYTES", 1 << 20)
    big = record("https://b.org/huge.jpg", pad="x" * 3_000_000)
    jl = tmp_path / "feed.jsonl"
    jl.write_bytes(record("https://a.org/1.jpg") + big + record("https://c.org/3.jpg"))
    errors: list[reading.InputError] = []
    got = [(line, rec["url"]) for line, rec in iter_file(jl, errors.append)]
    assert got == [(1, "https://a.org/1.jpg"), (3, "https://c.org/3.jpg")]
    assert [str(e) for e in errors] == [
        f"{jl}:2: line longer than 1 MiB ({len(big):,} bytes): skipped"]
    # The same record as an element of a JSON list (the streaming decoder's path).
    lst = tmp_path / "feed.json"
    lst.write_bytes(b"[\n" + b",\n".join(
        [record("https://a.org/1.jpg").strip(), big.strip(),
         record("https://c.org/3.jpg").strip()]) + b"\n]\n")
    errors.clear()
    got = [(line, rec["url"]) for line, rec in iter_file(lst, errors.append)]
    assert got == [(2, "https://a.org/1.jpg"), (4, "https://c.org/3.jpg")]
    assert [str(e) for e in errors] == [f"{lst}:3: value longer than 1 MiB: skipped"]


@pytest.mark.crawl
def test_a_400_mb_line_is_not_read_whole(tmp_path):
    """The default bound: a 400 MB line (a sparse run of NULs, nothing on disk)
    costs at most the bound in memory and is reported; the report is written."""
    feed = tmp_path / "feed.jsonl"
    with feed.open("wb") as f:
        f.write(record("https://a.org/1.jpg"))
        f.truncate(f.tell() + (400 << 20))
        f.seek(0, 2)
        f.write(b"\n" + record("https://c.org/3.jpg"))
    proc, rss = run_measured("--json", "--no-near", feed)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert f"{feed}:2: line longer than 64 MiB (419,430,401 bytes): skipped" in proc.stderr
    report = json.loads(proc.stdout)
    assert grouped_urls(report) == {"https://a.org/1.jpg", "https://c.org/3.jpg"}
    assert report["errors"]["count"] == 1
    assert rss < RSS_LIMIT_MB, f"peak RSS {rss:.0f} MB"


def gzip_feed(path: Path, before: bytes, after: bytes, mb: int = 300) -> int:
    """A gzip'd feed: ``before``, one record line of ``mb`` MB, ``after``; that line's length."""
    head, tail = b'{"url": "https://b.org/huge.jpg", "pad": "', b'"}\n'
    chunk = b"x" * (1 << 20)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(before + head)
        for _ in range(mb):
            f.write(chunk)
        f.write(tail + after)
    return len(head) + mb * len(chunk) + len(tail)


@pytest.mark.crawl
def test_a_gzip_feed_holding_one_huge_line(tmp_path):
    """300 MB of one record's line in 1.3 MB of gzip, between two records or alone:
    read past, never held."""
    feed = tmp_path / "feed.jsonl.gz"
    line = gzip_feed(feed, record("https://a.org/1.jpg"), record("https://c.org/3.jpg"))
    assert feed.stat().st_size < 2e6
    proc, rss = run_measured("--json", "--no-near", feed)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert f"{feed}:2: line longer than 64 MiB ({line:,} bytes): skipped" in proc.stderr
    report = json.loads(proc.stdout)
    assert grouped_urls(report) == {"https://a.org/1.jpg", "https://c.org/3.jpg"}
    assert rss < RSS_LIMIT_MB, f"peak RSS {rss:.0f} MB"
    # Alone, the line is also the first: read by the streaming decoder.
    alone = tmp_path / "alone.jsonl.gz"
    gzip_feed(alone, b"", b"")
    proc, rss = run_measured("--json", "--no-near", alone)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert f"{alone}:1: value longer than 64 MiB: skipped" in proc.stderr
    assert json.loads(proc.stdout)["summary"]["records"] == 0
    assert rss < RSS_LIMIT_MB + 50, f"peak RSS {rss:.0f} MB"


def test_a_thousand_nested_lists(tmp_path):
    """Records inside nested lists are found without recursion: json parses as deep
    as the interpreter lets it (Python 3.13: over 1,500 levels, more than Python's
    own recursion limit), so the walk over the value must not use the stack."""
    deep: object = {"url": "https://b.org/deep.jpg"}
    for _ in range(sys.getrecursionlimit() + 500):
        deep = [deep]
    errors: list[reading.InputError] = []
    assert [rec["url"] for _, rec in reading.records_in(deep, "f", 1, errors.append)] == [
        "https://b.org/deep.jpg"]
    assert errors == []
    # Through the reader: 950 levels (json parses them here) hold a record; 5,000
    # (deeper than json parses) are one bad line. In lines and in a JSON list.
    nested = b"[" * 950 + record("https://b.org/deep.jpg").strip() + b"]" * 950
    jl = tmp_path / "feed.jsonl"
    jl.write_bytes(record("https://a.org/1.jpg") + nested + b"\n"
                   + b"[" * 5000 + b"]" * 5000 + b"\n" + b"[1, [2.5, [\"x\"]]]\n")
    lst = tmp_path / "feed.json"
    lst.write_bytes(b"[\n" + nested + b",\n" + record("https://c.org/3.jpg").strip() + b"\n]")
    got = [(line, rec["url"]) for f in (jl, lst) for line, rec in iter_file(f, errors.append)]
    assert got == [(1, "https://a.org/1.jpg"), (2, "https://b.org/deep.jpg"),
                   (2, "https://b.org/deep.jpg"), (3, "https://c.org/3.jpg")]
    assert [e.line for e in errors] == [3, 4]
    assert errors[0].message.startswith("bad JSON: maximum recursion depth exceeded")
    assert errors[1].message == "not a record: 3 values of type float, int, str"


@pytest.mark.crawl
def test_a_million_bad_lines_keep_only_the_first_errors(tmp_path):
    """Each bad line is counted; only the first 100 are kept and shown."""
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(record("https://a.org/1.jpg") + b"x\n" * 1_000_000
                     + record("https://c.org/3.jpg"))
    proc, rss = run_measured("--json", "--no-near", feed)
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["errors"]["count"] == 1_000_000
    assert len(report["errors"]["first"]) == 100
    assert "999900 more input errors not shown" in proc.stderr
    assert grouped_urls(report) == {"https://a.org/1.jpg", "https://c.org/3.jpg"}
    assert rss < 150, f"peak RSS {rss:.0f} MB"


def test_records_after_a_long_blank_start_are_read(tmp_path):
    """A feed opening with more blank bytes than the 4 KiB peek is not taken for empty."""
    for name, body in (("feed.jsonl", record("https://a.org/1.jpg")),
                       ("feed.json", b"[" + record("https://a.org/1.jpg") + b"]")):
        f = tmp_path / name
        f.write_bytes(b"\n" * 3000 + b" " * 7000 + body)
        errors: list[reading.InputError] = []
        assert [(line, rec["url"]) for line, rec in iter_file(f, errors.append)] == [
            (3001, "https://a.org/1.jpg")]
        assert errors == []


def test_a_line_of_a_million_values_is_not_parsed(tmp_path):
    """Parsed, ``{},`` takes 24 times its text: a line (or a list element) over
    1 MiB with more than MAX_LINE_VALUES commas is skipped before it is parsed."""
    crowded = b'{"url": "https://b.org/x.jpg", "x": [' + b"{}," * 1_200_000 + b"{}]}"
    jl = tmp_path / "feed.jsonl"
    jl.write_bytes(record("https://a.org/1.jpg") + crowded + b"\n" + record("https://c.org/3.jpg"))
    lst = tmp_path / "feed.json"
    lst.write_bytes(b"[\n" + record("https://a.org/1.jpg").strip() + b",\n" + crowded + b",\n"
                    + record("https://c.org/3.jpg").strip() + b"\n]")
    for f, message in ((jl, "line of more than 1,000,000 values: skipped"),
                       (lst, "value of more than 1,000,000 values: skipped")):
        errors: list[reading.InputError] = []
        got = [rec["url"] for _, rec in iter_file(f, errors.append)]
        assert got == ["https://a.org/1.jpg", "https://c.org/3.jpg"]
        assert [(e.line, e.message) for e in errors] == [(2 if f == jl else 3, message)]
