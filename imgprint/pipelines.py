"""Fingerprint and metadata of each fetched image, off the event loop.

Takes the bytes the fetch path held (``ImageRecord.fetched``, see
``imgprint.items``) and adds the seed-compatible fields
(``sha256_first_10240_bytes``, ``random_128_bytes_sample_start``, over the first
10,241 bytes only), ``exif`` (the complete tag set the format parsers could
reach), the header facts (``format``, ``width``, ``height``, ...), the
investigators' summary (``gps``, ``taken_at``, ``camera``, ``software``), and the
copy-detection hashes (``content_sha256`` over the first coded bytes, no
metadata; ``phash``/``phash_source`` from the EXIF thumbnail or the first
progressive scan; README, "Copy-detection fingerprints"); then drops the bytes.
A corrupt image still yields its record, with ``error`` set.

The work runs on ``IMGPRINT_PHASH_WORKERS`` threads (``imgprint.workers``):
format walks within ``WALK_TIME_LIMIT`` seconds, a perceptual hash within
``phash.TIME_LIMIT``; one that overruns costs its own fields, not the crawl.

Settings: ``IMGPRINT_CONTENT_BYTES`` (bytes of coded data under
``content_sha256``), ``IMGPRINT_PHASH_SCAN_BYTES`` (``imgprint.fingerprint.phash``),
``IMGPRINT_PHASH_WORKERS``.

Stats: ``imgprint/fingerprinted``, ``imgprint/exif/found``, ``imgprint/exif/error``,
``imgprint/content_hash``, ``imgprint/phash/exif_thumbnail``,
``imgprint/phash/progressive_scan``, ``imgprint/timeout/walk``,
``imgprint/timeout/phash``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imgprint import formats
from imgprint.config import Config
from imgprint.fingerprint.limits import TIME_LIMIT
from imgprint.fingerprint.seed import SEED_PREFIX_BYTES, seed_fingerprint
from imgprint.formats import FormatError, Spans
from imgprint.items import ImageRecord
from imgprint.metadata.exif import ExifError, exif_tags
from imgprint.metadata.summary import summary
from imgprint.workers import Workers

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

#: Seconds the format walks of one image may take.
WALK_TIME_LIMIT = 30.0


def read_exif(spans: Spans, prefix: bytes) -> dict[str, str]:
    """EXIF over the spans the format parser knows, else exifread over the prefix.

    The fallback keeps the seed tool's results for files no parser recognises
    (broken signatures that exifread still reads).
    """
    if formats.sniff(prefix[:64]) is not None:
        try:
            return formats.exif_tags(spans)
        except FormatError as exc:
            raise ExifError(str(exc)) from exc
    return exif_tags(prefix)


def fingerprint_fields(spans: Spans, content_bytes: int = 0) -> dict[str, Any]:
    """Fingerprint, EXIF, header facts and ``content_sha256`` of what ``spans`` hold."""
    prefix = spans.get_partial(0, SEED_PREFIX_BYTES)
    fields: dict[str, Any] = seed_fingerprint(prefix)
    try:
        fields["exif"] = read_exif(spans, prefix)
    except ExifError as exc:
        fields["exif"] = {}
        fields["error"] = f"EXIF not readable: {exc}"
    fields.update(formats.facts(spans))
    fields.update(summary(fields["exif"]))
    fields["content_sha256"] = formats.content_hash(spans, content_bytes)
    return fields


def phash_fields(spans: Spans, scan_bytes: int) -> dict[str, str]:
    """``imgprint.fingerprint.phash.phash_fields``, imported on first use: numpy
    and Pillow load on a worker thread while the first downloads run."""
    from imgprint.fingerprint.phash import phash_fields as fields

    return fields(spans, scan_bytes)


class FingerprintPipeline:
    def __init__(self, crawler: Crawler, config: Config):
        self.stats = crawler.stats
        self.content_bytes = config.content_bytes
        self.scan_bytes = config.phash_scan_bytes
        self.workers = Workers(config.phash_workers)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FingerprintPipeline:
        return cls(crawler, Config.from_crawler(crawler))

    def close_spider(self) -> None:
        self.workers.close()

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, ImageRecord) or item.fetched is None:
            return item
        spans, item.fetched = item.fetched.spans, None  # the bytes end here
        if spans is None:
            return item
        try:
            fields = await self.workers.run(WALK_TIME_LIMIT, fingerprint_fields, spans,
                                            self.content_bytes)
        except TimeoutError:
            self.stats.inc_value("imgprint/timeout/walk")
            fields = {**seed_fingerprint(spans.get_partial(0, SEED_PREFIX_BYTES)), "exif": {},
                      "error": f"metadata not read: took more than {WALK_TIME_LIMIT:g} s"}
        fields.update(await self._phash(spans))
        self._count(fields)
        item.set(**fields)
        return item

    async def _phash(self, spans: Spans) -> dict[str, Any]:
        try:
            found = await self.workers.run(TIME_LIMIT, phash_fields, spans, self.scan_bytes)
        except TimeoutError:
            self.stats.inc_value("imgprint/timeout/phash")
            found = {}
        return {"phash": None, "phash_source": None, **found}

    def _count(self, fields: dict[str, Any]) -> None:
        self.stats.inc_value("imgprint/fingerprinted")
        if fields.get("content_sha256"):
            self.stats.inc_value("imgprint/content_hash")
        if fields["phash_source"]:
            self.stats.inc_value(f"imgprint/phash/{fields['phash_source']}")
        if fields.get("error"):
            self.stats.inc_value("imgprint/exif/error")
        elif fields["exif"]:
            self.stats.inc_value("imgprint/exif/found")
