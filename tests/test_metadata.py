"""Complete metadata from follow-up ranges, checked end to end on the corpus site."""

from __future__ import annotations

from urllib.parse import unquote

from PIL import Image

from imgprint import settings
from imgprint.metadata.exif import ExifError, exif_tags
from imgprint.metadata.summary import camera, gps, summary, taken_at
from imgprint.pipelines import fingerprint_fields
from tests.conftest import CORPUS, image_path_url
from tests.helpers import ME, crawled_result


def full_file_tags(rel: str) -> dict[str, str]:
    try:
        return exif_tags((CORPUS / rel).read_bytes())
    except ExifError:
        return {}


def record_for(crawl, rel: str) -> dict:
    return crawl.by_path()[unquote(image_path_url(rel))]


def test_exif_at_end_of_heic(corpus_crawl):
    crawl, _ = corpus_crawl
    record = record_for(crawl, "metadata-extractor/heic/exif-at-eof.heic")
    assert record["requests"] == 2 and "metadata_incomplete" not in record
    assert record["exif"]["Image Model"] == "iPhone 11 Pro"
    assert record["gps"]["lat"] > 47 and record["gps"]["lon"] > 106
    assert record["taken_at"] == "2020-05-04T18:39:11.644-04:00"
    assert (record["format"], record["width"], record["height"]) == ("heif", 3024, 4032)


def test_jpegs_whose_app1_runs_past_the_prefix(corpus_crawl):
    crawl, _ = corpus_crawl
    for rel in ("exif-samples/jpg/tests/87_OSError.jpg",
                "exif-samples/jpg/Konica_Minolta_DiMAGE_Z3.jpg"):
        record = record_for(crawl, rel)
        assert record["exif"] == full_file_tags(rel), rel
        assert 2 <= record["requests"] <= 3, rel
        assert record["bytes_fetched"] < (CORPUS / rel).stat().st_size or (
            CORPUS / rel).stat().st_size < 40000


def test_every_file_with_exif_has_exif(corpus_crawl, corpus_site):
    crawl, _ = corpus_crawl
    records = crawl.by_path()
    found = total = 0
    missing = []
    for rel in corpus_site.images:
        # Small images too: the size floor is for fingerprints only.
        record = records[unquote(image_path_url(rel))]
        full = full_file_tags(rel)
        total += len(full)
        found += sum(record["exif"].get(k) == v for k, v in full.items())
        if full and not record["exif"]:
            missing.append(rel)
    print(f"\nEXIF recall vs full-file exifread: {found} of {total} tags "
          f"({100 * found / total:.1f}%)")
    assert not missing
    assert found / total >= 0.9


def test_summary_fields():
    exif = {"GPS GPSLatitude": "[43, 47, 837/25]", "GPS GPSLatitudeRef": "S",
            "GPS GPSLongitude": "[11, 14, 249/50]", "GPS GPSLongitudeRef": "W",
            "GPS GPSAltitude": "42123/1000", "GPS GPSAltitudeRef": "1",
            "EXIF DateTimeOriginal": "2005:12:14 14:39:47", "EXIF SubSecTimeOriginal": "50",
            "EXIF OffsetTimeOriginal": "+01:00", "Image Make": "NIKON ",
            "Image Model": "D70s", "EXIF BodySerialNumber": "123"}
    assert gps(exif) == {"lat": -43.7926333, "lon": -11.2347167, "alt": -42.123}
    assert taken_at(exif) == "2005-12-14T14:39:47.50+01:00"
    assert camera(exif) == {"make": "NIKON", "model": "D70s", "serial": "123"}
    assert gps({"GPS GPSLatitude": "[0/0, 0, 0]"}) is None
    assert taken_at({"EXIF DateTimeOriginal": "0000:00:00 00:00:00"}) is None


def test_capture_time_is_never_the_modify_date():
    # IFD0 DateTime is the file's last change: modified_at, never taken_at.
    edited = {"Image DateTime": "2019:01:02 03:04:05", "EXIF SubSecTime": "7",
              "EXIF OffsetTime": "-05:00"}
    assert summary(edited) == {"modified_at": "2019-01-02T03:04:05.7-05:00"}
    both = {**edited, "EXIF DateTimeOriginal": "2018:06:07 08:09:10"}
    found = summary(both)
    assert (found["taken_at"], found["taken_at_source"]) == ("2018-06-07T08:09:10", "exif")
    assert found["modified_at"] == "2019-01-02T03:04:05.7-05:00"


def test_capture_time_falls_back_on_xmp_then_iptc():
    xmp = {"photoshop:DateCreated": "2019-10-16T19:01:00+00:00",
           "exif:DateTimeOriginal": "2018-01-01T00:00:00"}
    iptc = {"DateCreated": "20170203", "TimeCreated": "040506+0100"}
    assert summary({}, xmp, iptc) == {"taken_at": "2019-10-16T19:01:00+00:00",
                                      "taken_at_source": "xmp:photoshop:DateCreated"}
    assert summary({}, {}, iptc) == {"taken_at": "2017-02-03T04:05:06+01:00",
                                     "taken_at_source": "iptc"}
    exif = {"EXIF DateTimeOriginal": "2016:01:01 00:00:00"}
    assert summary(exif, xmp, iptc)["taken_at_source"] == "exif"
    vendor = {"taken_at": "2015-05-07T08:08:31", "taken_at_source": "reconyx",
              "make": "Canon", "model": "Canon PowerShot A5"}
    assert summary({}, {}, iptc, vendor)["taken_at_source"] == "iptc"
    found = summary({"Image Model": " "}, None, None, vendor)
    assert (found["taken_at"], found["taken_at_source"]) == ("2015-05-07T08:08:31", "reconyx")
    assert found["camera"] == {"make": "Canon", "model": "Canon PowerShot A5"}
    assert summary({"Image Make": "Nikon"}, None, None, vendor)["camera"]["make"] == "Nikon"
    # An XMP modify date is not a capture time either.
    assert summary({}, {"xmp:ModifyDate": "2019-10-16T19:01:00"}, {}) == {}


def test_header_facts_in_records(corpus_crawl):
    crawl, _ = corpus_crawl
    rel = "exif-samples/jpg/Canon_PowerShot_S40.jpg"
    record = record_for(crawl, rel)
    with Image.open(CORPUS / rel) as image:
        assert (record["format"], record["width"], record["height"]) == ("jpeg", *image.size)
    assert record["progressive"] is False and isinstance(record["quality"], int)


def test_values_past_a_cut_short_walk_are_left_out_not_zeros():
    # The follow-up cap stops this TIFF's walk in its third IFD: exifread reads
    # that IFD's values from gaps, as zeros ("0/0", "", [0, 0, ...]).
    data = (ME / "tif/ImageTestSuite/0c84d07e1b22b76f24cccc70d8788e4a.tif").read_bytes()
    spans, result = crawled_result(data, followups=settings.IMGPRINT_FOLLOWUPS,
                                   hash_followups=settings.IMGPRINT_HASH_FOLLOWUPS)
    assert result.incomplete
    full = exif_tags(data)
    ours = fingerprint_fields(spans)["exif"]
    assert ours and all(full.get(k) == v for k, v in ours.items()), \
        [k for k, v in ours.items() if full.get(k) != v]
