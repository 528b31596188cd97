"""One-line reasons for downloads that produced no answer, for records and logs."""

from __future__ import annotations

from scrapy import Request
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from imgprint.discovery import looks_like_image_url
from imgprint.http import is_image_type, original_url
from imgprint.items import ImageRecord


def describe_failure(failure: Failure, timeout: float | None = None) -> str:
    """A one-line reason for a download that produced no answer."""
    if failure.check(DownloadTimeoutError):
        return f"timeout: no complete answer within {timeout:g} s" if timeout else "timeout"
    if failure.check(CannotResolveHostError):
        return f"DNS lookup failed: {failure.value}"
    if failure.check(DownloadConnectionRefusedError):
        return "connection refused"
    if failure.check(ResponseDataLossError):
        return "connection lost before the answer was complete"
    status = failed_status(failure)
    if status is not None:
        return f"HTTP {status}"
    if failure.check(IgnoreRequest):
        return str(failure.value) or "request refused"
    return f"{type(failure.value).__name__}: {failure.value}".strip().rstrip(":")


def failed_status(failure: Failure) -> int | None:
    """The HTTP status of an error answer, or None when there was no answer."""
    error = failure.value
    if isinstance(error, HttpError):
        return int(error.response.status)
    return None


def failed_request(failure: Failure) -> Request:
    """The request an errback's failure is about (Scrapy sets ``failure.request``)."""
    request = getattr(failure, "request", None)
    assert isinstance(request, Request)
    return request


def failed_seed_image(failure: Failure, reason: str) -> ImageRecord | None:
    """The record of a failed seed that is an image (by the error answer's
    Content-Type, else by its URL's extension), or None for a page."""
    request = failed_request(failure)
    url = original_url(request)
    response = getattr(failure.value, "response", None)
    if not (response is not None and is_image_type(response.headers.get(b"Content-Type"))
            or looks_like_image_url(url)):
        return None
    record = ImageRecord(url, pages=[])
    record.set(error=reason)
    status = failed_status(failure)
    if status is not None:
        record.set(http_status=status)
    return record
