"""The fetch protocol (``imgprint.fetch``): one function fetches an image, its
walks are made once and reused by the pipeline, and a record takes its fetch
fields in one place."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from imgprint.fetch.image import record_fields
from imgprint.fetch.protocol import FetchedImage
from imgprint.fetch.replay import replay, shipped_budget
from imgprint.pipelines import fingerprint_fields
from imgprint.spans import Spans
from tests.helpers import EX, ME

SAMPLES = [EX / "jpg/Canon_40D.jpg", EX / "tiff/Arbitro.tiff", ME / "webp/Nikon D1X.webp",
           ME / "heic/IMG_1034.heic", ME / "png/BlazRobar Thinking Head Icon Set.png"]
#: What only the pipeline computes: exifread's tags, the vendor fields.
PIPELINE_ONLY = {"exif_walk", "jpeg_vendor"}


@pytest.fixture
def computed(monkeypatch) -> list:
    """Every memoised parser result computed (not reused), by key."""
    keys: list = []
    memo = Spans.memo

    def counting(self, key, compute):
        if key not in self._memo:
            keys.append(key)
        return memo(self, key, compute)

    monkeypatch.setattr(Spans, "memo", counting)
    return keys


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_the_pipeline_reuses_the_walks_of_the_fetch(path, computed):
    image = replay(path.read_bytes(), shipped_budget())
    assert image.spans is not None and image.followup is not None
    fetched = len(computed)
    assert fetched  # the planner walked the structure
    fingerprint_fields(image.spans, 4096)
    again = computed[fetched:]
    names = Counter(k[0] if isinstance(k, tuple) else k for k in again)
    assert set(names) <= PIPELINE_ONLY, again
    assert all(n == 1 for n in Counter(again).values()), again


def test_a_small_image_gets_metadata_follow_ups_but_no_hash_inputs():
    data = (EX / "jpg/Canon_40D.jpg").read_bytes()
    budget = replace(shipped_budget(), hash_requests=2)
    big = replay(data, budget)
    small = replay(data, budget, min_size=len(data) + 1)
    assert small.small and not big.small
    assert small.bytes <= big.bytes
    assert small.spans is not None and fingerprint_fields(small.spans, 4096)["exif"]


def test_record_fields_say_what_the_fetch_did():
    image = FetchedImage(url="http://a/x.jpg", status=206, size=100, etag="e",
                         content_type="image/jpeg", requests=2, bytes=50,
                         incomplete="metadata past the byte budget")
    fields = record_fields(image, "dom", url="http://a/y.jpg")
    assert fields == {"image_size": 100, "etag": "e", "content_type": "image/jpeg",
                      "http_status": 206, "bytes_fetched": 50, "requests": 2,
                      "final_url": "http://a/x.jpg",
                      "metadata_incomplete": "metadata past the byte budget",
                      "found_by": "dom"}
    assert "final_url" not in record_fields(image, url="http://a/x.jpg")


def test_an_html_page_for_an_image_is_an_error_not_bytes():
    image = replay(b"<!DOCTYPE html><html>login</html>" + bytes(20000), shipped_budget())
    assert image.error and image.error.startswith("not an image") and image.spans is None
