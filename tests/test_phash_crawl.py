"""A crawl of originals and their copies (made here with Pillow: re-saved at
q85, half and quarter size, progressive, WebP, PNG): every copy's record carries a
whole-picture or band hash within the threshold of its original's, no record
matches another photo's, `scrapy dupes` groups each photo with its copies, and
images under IMGPRINT_MIN_SIZE get their hashes too (without the seed tool's
fields)."""

from __future__ import annotations

import io
import itertools
import json
import subprocess
import sys
from urllib.parse import unquote, urlsplit

import pytest
from PIL import Image

from imgprint.dupes.band import band_match
from imgprint.settings import IMGPRINT_MIN_SIZE
from tests.conftest import Crawl, crawl_page_of
from tests.helpers import EX, ME, PROJECT
from tests.test_phash_fetch import busy_top

pytestmark = pytest.mark.crawl

ORIGINALS = {"dscn": EX / "jpg/gps/DSCN0010.jpg", "nikon": EX / "jpg/exif-org/nikon-e950.jpg",
             "canon": ME / "jpg/Canon PowerShot A40.jpg"}
COPIES = ("q85", "half", "quarter", "progressive", "webp", "png")


def copies(data: bytes) -> dict[str, tuple[str, bytes]]:
    with Image.open(io.BytesIO(data)) as im:
        rgb = im.convert("RGB")
    w, h = rgb.size

    def save(image: Image.Image, fmt: str, **kw) -> bytes:
        out = io.BytesIO()
        image.save(out, fmt, **kw)
        return out.getvalue()

    half = rgb.resize((w // 2, h // 2), Image.Resampling.LANCZOS)
    quarter = rgb.resize((w // 4, h // 4), Image.Resampling.LANCZOS)
    return {"q85": ("jpg", save(rgb, "JPEG", quality=85)),
            "half": ("jpg", save(half, "JPEG", quality=80)),
            "quarter": ("jpg", save(quarter, "JPEG", quality=90)),
            "progressive": ("jpg", save(rgb, "JPEG", quality=75, progressive=True)),
            "webp": ("webp", save(rgb, "WEBP", quality=80)),
            "png": ("png", save(rgb, "PNG"))}


@pytest.fixture(scope="module")
def crawl(tmp_path_factory) -> Crawl:
    tmp = tmp_path_factory.mktemp("phash-crawl")
    site = tmp / "site"
    site.mkdir()
    names = []
    for name, path in ORIGINALS.items():
        data = path.read_bytes()
        (site / f"{name}.jpg").write_bytes(data)
        names.append(f"{name}.jpg")
        for kind, (ext, blob) in copies(data).items():
            (site / f"{name}-{kind}.{ext}").write_bytes(blob)
            names.append(f"{name}-{kind}.{ext}")
    (site / "busy.jpg").write_bytes(busy_top())
    names.append("busy.jpg")
    crawl = crawl_page_of(site, names, tmp)
    assert len(crawl.records) == len(names)
    return crawl


@pytest.fixture(scope="module")
def records(crawl: Crawl) -> dict[str, dict]:
    """The records by name: "dscn", "dscn-webp", "busy"."""
    out = {unquote(urlsplit(r["url"]).path)[1:].rsplit(".", 1)[0]: r for r in crawl.records}
    assert len(out) == len(crawl.records), sorted(out)
    return out


def test_every_copy_matches_its_original(records):
    for name in ORIGINALS:
        original = records[name]
        assert original.get("phash_band") and original["phash_band_source"] == "top_band"
        assert original["phash_source"] == "exif_thumbnail"
        assert len(original["pdq"]) == 64 and 0 <= original["pdq_quality"] <= 100
        for kind in COPIES:
            copy = records[f"{name}-{kind}"]
            assert copy.get("phash_band") or copy.get("phash"), (name, kind, copy)
            assert band_match(original, copy) is not None, (name, kind)
            assert copy["requests"] <= 4
            assert "phash_error" not in copy, copy["phash_error"]


def test_no_record_matches_another_photo(records):
    photos = {k: r for k, r in records.items() if k != "busy"}
    for (a, ra), (b, rb) in itertools.combinations(photos.items(), 2):
        if a.split("-")[0] != b.split("-")[0]:
            assert band_match(ra, rb) is None, (a, b)


def test_small_images_get_perceptual_hashes_but_no_seed_fields(records):
    small = {k: r for k, r in records.items() if r["image_size"] < IMGPRINT_MIN_SIZE}
    assert small  # the quarter-size copies at least
    for name, record in small.items():
        assert "sha256_first_10240_bytes" not in record and "content_sha256" not in record
        assert record.get("phash_band") or record.get("phash"), name


def test_a_band_that_fell_short_gets_its_second_request(records):
    # Its top quarter costs half its bytes: the first share falls short, the
    # crawler's check (a decode on a worker thread) asks for the second.
    busy = records["busy"]
    assert busy["requests"] == 3 and busy["phash_band_source"] == "top_band"


def test_scrapy_dupes_groups_every_copy_with_its_original(crawl, records):
    proc = subprocess.run([sys.executable, "-m", "scrapy", "dupes", "--json", "--no-details",
                           str(crawl.output)], cwd=PROJECT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    name_of = {r["url"]: name for name, r in records.items()}
    groups = [{name_of[i["url"]] for i in g["images"]} for g in json.loads(proc.stdout)["near"]]
    for name in ORIGINALS:
        [group] = [g for g in groups if name in g]
        assert group == {name, *(f"{name}-{kind}" for kind in COPIES)}, group
