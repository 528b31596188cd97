"""``scrapy dupes --known FILE``: a list of known fingerprints against a feed.

The feed's records carry the fingerprints of corpus photos; the known list
holds some of them exactly and, as near entries, the PDQ and phash of copies
made here with Pillow (resized, re-saved, converted), as an analyst's list
would hold the hashes of copies found elsewhere.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageEnhance

from imgprint import dupes, formats
from imgprint.dupes import known_section, load_known, match_known, matched_pages
from imgprint.fingerprint.pdq import pdq_distance, pdq_hash
from imgprint.fingerprint.phash import dct_hash
from imgprint.fingerprint.seed import seed_fingerprint
from imgprint.settings import IMGPRINT_CONTENT_BYTES
from tests.helpers import EX, whole

PROJECT = Path(__file__).resolve().parents[1]


def phash(image: Image.Image) -> str:
    return dct_hash(image.convert("L").resize((32, 32), Image.Resampling.LANCZOS))


def fingerprints(data: bytes) -> dict[str, Any]:
    """What a crawl of the whole file records (pdq, phash from the whole image)."""
    image = Image.open(io.BytesIO(data))
    pdq, quality = pdq_hash(image)
    return {**seed_fingerprint(data),
            "content_sha256": formats.content_hash(whole(data), IMGPRINT_CONTENT_BYTES),
            "pdq": pdq, "pdq_quality": quality, "phash": phash(image), "phash_source": "full"}


def saved(image: Image.Image, fmt: str, **options: Any) -> Image.Image:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return Image.open(io.BytesIO(out.getvalue()))


@pytest.fixture(scope="module")
def photos() -> list[tuple[bytes, dict[str, Any]]]:
    """Five corpus photos whose PDQ are > 31 and phash > 8 bits apart."""
    chosen: list[tuple[bytes, dict[str, Any]]] = []
    for path in sorted((EX / "jpg").rglob("*.jpg")):
        data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as im:
            if min(im.size) < 256 or im.size[0] * im.size[1] > 4_000_000:
                continue
        fp = fingerprints(data)
        if fp["pdq_quality"] < 80:
            continue
        if all(pdq_distance(fp["pdq"], o["pdq"]) > 40
               and (int(fp["phash"], 16) ^ int(o["phash"], 16)).bit_count() > 16
               for _, o in chosen):
            chosen.append((data, fp))
        if len(chosen) == 5:
            return chosen
    raise AssertionError("not five distinct photos in the corpus")


@pytest.fixture(scope="module")
def case(photos, tmp_path_factory) -> dict[str, Any]:
    """A feed of four photos (one on two sites, one with a low PDQ quality, one
    without PDQ) and a known list of exact, near, never-seen and bad rows."""
    d = tmp_path_factory.mktemp("known")
    (d0, f0), (d1, f1), (d2, f2), (d3, f3), (d4, f4) = photos
    feed = [
        {"url": "https://a-site.org/p0.jpg", "pages": ["https://a-site.org/gallery"], **f0},
        {"url": "https://mirror-site.net/p0.jpg", "pages": ["https://mirror-site.net/x",
                                                          "https://blog.mirror-site.net/y"], **f0},
        {"url": "https://b-site.org/p1.jpg", "pages": ["https://b-site.org/"], **f1},
        # A later sighting adds a page (the second pass reads it too).
        {"url": "https://a-site.org/p0.jpg", "pages": ["https://a-site.org/more"],
         "seen_before": True},
        {"url": "https://c-site.org/p2.jpg", "pages": ["https://c-site.org/"],
         **{**f2, "pdq_quality": 30}},
        {"url": "https://d-site.org/p3.jpg", "pages": ["https://d-site.org/"],
         **{k: v for k, v in f3.items() if k not in ("pdq", "pdq_quality")}},
    ]
    (d / "feed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in feed))
    im = {n: Image.open(io.BytesIO(data)).convert("RGB") for n, data in enumerate((d0, d1, d2, d3))}
    copy1 = saved(im[1].resize((im[1].width // 2, im[1].height // 2)), "JPEG", quality=70)
    copy2 = saved(im[2].resize((im[2].width * 2 // 3, im[2].height * 2 // 3)), "JPEG", quality=60)
    copy3 = saved(ImageEnhance.Brightness(im[3]).enhance(1.3), "WEBP", quality=80)
    copy0 = saved(im[0].resize((im[0].width * 3 // 4, im[0].height * 3 // 4)), "PNG")
    rows = [  # (label, field values); line numbers follow the header on line 1
        ("exact-seed", {"sha256_first_10240_bytes": f0["sha256_first_10240_bytes"]}),
        ("exact-content", {"content_sha256": f1["content_sha256"]}),
        ("near-pdq", {"pdq": pdq_hash(copy1)[0]}),
        ("near-pdq-low-quality", {"pdq": pdq_hash(copy2)[0]}),
        ("near-phash", {"phash": phash(copy3)}),
        ("never", {"pdq": f4["pdq"], "phash": f4["phash"]}),
        ("bad-hex", {"pdq": "xyz"}),
        ("", {"phash": f3["phash"]}),
        ("pdq-and-phash", {"pdq": pdq_hash(copy0)[0], "phash": phash(copy0)}),
    ]
    fields = ["label", "sha256_first_10240_bytes", "content_sha256", "pdq", "phash"]
    with (d / "known.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Label", "notes", *fields[1:]])  # header case and extra columns
        for label, values in rows:
            writer.writerow([label, "seen on a forum", *(values.get(k, "") for k in fields[1:])])
    (d / "known.jsonl").write_text("".join(
        json.dumps({"label": label, **values}) + "\n" for label, values in rows))
    return {"dir": d, "fingerprints": (f0, f1, f2, f3, f4),
            "copies": {"near-pdq": (copy1, f1), "near-pdq-low-quality": (copy2, f2),
                       "near-phash": (copy3, f3), "pdq-and-phash": (copy0, f0)}}


def test_copies_are_near_not_exact(case):
    """The near entries differ from the originals: a match is a real near match."""
    for label, (copy, original) in case["copies"].items():
        if label == "near-phash":
            d = (int(phash(copy), 16) ^ int(original["phash"], 16)).bit_count()
            assert 0 < d <= dupes.DEFAULT_DISTANCE, label
        else:
            d = pdq_distance(pdq_hash(copy)[0], original["pdq"])
            assert 0 < d <= dupes.DEFAULT_PDQ_DISTANCE, label


def expected_matches(by_label: dict) -> None:
    assert set(by_label) == {"exact-seed", "exact-content", "near-pdq", "near-phash",
                             "pdq-and-phash"}
    p0 = {"https://a-site.org/p0.jpg", "https://mirror-site.net/p0.jpg"}
    seed = by_label["exact-seed"]
    assert {i["url"] for i in seed["images"]} == p0
    assert {(i["by"], i["distance"]) for i in seed["images"]} == {("sha256_first_10240_bytes", 0)}
    assert seed["sites"] == ["a-site.org", "mirror-site.net"]
    mirror = next(i for i in seed["images"] if i["url"].startswith("https://mirror"))
    assert mirror["pages"] == ["https://blog.mirror-site.net/y", "https://mirror-site.net/x"]
    a0 = next(i for i in seed["images"] if i["url"].startswith("https://a-site"))
    assert a0["pages"] == ["https://a-site.org/gallery", "https://a-site.org/more"]
    assert [(i["url"], i["by"]) for i in by_label["exact-content"]["images"]] == [
        ("https://b-site.org/p1.jpg", "content_sha256")]
    [near] = by_label["near-pdq"]["images"]
    assert near["url"] == "https://b-site.org/p1.jpg" and near["by"] == "pdq"
    assert 0 < near["distance"] <= 31 and near["pages"] == ["https://b-site.org/"]
    [ph] = by_label["near-phash"]["images"]
    assert (ph["url"], ph["by"]) == ("https://d-site.org/p3.jpg", "phash")
    # Both sides have PDQ: PDQ decides, not the phash.
    both = by_label["pdq-and-phash"]["images"]
    assert {(i["url"], i["by"]) for i in both} == {(u, "pdq") for u in p0}


@pytest.mark.parametrize(("name", "header"), [("known.csv", 1), ("known.jsonl", 0)])
def test_match_known_functions(case, name, header):
    errors: list = []
    known = load_known(case["dir"] / name, errors.append)
    assert len(known) == 7
    assert [(e.line, e.message) for e in errors] == [(7 + header, "pdq: not 64 hex digits"),
                                                     (8 + header, "no label")]
    feeds = [case["dir"] / "feed.jsonl"]
    cat = dupes.load(feeds, errors.append)
    matches = match_known(cat, known, 8, 31)
    section = known_section(cat, known, matches, 8, 31, matched_pages(feeds, cat, matches))
    assert (section["entries"], section["matched"], section["never_seen_count"]) == (7, 5, 2)
    expected_matches({m["label"]: m for m in section["matches"]})
    never = list(section["never_seen"])
    assert [(e["label"], e["line"]) for e in never] == [("near-pdq-low-quality", 4 + header),
                                                        ("never", 6 + header)]


def run_dupes(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scrapy", "dupes", *map(str, args)],
                          cwd=PROJECT, capture_output=True, text=True, timeout=120)


@pytest.mark.crawl
def test_known_command_json_and_text(case):
    d = case["dir"]
    proc = run_dupes("--json", "--known", d / "known.csv", d / "feed.jsonl")
    assert proc.returncode == 1  # the bad rows are input errors; the rest is reported
    assert f"error: {d / 'known.csv'}:8: pdq: not 64 hex digits" in proc.stderr
    assert f"error: {d / 'known.csv'}:9: no label" in proc.stderr
    report = json.loads(proc.stdout)
    known = report["known"]
    assert (known["entries"], known["matched"], known["never_seen_count"]) == (7, 5, 2)
    expected_matches({m["label"]: m for m in known["matches"]})
    assert {e["label"] for e in known["never_seen"]} == {"near-pdq-low-quality", "never"}
    assert report["errors"]["count"] == 2
    text = run_dupes("--known", d / "known.jsonl", d / "feed.jsonl").stdout
    assert "5 seen, 2 never seen" in text
    assert "near-pdq (line 3): 1 URLs on 1 sites: b-site.org" in text
    assert "        on https://blog.mirror-site.net/y" in text
    assert "    never (line 6; pdq, phash)" in text
    # A tighter PDQ threshold loses the PDQ matches, not the exact or phash ones.
    tight = json.loads(run_dupes("--json", "--pdq-distance", "0", "--known", d / "known.csv",
                                 d / "feed.jsonl").stdout)["known"]
    assert {m["label"] for m in tight["matches"]} == {"exact-seed", "exact-content",
                                                     "near-phash"}


@pytest.mark.crawl
def test_known_usage_errors(case, tmp_path):
    proc = run_dupes("--known", tmp_path / "missing.csv", case["dir"] / "feed.jsonl")
    assert proc.returncode == 2 and "--known: no such file" in proc.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("name,hash\nx,y\n")
    proc = run_dupes("--json", "--known", bad, case["dir"] / "feed.jsonl")
    assert proc.returncode == 1
    assert f"{bad}:1: the header row must name label and any of" in proc.stderr
    assert json.loads(proc.stdout)["known"]["entries"] == 0


def test_bad_rows_are_reported_and_the_rest_used(tmp_path):
    path = tmp_path / "k.csv"
    long_field = "a" * 5000
    path.write_text("label,phash,pdq\n"
                    "ok,00000000000000ff,\n"
                    f"toolong,{long_field},\n"
                    "fields,00000000000000ff,,extra\n"
                    f"{'x' * 600},00000000000000ff,\n"
                    "nohash,,\n"
                    "short-phash,00ff,\n"
                    "also-ok,,%s\n" % ("ab" * 32))
    errors: list = []
    known = load_known(path, errors.append)
    assert known.labels == ["ok", "also-ok"]
    assert [(e.file, e.line) for e in errors] == [(str(path), n) for n in (3, 4, 5, 6, 7)]
    messages = [e.message for e in errors]
    assert messages[0].startswith("bad CSV: field larger than field limit")
    assert messages[1:] == ["4 fields where the header has 3",
                            "label longer than 500 characters",
                            "no fingerprint: give any of content_sha256, "
                            "sha256_first_10240_bytes, pdq, phash",
                            "phash: not 16 hex digits"]
    assert csv.field_size_limit() == 131072  # put back
    lines = tmp_path / "k.jsonl"
    lines.write_text('{"label": "a", "phash": "00000000000000ff"}\nnot json\n[1]\n'
                     '{"label": 5, "phash": "00000000000000ff"}\n')
    errors.clear()
    assert load_known(lines, errors.append).labels == ["a"]
    assert [(e.line, e.message.split(":")[0]) for e in errors] == [
        (2, "bad JSON"), (3, "not a record"), (4, "no label")]


def test_pages_of_matches_are_capped(tmp_path):
    feed = tmp_path / "f.jsonl"
    feed.write_text(json.dumps({"url": "https://x.org/a.jpg", "phash": "00000000000000ff",
                                "pages": [f"https://x.org/{n:03d}" for n in range(80)]}) + "\n"
                    + json.dumps({"url": "https://y.org/b.jpg", "phash": "ffffffffffff0000",
                                  "pages": ["https://y.org/"]}) + "\n")
    known_file = tmp_path / "k.csv"
    known_file.write_text("label,phash\nx,00000000000000fe\n")
    cat = dupes.load([feed], pytest.fail)
    known = load_known(known_file, pytest.fail)
    matches = match_known(cat, known, 8, 31)
    pages = matched_pages([feed], cat, matches)
    assert list(pages) == ["https://x.org/a.jpg"]  # only matching URLs are gathered
    assert pages["https://x.org/a.jpg"] == [f"https://x.org/{n:03d}" for n in range(50)]
