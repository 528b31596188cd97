"""The record's JSON Schema (imgprint/schema/record.schema.json, package data).

Every field of ``ImageRecord`` is described, the schema refuses what a record
never holds, every record of the corpus crawl validates (``run_crawl`` also
validates every feed line any crawl test reads: tests/conftest.py), and the
schema ships in the egg Scrapyd runs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import pytest
from jsonschema import Draft202012Validator

from imgprint.items import FIELDS, ImageRecord
from imgprint.schema import record_schema
from tests.conftest import check_records
from tests.helpers import PROJECT

SCHEMA = record_schema()
VALID = Draft202012Validator(SCHEMA)
HEX64 = "0123456789abcdef" * 4


def test_the_schema_is_a_valid_2020_12_schema_describing_every_field():
    Draft202012Validator.check_schema(SCHEMA)
    assert set(FIELDS) <= set(SCHEMA["properties"])
    # Fields other helpers are adding, optional until then.
    assert {"phash_source", "pdq", "pdq_quality"} <= set(SCHEMA["properties"])
    assert SCHEMA["required"] == ["url", "timestamp", "pages"]


def full_record() -> dict:
    record = ImageRecord("https://a.org/x.jpg", pages=["https://a.org/"])
    record.set(image_size=30000, etag="abc", exif={"Image Make": "Canon"},
               sha256_first_10240_bytes=HEX64, random_128_bytes_sample_start="ab" * 128,
               format="jpeg", width=640, height=480, bit_depth=8, has_color_profile=False,
               has_transparency=False, has_xmp=True, density=[72, 72], progressive=False,
               quality=92, frames=1, content_sha256=HEX64, phash="8f373714acfcf4d0",
               phash_source="exif_thumbnail", gps={"lat": 60.17, "lon": 24.94, "alt": 12.5},
               taken_at="2020-05-04T12:01:02.50+03:00", taken_at_source="exif",
               modified_at="2021-01-01T00:00:00", camera={"make": "Canon", "serial": "123"},
               software="GIMP", xmp={"dc:subject": ["a", "b"], "dc:title": "t"},
               iptc={"Keywords": ["k"], "City": "Oulu"}, icc={"description": "sRGB"},
               png_text={"Comment": "c"}, png_time="2020-01-01T00:00:00Z", comment="c",
               user_comment="u", final_url="https://cdn.a.org/x.jpg",
               content_type="image/jpeg", http_status=206, bytes_fetched=10241, requests=2,
               metadata_incomplete="follow-up budget", found_by="html",
               error="EXIF not readable: bad IFD", pdq=HEX64, pdq_quality=100,
               phash_band="0f373714acfcf4d1", phash_band_source="top_band",
               phash_error="exif_thumbnail: over the pixel cap")
    return record.to_dict()


def test_a_record_with_every_field_and_the_short_ones_validate():
    assert set(full_record()) | {"seen_before"} == set(SCHEMA["properties"])
    check_records([
        full_record(),
        ImageRecord.sighting("https://a.org/x.jpg", ["https://a.org/2"]).to_dict(),
        {"url": "https://a.org/gone.jpg", "pages": [], "error": "HTTP 404", "http_status": 404,
         "timestamp": "2026-12-01T04:15:57Z"},
        {**full_record(), "image_size": None, "etag": None, "content_sha256": None,
         "phash": None, "phash_source": None, "density": None, "content_type": None},
    ], "made here")


@pytest.mark.parametrize("change", [
    {"sha256_first_10240_bytes": HEX64[:-1]},
    {"content_sha256": HEX64.upper()},
    {"phash": "8f37"},
    {"pdq": HEX64 + "00"},
    {"pdq_quality": 101},
    {"timestamp": "2026-12-01 04:15:57"},
    {"gps": {"lat": 91.0, "lon": 0.0}},
    {"gps": {"lat": 1.0}},
    {"camera": {"maker": "Canon"}},
    {"format": "bmp"},
    {"http_status": 0},
    {"url": "ftp://a.org/x.jpg"},
    {"image_data": "ffd8"},  # no field beyond the documented ones
    {"seen_before": False},
])
def test_what_a_record_never_holds_is_refused(change):
    assert not VALID.is_valid({**full_record(), **change})


def test_a_later_sighting_carries_nothing_else():
    sighting = ImageRecord.sighting("https://a.org/x.jpg", ["https://a.org/2"]).to_dict()
    assert VALID.is_valid(sighting)
    assert not VALID.is_valid({**sighting, "image_size": 3})
    assert not VALID.is_valid({**sighting, "pages": []})


@pytest.mark.crawl
def test_every_record_of_the_corpus_crawl_validates(corpus_crawl):
    crawl, _ = corpus_crawl
    assert len(crawl.records) == 493
    errors = [e for r in crawl.records for e in VALID.iter_errors(r)]
    assert errors == []
    # The schema checks what the crawl wrote, not a subset: the fields that carry
    # formats (hashes, times, GPS) are all there.
    seen = {key for r in crawl.records for key in r}
    assert {"sha256_first_10240_bytes", "content_sha256", "phash", "gps", "taken_at",
            "camera", "xmp", "iptc", "icc", "png_time", "error"} <= seen


@pytest.mark.crawl
def test_the_schema_and_every_module_are_in_the_egg_scrapyd_runs(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(PROJECT / "imgprint", project / "imgprint",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT / "setup.py", project)
    subprocess.run([sys.executable, "setup.py", "-q", "bdist_egg", "-d", str(tmp_path / "dist")],
                   cwd=project, check=True, capture_output=True, timeout=300)
    egg = next((tmp_path / "dist").glob("*.egg"))
    # Imported from the egg (a zip), as Scrapyd does: a directory without
    # __init__.py would come from the editable install instead, or not at all.
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import imgprint.schema as s;"
            " import imgprint.fingerprint.phash as p, imgprint.metadata.exif as e;"
            " assert all(m.__file__.startswith(sys.argv[1]) for m in (s, p, e)), (p, e);"
            " print(s.record_schema()['title'])")
    out = subprocess.run([sys.executable, "-c", code, str(egg)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    names = set(zipfile.ZipFile(egg).namelist())
    assert "imgprint/schema/record.schema.json" in names
    # Every module, also those of directories without __init__.py (fingerprint/,
    # metadata/): a Scrapyd host without the project checkout has only the egg.
    modules = {p.relative_to(project).as_posix() for p in (project / "imgprint").rglob("*.py")}
    assert modules - names == set()
    assert out.stdout.strip() == "imgprint image record", out.stderr[-2000:]


def test_the_validation_snippet_of_records_md_works_as_written(tmp_path):
    """docs/records.md, "Validating a feed": its python block, run as it is."""
    import json
    import re

    doc = (PROJECT / "docs" / "records.md").read_text()
    section = doc[doc.index("## Validating a feed"):]
    [snippet] = re.findall(r"^```python\n(.*?)^```$", section, flags=re.S | re.M)
    good = ImageRecord.sighting("https://a.org/x.jpg", ["https://a.org/2"]).to_dict()
    bad = {**full_record(), "phash": "xyz"}
    (tmp_path / "out.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    out = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60, env={"PYTHONPATH": str(PROJECT)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == ["out.jsonl line 2: $.phash: 'xyz' is not valid under"
                                       " any of the given schemas"]
