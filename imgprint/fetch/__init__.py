"""The fetch protocol: what an image request carries, what its answer holds,
and the one function that fetches an image's bytes.

A leaf package: it imports the format parsers and header helpers, never a
middleware, the spider or the pipeline, so every one of those (and the tests
and bench, through ``replay``) uses the same code.

* ``protocol``: the meta keys, ``FetchedImage`` (one image's fetch state, in
  one object) and ``ImageResponse`` (the answer the spider gets).
* ``loop``: the follow-up loop and its ``Budget``; ``band``: the perceptual
  hash's top band in it.
* ``image``: ``fetch_image`` (the first answer, the small-image rule, the
  follow-ups) and ``record_fields`` (a record's fetch fields, in one place).
* ``replay``: the fetch over a file's bytes, served as a Range-honouring server
  would (tests, bench).
"""

from __future__ import annotations

from imgprint.fetch.image import fetch_image, record_fields
from imgprint.fetch.loop import Budget, FollowupResult, fetch_spans
from imgprint.fetch.protocol import (
    ERROR_STATUSES,
    FOLLOWUP_KEY,
    FOUND_BY_KEY,
    IMAGE_KEY,
    SNIFF_KEY,
    FetchedImage,
    ImageResponse,
)

__all__ = ["ERROR_STATUSES", "FOLLOWUP_KEY", "FOUND_BY_KEY", "IMAGE_KEY", "SNIFF_KEY",
           "Budget", "FetchedImage", "FollowupResult", "ImageResponse", "fetch_image",
           "fetch_spans", "record_fields"]
