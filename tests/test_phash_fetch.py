"""The top band in the fetch (``imgprint.fetch.loop``, ``formats.plan``): asked
for with the metadata's follow-ups or on its own, a second request when the
first fell short, within its own byte cap, riding along only for images under
IMGPRINT_MIN_SIZE; and its settings checked."""

from __future__ import annotations

import asyncio
import io
import random
from dataclasses import replace

import pytest
from PIL import Image
from scrapy.http import Response

from imgprint.config import ConfigError
from imgprint.fetch.image import fetch_image
from imgprint.fetch.loop import Budget
from imgprint.fetch.replay import PREFIX, file_download, replay, shipped_budget
from imgprint.fingerprint.limits import BAND_MARGIN, BandChecked, Limits
from imgprint.fingerprint.phash import check_band, perceptual_fields
from imgprint.formats.picture import band_span
from imgprint.items import ImageRecord
from imgprint.pipelines import FingerprintPipeline
from imgprint.settings import IMGPRINT_MIN_SIZE
from tests.helpers import CORPUS, EX, project_crawler
from tests.helpers import project_config as settings

PHOTO = EX / "jpg/gps/DSCN0010.jpg"  # 161,713 bytes, EXIF (with a thumbnail) past the prefix
BAND = 0.25


def budget(**changes) -> Budget:
    return replace(shipped_budget(), **{"band": BAND, "band_bytes": 1 << 20, **changes})


def limits() -> Limits:
    return Limits(scan_bytes=65536, band=BAND, band_bytes=1 << 20)


def saved(image: Image.Image, fmt: str, **kw) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kw)
    return out.getvalue()


