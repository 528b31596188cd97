"""The pipeline's time limits: a file whose format walk or perceptual hashes take
too long (a hostile file is the case they are for) costs those fields, never
the record; the record says what happened, and the next image is whole. Real
corpus images through the pipeline's own pool, threads and processes, with the
limit set to 0 so that the job overruns whatever the machine's speed."""

from __future__ import annotations

import asyncio

import pytest

from imgprint import pipelines
from imgprint.fetch.protocol import FetchedImage
from imgprint.items import ImageRecord
from tests.helpers import EX, crawled, project_crawler

PHOTO = EX / "jpg" / "Canon_PowerShot_S40.jpg"


def records(processes: int, walk: float, hashes: float, monkeypatch) -> list[ImageRecord]:
    """Two records of PHOTO: the first under the limits given, the second under
    the shipped ones."""
    data = PHOTO.read_bytes()
    held = [crawled(data), crawled(data)]  # what a crawl holds of it, twice
    crawler = project_crawler(IMGPRINT_PROCESSES=processes)
    pipeline = pipelines.FingerprintPipeline.from_crawler(crawler)

    async def one(**limits: float) -> ImageRecord:
        for name, value in limits.items():
            monkeypatch.setattr(pipelines, name, value)
        item = ImageRecord("http://site.test/a.jpg")
        item.fetched = FetchedImage("http://site.test/a.jpg", 206, size=len(data),
                                    spans=held.pop())
        return await pipeline.process_item(item)

    async def main() -> list[ImageRecord]:
        shipped = {"WALK_TIME_LIMIT": pipelines.WALK_TIME_LIMIT,
                   "TIME_LIMIT": pipelines.TIME_LIMIT}
        try:
            return [await one(WALK_TIME_LIMIT=walk, TIME_LIMIT=hashes), await one(**shipped)]
        finally:
            pipeline.close_spider()

    return asyncio.run(main())


@pytest.mark.parametrize("processes", [1, 2])
def test_a_walk_over_its_limit_leaves_the_seed_fingerprint_and_says_so(processes, monkeypatch):
    cut, whole = records(processes, 0.0, pipelines.TIME_LIMIT, monkeypatch)
    assert cut.error == f"metadata not read: took more than {0.0:g} s"
    assert cut.exif == {}
    assert cut.sha256_first_10240_bytes == whole.sha256_first_10240_bytes
    assert cut.phash == whole.phash and cut.phash  # the hashes are their own job
    assert whole.exif and not getattr(whole, "error", None)


@pytest.mark.parametrize("processes", [1, 2])
def test_hashes_over_their_limit_leave_the_metadata_and_say_so(processes, monkeypatch):
    cut, whole = records(processes, pipelines.WALK_TIME_LIMIT, 0.0, monkeypatch)
    assert cut.phash_error == f"perceptual hashes given up after {0.0:g} s"
    assert cut.phash is None and getattr(cut, "pdq", None) is None
    assert cut.exif == whole.exif and cut.content_sha256 == whole.content_sha256
    assert whole.phash and whole.phash_band
