"""phash from EXIF thumbnails and progressive first scans; decode guards; a real crawl."""

from __future__ import annotations

import io
import shutil
import subprocess
from urllib.parse import unquote, urlsplit

import exifread
import imagehash
import numpy
import pytest
from PIL import Image

from imgprint import formats
from imgprint.fingerprint import phash
from imgprint.fingerprint.decode import DecodeRefused, picture
from imgprint.fingerprint.limits import Limits
from imgprint.fingerprint.phash import perceptual_fields, phash_image
from imgprint.formats import Spans
from tests.conftest import crawl_page_of
from tests.helpers import EX, ME, crawled, whole


def phash_fields(spans: Spans, scan_bytes: int) -> dict:
    """The whole-picture pHash and its source, as the record has them."""
    found = perceptual_fields(spans, Limits(scan_bytes=scan_bytes))
    return {k: found[k] for k in ("phash", "phash_source") if k in found}


WITH_THUMBNAILS = [EX / "jpg/gps/DSCN0010.jpg", EX / "jpg/exif-org/nikon-e950.jpg",
                   ME / "jpg/Nikon D60.jpg", EX / "jpg/Konica_Minolta_DiMAGE_Z3.jpg"]



def photo(size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A picture with structure at every scale (a phash of noise means nothing)."""
    with Image.open(EX / "jpg/gps/DSCN0010.jpg") as im:
        return im.convert("RGB").resize(size, Image.Resampling.LANCZOS)


@pytest.mark.parametrize("path", WITH_THUMBNAILS, ids=lambda p: p.name)
def test_thumbnail_phash_is_imagehash_of_the_thumbnail(path):
    data = path.read_bytes()
    # The thumbnail as exifread extracts it, independently of our IFD1 reader.
    thumb = exifread.process_file(io.BytesIO(data), details=False)["JPEGThumbnail"]
    expected = str(imagehash.phash(Image.open(io.BytesIO(thumb))))
    # What the crawler holds: the prefix and the follow-ups (not the whole file).
    assert phash_fields(crawled(data), 65536) == {"phash": expected,
                                                  "phash_source": "exif_thumbnail"}
    assert len(expected) == 16


def test_progressive_first_scan():
    out = io.BytesIO()
    photo((1024, 768)).save(out, "JPEG", quality=90, progressive=True)
    data = out.getvalue()
    scan = formats.first_scan_bytes(whole(data), 65536)
    assert scan is not None and len(scan) < len(data) / 3
    fields = phash_fields(crawled(data), 65536)
    assert fields["phash_source"] == "progressive_scan"
    full = imagehash.phash(Image.open(io.BytesIO(data)))
    assert full - imagehash.hex_to_hash(fields["phash"]) <= 4
    # Over the scan budget, or from the prefix alone: no progressive source.
    assert phash_fields(crawled(data, scan_bytes=100), 100) == {}
    prefix = Spans(len(data))
    prefix.add(0, data[:1000])
    assert formats.first_scan_bytes(prefix, 65536) is None
    assert formats.wanted(prefix, 0, 0, 65536)  # asks for the rest of the scan


def bomb(width: int, height: int) -> bytes:
    """A small JPEG whose frame header claims `width` x `height`."""
    out = io.BytesIO()
    Image.new("L", (16, 16), 128).save(out, "JPEG")
    data = bytearray(out.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def test_decode_guards():
    with pytest.raises(DecodeRefused, match="pixels"):
        picture(bomb(60000, 60000))
    with pytest.raises(DecodeRefused, match="not decodable"):
        picture(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(DecodeRefused, match="not decodable"):
        picture(b"\x89PNG\r\n\x1a\n" + b"\0" * 100, ("JPEG",))
    with pytest.raises(phash.PhashError, match="flat"):
        phash_image(picture(bomb(16, 16)))
    out = io.BytesIO()
    photo((320, 240)).save(out, "JPEG", quality=90)
    assert len(phash_image(picture(out.getvalue()))) == 16


@pytest.mark.crawl  # runs exiftool, a program of the crawl layer
def test_thumbnail_bomb_in_a_file(tmp_path):
    (tmp_path / "bomb.jpg").write_bytes(bomb(65000, 65000))
    target = tmp_path / "t.jpg"
    shutil.copyfile(EX / "jpg/gps/DSCN0010.jpg", target)
    subprocess.run(["exiftool", "-q", "-overwrite_original",
                    f"-ThumbnailImage<={tmp_path / 'bomb.jpg'}", str(target)], check=True)
    data = target.read_bytes()
    assert formats.thumbnail_span(whole(data), 65536) is not None
    held = crawled(data)
    assert phash_fields(held, 65536) == {}
    fields = perceptual_fields(held, Limits())
    assert fields["phash_error"].startswith("exif_thumbnail: ")
    assert "pixels" in fields["phash_error"]


@pytest.mark.crawl
def test_crawl_records_hashes(tmp_path):
    """A tiny site: an original, metadata-edited and stripped copies, a progressive
    re-encode; served by a real server, crawled with ``scrapy crawl images``."""
    site = tmp_path / "site"
    site.mkdir()
    src = EX / "jpg/gps/DSCN0010.jpg"
    for name in ("orig.jpg", "gps.jpg", "strip.jpg"):
        shutil.copyfile(src, site / name)
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-GPSLatitude=1",
                    "-GPSLatitudeRef=S", "-Artist=x", str(site / "gps.jpg")], check=True)
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-all=", str(site / "strip.jpg")],
                   check=True)
    photo((1024, 768)).save(site / "prog.jpg", "JPEG", quality=90, progressive=True)
    names = ["orig.jpg", "gps.jpg", "strip.jpg", "prog.jpg"]
    crawl = crawl_page_of(site, names, tmp_path)
    recs = {unquote(urlsplit(r["url"]).path)[1:]: r for r in crawl.records}
    assert set(recs) == set(names)
    orig, gps, strip, prog = (recs[n] for n in names)
    assert orig["content_sha256"] == gps["content_sha256"] == strip["content_sha256"]
    assert len(orig["content_sha256"]) == 64
    assert orig["sha256_first_10240_bytes"] != gps["sha256_first_10240_bytes"]
    assert prog["content_sha256"] not in (None, orig["content_sha256"])
    thumb = exifread.process_file(src.open("rb"), details=False)["JPEGThumbnail"]
    expected = str(imagehash.phash(Image.open(io.BytesIO(thumb))))
    assert (orig["phash"], orig["phash_source"]) == (expected, "exif_thumbnail")
    assert (gps["phash"], gps["phash_source"]) == (expected, "exif_thumbnail")
    assert strip["phash"] is None and strip["phash_source"] is None
    assert prog["phash_source"] == "progressive_scan"
    for r in recs.values():
        assert not any(k.startswith("_") for k in r)
        assert r["requests"] <= 3


@pytest.mark.filterwarnings("ignore")
def test_numpy_dct_hash_equals_imagehash_over_the_corpus():
    """The numpy DCT gives imagehash.phash's (scipy's) hash, bit for bit, for every
    JPEG of the corpus and every EXIF thumbnail in it (what the pipeline hashes),
    and for every other image Pillow opens unless its hash is rounding noise."""
    from tests.helpers import CORPUS

    checked = 0
    for path in sorted(CORPUS.rglob("*")):
        if not path.is_file() or "fuzzing" in path.parts or path.suffix.lower() not in {
                ".jpg", ".jpeg", ".png", ".gif", ".webp", ".tif", ".tiff"}:
            continue
        data = path.read_bytes()
        sources = [data]
        try:
            tags = exifread.process_file(io.BytesIO(data), details=False)
            if isinstance(tags.get("JPEGThumbnail"), bytes):
                sources.append(tags["JPEGThumbnail"])
        except Exception:  # noqa: BLE001 - a broken file still has its pixels
            pass
        for source in sources:
            try:
                with Image.open(io.BytesIO(source)) as im:
                    im.draft("RGB", (256, 256))
                    im.load()
                    small = im.convert("L").resize((32, 32), Image.Resampling.LANCZOS)
                    expected = str(imagehash.phash(im))
            except Exception:  # noqa: BLE001 - Pillow cannot open every corpus file
                continue
            if numpy.asarray(small, dtype=float).std() < phash.MIN_CONTRAST:
                continue  # flat: rounding noise, and never hashed (phash_fields refuses it)
            if source[:2] != b"\xff\xd8":
                # Synthetic test patterns (PngSuite) whose low DCT is mostly exact
                # zeros: bits at the median are float noise in scipy and numpy alike.
                low = phash._DCT8 @ numpy.asarray(small, dtype=float) @ phash._DCT8.T
                if numpy.min(numpy.abs(low - numpy.median(low))) < 1e-9 * numpy.abs(low).max():
                    continue
            assert phash.dct_hash(small) == expected, path
            checked += 1
    assert checked > 300