def busy_top(width: int = 800, height: int = 600) -> bytes:
    """A baseline JPEG whose top half is noise and the rest flat: its top
    quarter costs half the bytes, more than the first band request's share."""
    rng = random.Random(1)
    image = Image.new("RGB", (width, height), (90, 120, 150))
    top = bytes(rng.getrandbits(8) for _ in range(width * (height // 2) * 3))
    image.paste(Image.frombytes("RGB", (width, height // 2), top), (0, 0))
    return saved(image, "JPEG", quality=90)


def test_the_band_rides_with_the_metadata_follow_up():
    data = PHOTO.read_bytes()
    log: list = []
    image = replay(data, budget(), log=log)
    assert image.spans is not None and image.followup is not None
    # The header walk stops in the EXIF segment: one window reaches the scan
    # and the band's first share, so the band costs no request of its own.
    assert image.requests == 2, log
    fields = perceptual_fields(image.spans, limits())
    assert fields["phash_band_source"] == "top_band"
    assert fields["phash_source"] == "exif_thumbnail" and len(fields["pdq"]) == 64
    assert image.followup.band_bytes > 0 and not image.followup.band_retry
    # The band is the whole file's band.
    whole = perceptual_fields(replay(data, budget(), prefix=len(data)).spans, limits())
    assert fields["phash_band"] == whole["phash_band"]


def test_band_bytes_are_outside_the_follow_up_byte_budget_and_within_their_cap():
    data = saved(Image.open(PHOTO).convert("RGB"), "PNG")
    small = replay(data, budget(bytes=4096))
    assert small.followup is not None and small.followup.band_bytes > 100_000
    assert "phash_band" in perceptual_fields(small.spans, limits())
    capped = replay(data, budget(band_bytes=20_000))
    assert capped.followup is not None and 0 < capped.followup.band_bytes <= 20_000
    assert capped.spans is not None
    start = band_span(capped.spans)[0]  # type: ignore[index]
    assert all(e <= start + 20_000 for s, e in capped.spans.ranges() if e > PREFIX
               and s < len(data) - 65536)  # (the PNG's trailing chunks are metadata)
    fields = perceptual_fields(capped.spans, limits())
    assert "phash_band" not in fields and "top_band: " in fields["phash_error"]


def test_a_second_request_when_the_first_fell_short():
    data = busy_top()
    log: list = []
    image = replay(data, budget(), log=log)
    assert image.followup is not None and image.followup.band_retry
    assert image.requests == 3, log  # the prefix, the first share, the second
    assert log[1][0][0] == log[0][-1][1]  # the second goes on where the first stopped
    assert "phash_band" in perceptual_fields(image.spans, limits())
    # Without the check, the first share alone: no band.
    alone = replay(data, budget(), band_check=None)
    assert alone.requests == 2 and alone.followup is not None and not alone.followup.band_retry
    assert "phash_band" not in perceptual_fields(alone.spans, limits())


def test_a_band_mostly_held_is_checked_before_it_is_asked_for():
    image = Image.open(PHOTO).convert("RGB")
    data = saved(image.resize((320, 240)), "JPEG", quality=80)  # ~27 KB
    assert PREFIX / len(data) > BAND * BAND_MARGIN * 0.8
    got = replay(data, budget())
    assert got.requests == 1  # the prefix held the band
    assert "phash_band" in perceptual_fields(got.spans, limits())


def test_small_images_take_the_band_only_along_other_follow_ups():
    data = saved(Image.open(PHOTO).convert("RGB"), "JPEG", quality=85)
    assert len(data) > 3 * PREFIX
    small = replay(data, budget(), min_size=len(data) + 1)
    assert small.small and small.requests == 1
    big = replay(data, budget())
    assert big.requests == 2 and "phash_band" in perceptual_fields(big.spans, limits())


def test_no_band_bytes_when_off_or_when_range_is_ignored():
    data = PHOTO.read_bytes()
    off = [replay(data, replace(budget(), **c), log=(log := [])) and log
           for c in ({"band": 0.0}, {"band_bytes": 0})]
    plain: list = []
    replay(data, replace(shipped_budget(), band=0.0, band_bytes=0), log=plain)
    assert off == [plain, plain]
    assert sum(e - s for r in plain for s, e in r) < 20_000
    # A server that ignores Range sends the file from byte 0 every time: no band.
    first = Response("http://local/file", status=200, body=data[:PREFIX],
                     headers={"Content-Length": str(len(data))})
    asked: list = []
    ignored = asyncio.run(fetch_image(first, file_download(data, asked), budget(), min_size=0))
    assert ignored.followup is not None and ignored.followup.band_bytes == 0
    assert asked and max(e for r in asked for _, e in r) < 40_000  # the metadata's


def test_the_band_is_a_further_range_of_a_multi_range_follow_up():
    # A PNG whose text chunks come after its image data: one request asks the
    # band and the trailing metadata as two ranges.
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "x" * 50_000, zip=False)
    image = Image.open(PHOTO).convert("RGB")
    data = saved(image, "PNG", pnginfo=info)
    log: list = []
    got = replay(data, budget(), log=log)
    assert any(len(ranges) > 1 for ranges in log), log
    assert "phash_band" in perceptual_fields(got.spans, limits())


def test_band_settings_are_checked():
    assert (settings().phash_band, settings().phash_band_bytes) == (0.2, 1572864)
    assert settings(IMGPRINT_PHASH_BAND="0").phash_band == 0
    assert Budget.from_config(settings(IMGPRINT_PHASH_BAND="0.5")).band == 0.5
    for value in ("0.01", "1.5", "-0.2", "a quarter", "nan"):
        with pytest.raises(ConfigError, match="IMGPRINT_PHASH_BAND: expected 0"):
            settings(IMGPRINT_PHASH_BAND=value)
    with pytest.raises(ConfigError, match="IMGPRINT_PHASH_BAND_BYTES: expected a whole"):
        settings(IMGPRINT_PHASH_BAND_BYTES="1M")


def test_the_band_check_tells_short_from_held_and_hashes_what_it_decoded():
    data = busy_top()
    held = replay(data, budget(), band_check=None).spans
    assert held is not None and check_band(held, BAND, 1 << 20) == BandChecked(short=True)
    whole = replay(data, budget(), prefix=len(data)).spans
    assert whole is not None
    found = check_band(whole, BAND, 1 << 20)
    assert not found.short and found.decoded and found.phash_band
    assert found.phash_band == perceptual_fields(whole, limits())["phash_band"]


def test_the_hash_the_check_decoded_is_the_one_decoding_again_gives():
    """Every corpus JPEG, PNG and WebP fetched as a crawl with the shipped
    settings: where the fetch's check decoded the band (so the pipeline does
    not decode it again), the fields are those of decoding it again."""
    shipped = shipped_budget()
    shipped_limits = Limits(scan_bytes=shipped.scan_bytes, band=shipped.band,
                            band_bytes=shipped.band_bytes)
    taken = 0
    for path in sorted(CORPUS.rglob("*")):
        if path.suffix.lower() not in (".jpg", ".jpeg", ".png", ".webp") or (
                "fuzzing" in path.parts):
            continue
        fetched = replay(path.read_bytes(), shipped, min_size=IMGPRINT_MIN_SIZE)
        checked = fetched.followup.band_found if fetched.followup else None
        if checked is None:
            continue
        taken += 1
        assert fetched.spans is not None and checked.decoded and not checked.short
        assert (perceptual_fields(fetched.spans, shipped_limits, checked)
                == perceptual_fields(fetched.spans, shipped_limits)), path
    assert taken >= 100


def test_hashes_do_not_depend_on_how_many_bytes_the_first_answer_held():
    # A seed's first answer, or a server ignoring Range, may hold the whole
    # file: only a file no larger than the first range is hashed whole.
    for data in (PHOTO.read_bytes(), saved(Image.open(PHOTO).convert("RGB"), "PNG")):
        ranged = perceptual_fields(replay(data, budget()).spans, limits())
        held_whole = perceptual_fields(replay(data, budget(), prefix=len(data)).spans, limits())
        assert ranged == held_whole and "phash_band" in ranged
    small = saved(Image.open(PHOTO).convert("RGB").resize((160, 120)), "JPEG", quality=80)
    assert len(small) <= PREFIX
    fields = perceptual_fields(replay(small, budget()).spans, limits())
    assert fields["phash_source"] == "whole_file"


@pytest.mark.parametrize("processes", [1, 2])
def test_the_pipeline_takes_the_band_hash_the_fetch_check_decoded(processes):
    """The hash travels with the fetched image to the pipeline's workers
    (threads, processes), which take it instead of decoding the band: a
    stand-in hash shows which one the record got."""
    data = PHOTO.read_bytes()
    fetched = replay(data, shipped_budget(), min_size=IMGPRINT_MIN_SIZE)
    assert fetched.followup is not None and fetched.followup.band_found is not None
    decoded = fetched.followup.band_found.phash_band
    fetched.followup.band_found = BandChecked(decoded=True, phash_band="0123456789abcdef")
    pipeline = FingerprintPipeline.from_crawler(project_crawler(IMGPRINT_PROCESSES=processes))

    async def main() -> ImageRecord:
        item = ImageRecord(fetched.url)
        item.fetched = fetched
        try:
            return await pipeline.process_item(item)
        finally:
            pipeline.close_spider()

    record = asyncio.run(main())
    assert (record.phash_band, record.phash_band_source) == ("0123456789abcdef", "top_band")
    assert decoded and decoded != record.phash_band
    assert record.phash_source == "exif_thumbnail" and record.pdq  # the rest as ever
