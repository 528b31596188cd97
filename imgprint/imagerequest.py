"""How any spider asks for an image, and the record it makes of the outcome.

The images spider, the add-on's ``image_urls`` pipeline (``imgprint.imageurls``)
and a user's own spider use the same functions, so a record is built one way:

* ``image_request``: a request that ``ImageFetchMiddleware`` answers with an
  ``ImageResponse`` (``meta["imgprint_image"]``: ranges, follow-ups); error
  answers (4xx, 5xx) reach the callback, since a failed image still gets a
  record, and redirects are followed (``final_url`` in the record);
* ``fill_record``: a record's fetch fields from the answer (``record_fields``)
  and the bytes on ``record.fetched``, which the pipeline turns into the
  fingerprint and metadata fields and then drops;
* ``fail_record``: the record of a request that got no answer (timeout, DNS,
  refused by the guard, retries spent), with the reason in ``error``;
* ``image_record`` and ``failure_record``: the same on a new ``ImageRecord``,
  for a spider's callback and errback.
"""

from __future__ import annotations

from typing import Any

from scrapy import Request
from scrapy.http import Response
from twisted.python.failure import Failure

from imgprint.failures import describe_failure, failed_request
from imgprint.fetch.image import error_image, record_fields
from imgprint.fetch.protocol import (
    ERROR_STATUSES,
    FOUND_BY_KEY,
    IMAGE_KEY,
    FetchedImage,
    ImageResponse,
)
from imgprint.http import original_url
from imgprint.items import ImageRecord


def image_request(url: str, callback: Any = None, errback: Any = None, *, head: bool = False,
                  found_by: str | None = None, meta: dict[str, Any] | None = None,
                  **kwargs: Any) -> Request:
    """A request for image ``url``: a ranged GET (``head``: HEAD first, then the
    GET only for an image of at least ``IMGPRINT_MIN_SIZE``). ``kwargs`` go to
    ``Request`` (``cb_kwargs``, ``priority``, ``dont_filter``...)."""
    image_meta: dict[str, Any] = {IMAGE_KEY: True, "handle_httpstatus_list": ERROR_STATUSES}
    if found_by:
        image_meta[FOUND_BY_KEY] = found_by
    return Request(url, method="HEAD" if head else "GET", callback=callback, errback=errback,
                   meta={**(meta or {}), **image_meta}, **kwargs)


def fill_record(record: ImageRecord, response: Response) -> FetchedImage:
    """Set ``record``'s fetch fields from an image request's answer (an
    ``ImageResponse``, or an error answer) and hand it the bytes."""
    image = response.image if isinstance(response, ImageResponse) else error_image(response)
    record.set(**record_fields(image, response.meta.get(FOUND_BY_KEY), record.url))
    record.fetched = image
    return image


def fail_record(record: ImageRecord, failure: Failure, timeout: float | None = None) -> None:
    """Set ``record``'s error from a download that got no answer (``timeout``:
    the download timeout, for the message)."""
    request = getattr(failure, "request", None)
    if isinstance(request, Request) and request.meta.get(FOUND_BY_KEY):
        record.set(found_by=request.meta[FOUND_BY_KEY])
    record.set(error=describe_failure(failure, timeout))


def image_record(response: Response) -> ImageRecord:
    """The record of an image answer, in a spider's callback: yield it, and
    imgprint's pipeline adds the fingerprint and metadata fields."""
    record = ImageRecord(original_url(response.request))
    fill_record(record, response)
    return record


def failure_record(failure: Failure) -> ImageRecord:
    """The record of an image request that got no answer, in a spider's errback."""
    request = failed_request(failure)
    record = ImageRecord(original_url(request))
    fail_record(record, failure, request.meta.get("download_timeout"))
    return record
