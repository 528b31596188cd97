"""What an image request carries and what its answer holds.

Meta (set by whoever asks for an image: the images spider, a user's spider):
``imgprint_image`` (an image request), ``imgprint_sniff`` (a seed: a page or an
image, which only the answer tells), ``imgprint_found_by`` (how the page showed
the image, copied to the record). ``_imgprint_followup`` marks the fetch
path's own follow-ups, ``_imgprint_followup_limit`` the most body bytes one may
read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scrapy.http import Response

if TYPE_CHECKING:
    from imgprint.fetch.loop import FollowupResult
    from imgprint.spans import Spans

IMAGE_KEY = "imgprint_image"
SNIFF_KEY = "imgprint_sniff"
FOUND_BY_KEY = "imgprint_found_by"
FOLLOWUP_KEY = "_imgprint_followup"  # a follow-up: its answer goes back to the loop
# A follow-up's most body bytes: what is left of the image's IMGPRINT_FOLLOWUP_BYTES.
FOLLOWUP_LIMIT_KEY = "_imgprint_followup_limit"
# Response flag of a follow-up answer cut for running past the bytes asked.
OVERRUN_FLAG = "imgprint_overrun"
# Meta that says how a request reaches its host; follow-ups keep it.
ROUTING_META = ("tor", "tor_proxy", "proxy", "download_timeout", "max_retry_times",
                "download_slot", "bindaddress", "dont_proxy", "imgprint_guard_private")
# Error answers reach the spider (a failed image still gets a record); 3xx
# must not: RedirectMiddleware follows those.
ERROR_STATUSES = list(range(400, 600))
IMAGE_STATUSES = (200, 206, 416)


@dataclass
class FetchedImage:
    """One image's fetch state: the bytes held, and what fetching them cost.

    It travels from the fetch path to the pipeline (``ImageResponse.image``,
    then ``ImageRecord.fetched``, which is not a record field), and the
    pipeline drops it: image bytes never reach a feed."""

    url: str  # where the bytes came from, after redirects
    status: int
    size: int | None = None  # the whole file's, when the server said
    etag: str | None = None
    content_type: str | None = None
    spans: Spans | None = None  # None: no bytes to read (an error, a small image in HEAD mode)
    requests: int = 1
    bytes: int = 0
    error: str | None = None  # the answer is not the file's bytes
    incomplete: str | None = None  # some metadata past the follow-up budgets
    small: bool = False  # under IMGPRINT_MIN_SIZE: no fingerprint
    followup: FollowupResult | None = None  # what the follow-up loop did


class ImageResponse(Response):
    """An image answer after the fetch path; the bytes are in ``image.spans``."""

    __slots__ = ("image",)
    attributes: tuple[str, ...] = (*Response.attributes, "image")

    def __init__(self, *args: Any, image: FetchedImage, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.image = image
