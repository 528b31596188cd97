"""``ImageUrlsPipeline``: ImagesPipeline's ``image_urls`` in, imgprint records out.

For an item with ``image_urls`` (``IMGPRINT_IMAGES_URLS_FIELD``), each URL is
fetched as the images spider fetches an image (``imgprint.imagerequest``: the
first bytes with a Range request, the follow-ups the parsers ask for, the
network guard, Tor routing) and the item's ``images`` field
(``IMGPRINT_IMAGES_RESULT_FIELD``) gets one record per URL, in order: a dict
with the images spider's record fields (size, ``etag``, fingerprints,
metadata, ``error``...) without ``pages`` (the item is the page's). Nothing
of the image is stored.

The requests go straight to the engine's downloader (``download_async``), as
Scrapy's ``MediaPipeline`` sends its own: through every downloader middleware
and download slot, so per-site concurrency and delays hold, but not through
the scheduler, whose queue an item waiting here must not depend on. Redirects
are followed (``final_url``); an error answer or a download with no answer
(after Scrapy's retries; refused by the guard; filtered as offsite) is an
error record, as the images spider writes it; an item is never dropped. A URL
that several items list at once is fetched once; the last ``RECENT`` records
are reused.

It is also the add-on's ``FingerprintPipeline``: an ``ImageRecord`` a spider
yields (``imgprint.image_record``) gets its fingerprint and metadata fields
here, on the same worker threads.

Settings: ``IMGPRINT_IMAGES_URLS_FIELD`` (default ``image_urls``),
``IMGPRINT_IMAGES_RESULT_FIELD`` (default ``images``), ``IMGPRINT_FETCH_MODE``,
``DOWNLOAD_TIMEOUT``, and ``FingerprintPipeline``'s. Stats:
``imgprint/image_urls/items``, ``imgprint/image_urls/records``,
``imgprint/image_urls/reused``, ``imgprint/images/error`` (error answers),
``imgprint/images/failed`` (no answer), and ``FingerprintPipeline``'s.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from scrapy.utils.misc import arg_to_iter
from twisted.python.failure import Failure

from imgprint.config import Config
from imgprint.imagerequest import fail_record, fill_record, image_request
from imgprint.items import ImageRecord
from imgprint.pipelines import FingerprintPipeline

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

#: Records kept for items listing an image fetched a moment ago (a site's logo
#: on every page); at most RECENT x the record's own cap of memory.
RECENT = 128


def record_dict(record: ImageRecord) -> dict[str, Any]:
    """A record as it goes into an item: its fields, without ``pages``."""
    fields = record.to_dict()
    fields.pop("pages", None)
    return fields


class ImageUrlsPipeline(FingerprintPipeline):
    def __init__(self, crawler: Crawler, config: Config):
        super().__init__(crawler, config)
        self.crawler = crawler
        self.urls_field = config.images_urls_field
        self.result_field = config.images_result_field
        self.head = config.fetch_mode == "head"
        self.timeout = crawler.settings.getfloat("DOWNLOAD_TIMEOUT")
        self._fetching: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._recent: OrderedDict[str, dict[str, Any]] = OrderedDict()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ImageUrlsPipeline:
        return cls(crawler, Config.from_crawler(crawler))

    async def process_item(self, item: Any) -> Any:
        if isinstance(item, ImageRecord):
            return await super().process_item(item)
        adapter = ItemAdapter(item)
        urls = [str(u) for u in arg_to_iter(adapter.get(self.urls_field))]
        if not urls:
            return item
        self.stats.inc_value("imgprint/image_urls/items")
        records = await asyncio.gather(*(self.record(url) for url in urls))
        # As ImagesPipeline: an Item class without the field keeps its fields.
        with suppress(KeyError):
            adapter[self.result_field] = list(records)
        return item

    async def record(self, url: str) -> dict[str, Any]:
        """The record of image ``url``: fetched now, or shared with a fetch under way."""
        recent = self._recent.get(url)
        if recent is not None:
            self._recent.move_to_end(url)
            self.stats.inc_value("imgprint/image_urls/reused")
            return dict(recent)
        task = self._fetching.get(url)
        if task is None:
            task = self._fetching[url] = asyncio.ensure_future(self._fetch(url))
        # Shielded: one item's wait being cancelled must not cancel the others'.
        return dict(await asyncio.shield(task))

    async def _fetch(self, url: str) -> dict[str, Any]:
        try:
            record = await self._record(url)
        finally:
            del self._fetching[url]
        fields = record_dict(record)
        self._recent[url] = fields
        if len(self._recent) > RECENT:
            self._recent.popitem(last=False)
        self.stats.inc_value("imgprint/image_urls/records")
        return fields

    async def _record(self, url: str) -> ImageRecord:
        try:
            request = image_request(url, head=self.head)
        except ValueError as exc:  # not an absolute URL: nothing to fetch
            self.stats.inc_value("imgprint/images/failed")
            record = ImageRecord(url)
            record.set(error=f"not a URL that can be fetched: {exc}")
            return record
        # The URL as Scrapy sends it (non-ASCII percent-encoded), as
        # ImagesPipeline's results and the images spider's records have it.
        record = ImageRecord(request.url)
        engine = self.crawler.engine
        try:
            response = await engine.download_async(request)
        except Exception as exc:  # no answer: the reason goes in the record
            self.stats.inc_value("imgprint/images/failed")
            failure = Failure(exc)
            failure.request = request  # type: ignore[attr-defined]
            fail_record(record, failure, self.timeout)
            return record
        if fill_record(record, response).error:
            self.stats.inc_value("imgprint/images/error")
        # Fingerprint and metadata fields; the bytes are dropped there.
        await super().process_item(record)
        return record
