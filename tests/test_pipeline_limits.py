"""The pipeline's time limits: a file whose format walk or perceptual hashes take
too long (a hostile file is the case they are for) costs those fields, never
the record; the record says what happened, and the next image is whole. Real
corpus images through the pipeline's own pool, threads and processes. The job
under test sleeps first (``tests.slow_jobs``) for many times its limit: a limit
of 0 over the real job raced the job's answer in a worker process, which a
fast walk could win."""

from __future__ import annotations

import asyncio

import pytest

from imgprint import pipelines
from imgprint.fetch.protocol import FetchedImage
from imgprint.items import ImageRecord
from tests import slow_jobs
from tests.helpers import EX, crawled, project_crawler

PHOTO = EX / "jpg" / "Canon_PowerShot_S40.jpg"
LIMIT = 0.2  # seconds: a small part of slow_jobs.SLEEP


JOBS = {"walk": ("WALK_TIME_LIMIT", "fingerprint_fields", slow_jobs.slow_walk),
        "hashes": ("TIME_LIMIT", "perceptual_fields", slow_jobs.slow_hashes)}


def records(processes: int, slow: str, monkeypatch) -> list[ImageRecord]:
    """Two records of PHOTO: the first with the ``slow`` job overrunning its
    limit of LIMIT, the second with the real jobs under the shipped limits."""
    data = PHOTO.read_bytes()
    held = [crawled(data), crawled(data)]  # what a crawl holds of it, twice
    crawler = project_crawler(IMGPRINT_PROCESSES=processes)
    pipeline = pipelines.FingerprintPipeline.from_crawler(crawler)
    limit, job, slow_job = JOBS[slow]

    async def one() -> ImageRecord:
        item = ImageRecord("http://site.test/a.jpg")
        item.fetched = FetchedImage("http://site.test/a.jpg", 206, size=len(data),
                                    spans=held.pop())
        return await pipeline.process_item(item)

    async def main() -> list[ImageRecord]:
        try:
            with monkeypatch.context() as patch:
                patch.setattr(pipelines, limit, LIMIT)
                patch.setattr(pipelines, job, slow_job)
                cut = await one()
            return [cut, await one()]
        finally:
            pipeline.close_spider()

    return asyncio.run(main())


@pytest.mark.parametrize("processes", [1, 2])
def test_a_walk_over_its_limit_leaves_the_seed_fingerprint_and_says_so(processes, monkeypatch):
    cut, whole = records(processes, "walk", monkeypatch)
    assert cut.error == f"metadata not read: took more than {LIMIT:g} s"
    assert cut.exif == {}
    assert cut.sha256_first_10240_bytes == whole.sha256_first_10240_bytes
    assert cut.phash == whole.phash and cut.phash  # the hashes are their own job
    assert whole.exif and not getattr(whole, "error", None)


@pytest.mark.parametrize("processes", [1, 2])
def test_hashes_over_their_limit_leave_the_metadata_and_say_so(processes, monkeypatch):
    cut, whole = records(processes, "hashes", monkeypatch)
    assert cut.phash_error == f"perceptual hashes given up after {LIMIT:g} s"
    assert cut.phash is None and getattr(cut, "pdq", None) is None
    assert cut.exif == whole.exif and cut.content_sha256 == whole.content_sha256
    assert whole.phash and whole.phash_band
