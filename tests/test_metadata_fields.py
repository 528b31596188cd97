"""Every metadata field end to end: the default crawl of the corpus site, each
field checked against ExifTool over the whole file (an independent reader).

One image per field, chosen because the field is in it (``exiftool`` found it),
several of them under ``IMGPRINT_MIN_SIZE``: the size floor costs the
fingerprint, never the metadata.
"""

from __future__ import annotations

import json
import subprocess
from functools import cache
from urllib.parse import unquote

from tests.conftest import CORPUS, image_path_url

MIN_SIZE = 20480


@cache
def exiftool(rel: str) -> dict:
    """ExifTool's tags of a whole corpus file (``-G1``, group-prefixed names)."""
    out = subprocess.run(["exiftool", "-j", "-G1", "-charset", "UTF8", str(CORPUS / rel)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)[0]


def record_for(crawl, rel: str) -> dict:
    return crawl.by_path()[unquote(image_path_url(rel))]


def as_iso(exiftool_date: str) -> str:
    """``2008:07:31 10:05:49`` as ``2008-07-31T10:05:49``."""
    return exiftool_date[:10].replace(":", "-") + "T" + exiftool_date[11:19]


def test_a_small_camera_jpeg_gets_its_metadata_but_no_seed_fingerprint(corpus_crawl):
    crawl, _ = corpus_crawl
    rel = "exif-samples/jpg/Canon_40D.jpg"
    assert (CORPUS / rel).stat().st_size < MIN_SIZE
    record, tool = record_for(crawl, rel), exiftool(rel)
    assert record["exif"]["Image Make"] == tool["IFD0:Make"]
    assert record["camera"]["model"] == tool["IFD0:Model"]
    assert record["taken_at"].startswith(as_iso(tool["ExifIFD:DateTimeOriginal"]))
    assert (record["width"], record["height"]) == (tool["File:ImageWidth"],
                                                   tool["File:ImageHeight"])
    for absent in ("sha256_first_10240_bytes", "random_128_bytes_sample_start",
                   "content_sha256"):
        assert absent not in record, absent
    # The perceptual hashes are not the seed tool's: every decodable image has them.
    assert record["phash_source"] == "whole_file" and len(record["pdq"]) == 64


def test_a_modify_date_is_not_a_capture_time(corpus_crawl):
    crawl, _ = corpus_crawl
    rel = "exif-samples/jpg/Canon_40D_photoshop_import.jpg"
    record, tool = record_for(crawl, rel), exiftool(rel)
    assert "ExifIFD:DateTimeOriginal" not in tool
    assert "taken_at" not in record and "taken_at_source" not in record
    assert record["modified_at"].startswith(as_iso(tool["IFD0:ModifyDate"]))


def as_list(value) -> list[str]:
    """ExifTool gives one item of a list as a plain value."""
    return [str(v).strip() for v in (value if isinstance(value, list) else [value])]


def same_text(ours, theirs) -> bool:
    """Equal after stripping the padding some writers add (ExifTool keeps it)."""
    return as_list(ours) == as_list(theirs)


def test_xmp(corpus_crawl):
    crawl, _ = corpus_crawl
    rel = "metadata-extractor/jpg/Issue 258 (dotnet).jpg"
    record, tool = record_for(crawl, rel), exiftool(rel)
    assert record["has_xmp"] is True
    for name in ("title", "creator", "subject", "description", "rights"):
        assert same_text(record["xmp"]["dc:" + name], tool["XMP-dc:" + name.title()]), name


def test_xmp_in_a_gif(corpus_crawl):
    crawl, _ = corpus_crawl
    rel = "metadata-extractor/gif/Issue 201.gif"
    record, tool = record_for(crawl, rel), exiftool(rel)
    assert record["has_xmp"] is True
    assert same_text(record["xmp"]["dc:subject"], tool["XMP-dc:Subject"])
    assert same_text(record["comment"], tool["File:Comment"])


def test_iptc(corpus_crawl):
    crawl, _ = corpus_crawl
    for rel in ("metadata-extractor/jpg/Issue 258 (dotnet).jpg",
                "metadata-extractor/jpg/FujiFilm FinePixS1Pro (4).jpg"):
        record, tool = record_for(crawl, rel), exiftool(rel)
        for name in ("Caption-Abstract", "Keywords", "By-line", "CopyrightNotice"):
            assert same_text(record["iptc"][name], tool["IPTC:" + name]), (rel, name)


def test_icc_and_comment_of_a_small_jpeg(corpus_crawl):
    crawl, _ = corpus_crawl
    rel = "metadata-extractor/jpg/Issue 614.jpg"
    record, tool = record_for(crawl, rel), exiftool(rel)
    assert (CORPUS / rel).stat().st_size < MIN_SIZE
    assert record["icc"]["description"] == tool["ICC_Profile:ProfileDescription"]
    assert record["icc"]["color_space"] == "RGB"
    assert record["comment"] == tool["File:Comment"]
    assert "sha256_first_10240_bytes" not in record


def test_user_comment(corpus_crawl):
    crawl, _ = corpus_crawl
    rel = "metadata-extractor/jpg/Nikon E775.jpg"
    record, tool = record_for(crawl, rel), exiftool(rel)
    assert record["user_comment"] == tool["ExifIFD:UserComment"]


def test_png_text_and_time(corpus_crawl):
    crawl, _ = corpus_crawl
    rel = "metadata-extractor/png/PngSuite/ctzn0g04.png"
    record, tool = record_for(crawl, rel), exiftool(rel)
    for keyword in ("Title", "Author", "Copyright", "Description", "Software", "Disclaimer"):
        assert record["png_text"][keyword] == tool["PNG:" + keyword], keyword
    rel = "metadata-extractor/png/PngSuite/cm0n0g04.png"
    record, tool = record_for(crawl, rel), exiftool(rel)
    assert record["png_time"] == as_iso(tool["PNG:ModifyDate"]) + "Z"


def test_capture_time_from_xmp(corpus_crawl):
    crawl, _ = corpus_crawl
    rel = "metadata-extractor/jpg/Issue 258 (dotnet).jpg"
    record, tool = record_for(crawl, rel), exiftool(rel)
    assert "ExifIFD:DateTimeOriginal" not in tool
    assert record["taken_at"].startswith(as_iso(tool["XMP-photoshop:DateCreated"]))
    assert record["taken_at_source"] == "xmp:photoshop:DateCreated"
