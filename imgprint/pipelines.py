"""Fingerprint and metadata of each fetched image, off the event loop.

Takes the bytes the fetch path held (``ImageRecord.fetched``, see
``imgprint.items``) and adds, for every image whose bytes were fetched:
``exif`` (the complete tag set the format parsers could reach), the header
facts (``format``, ``width``, ``height``, ...), the text metadata (``xmp``,
``iptc``, ``icc``, ``png_text``, ``png_time``, ``comment``, ``user_comment``;
``imgprint.metadata.blocks``) and the investigators' summary (``gps``,
``taken_at`` with ``taken_at_source``, ``modified_at``, ``camera``,
``software``), and the perceptual hashes of every decodable image
(``imgprint.fingerprint.phash``: ``phash``/``phash_source``, ``pdq``/``pdq_quality``
of the whole picture where one is held, ``phash_band``/``phash_band_source`` of
the top band, ``phash_error`` when a source held was refused). For images of
at least ``IMGPRINT_MIN_SIZE`` bytes also the seed-compatible fingerprint
(``sha256_first_10240_bytes``, ``random_128_bytes_sample_start``, over the
first 10,241 bytes only) and ``content_sha256`` (over the first coded bytes,
no metadata; docs/fingerprints.md): the floor is the seed tool's rule for its
fingerprints, not for metadata or perceptual hashes. Then it drops the bytes. A
corrupt image still yields its record, with ``error`` set.

The work runs on ``IMGPRINT_PHASH_WORKERS`` threads (``imgprint.workers``):
format walks within ``WALK_TIME_LIMIT`` seconds, the perceptual hashes within
``phash.TIME_LIMIT``; one that overruns costs its own fields (``phash_error``
says so), not the crawl.

Settings: ``IMGPRINT_CONTENT_BYTES`` (bytes of coded data under
``content_sha256``), ``IMGPRINT_PHASH_SCAN_BYTES``, ``IMGPRINT_PHASH_BAND``,
``IMGPRINT_PHASH_BAND_BYTES`` (``imgprint.fingerprint.phash``),
``IMGPRINT_PHASH_WORKERS``, ``IMGPRINT_METADATA_MAX_CHARS`` (characters kept of
each text metadata value).

Stats: ``imgprint/fingerprinted``, ``imgprint/exif/found``, ``imgprint/exif/error``,
``imgprint/content_hash``, ``imgprint/phash/<source>`` (``whole_file``,
``progressive_scan``, ``exif_thumbnail``), ``imgprint/phash_band/<source>``
(those and ``top_band``), ``imgprint/pdq``, ``imgprint/phash/refused``,
``imgprint/metadata/<field>`` (records with ``xmp``, ``iptc``, ``icc``, ...),
``imgprint/timeout/walk``, ``imgprint/timeout/phash``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imgprint import formats
from imgprint.config import Config
from imgprint.fingerprint.limits import TIME_LIMIT, BandChecked, Limits
from imgprint.fingerprint.seed import SEED_PREFIX_BYTES, seed_fingerprint
from imgprint.formats import FormatError, Spans
from imgprint.formats.dispatch import guard
from imgprint.formats.jpeg_vendor import vendor_fields
from imgprint.items import ImageRecord
from imgprint.metadata.blocks import metadata_fields
from imgprint.metadata.exif import ExifError, exif_tags
from imgprint.metadata.summary import summary
from imgprint.record_caps import METADATA_FIELDS
from imgprint.settings import IMGPRINT_METADATA_MAX_CHARS
from imgprint.workers import workers_for

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
            return formats.exif_tags(spans, unfinished=bool(formats.needed(spans)))
        except FormatError as exc:
            raise ExifError(str(exc)) from exc
    return exif_tags(prefix)


def text_metadata(spans: Spans, max_chars: int) -> dict[str, Any]:
    """XMP, IPTC, ICC, PNG text, comments and UserComment from the metadata
    blocks the format parsers located and hold (``imgprint.metadata.blocks``)."""
    return metadata_fields(formats.metadata_blocks(spans), max_chars)


def fingerprint_fields(spans: Spans, content_bytes: int = 0, small: bool = False,
                       max_chars: int = IMGPRINT_METADATA_MAX_CHARS) -> dict[str, Any]:
    """The record's fields from what ``spans`` hold: metadata for every image;
    the seed fingerprint and ``content_sha256`` unless it is ``small`` (under
    ``IMGPRINT_MIN_SIZE``, where the seed tool recorded no fingerprint)."""
    prefix = spans.get_partial(0, SEED_PREFIX_BYTES)
    fields: dict[str, Any] = {} if small else seed_fingerprint(prefix)
    try:
        fields["exif"] = read_exif(spans, prefix)
    except ExifError as exc:
        fields["exif"] = {}
        fields["error"] = f"EXIF not readable: {exc}"
    fields.update(formats.facts(spans))
    text = text_metadata(spans, max_chars)
    if text.pop("has_xmp", False):
        fields["has_xmp"] = True
    fields.update(text)
    none: dict[str, str] = {}
    vendor = guard("vendor_fields", none, vendor_fields, spans)
    fields.update(summary(fields["exif"], text.get("xmp"), text.get("iptc"), vendor))
    if not small:
        fields["content_sha256"] = formats.content_hash(spans, content_bytes)
    return fields


def perceptual_fields(spans: Spans, limits: Limits,
                      checked: BandChecked | None = None) -> dict[str, Any]:
    """``imgprint.fingerprint.phash.perceptual_fields``, imported on first use:
    numpy and Pillow load on a worker thread while the first downloads run."""
    from imgprint.fingerprint.phash import perceptual_fields as fields

    return fields(spans, limits, checked)


class FingerprintPipeline:
    def __init__(self, crawler: Crawler, config: Config):
        self.stats = crawler.stats
        self.content_bytes = config.content_bytes
        self.limits = Limits(config.phash_scan_bytes, config.phash_band, config.phash_band_bytes,
                             config.range_bytes)
        self.max_chars = config.metadata_max_chars
        self.workers = workers_for(config)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FingerprintPipeline:
        return cls(crawler, Config.from_crawler(crawler))

    def close_spider(self) -> None:
        self.workers.close()

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, ImageRecord) or item.fetched is None:
            return item
        fetched, item.fetched = item.fetched, None  # the bytes end here
        spans, small = fetched.spans, fetched.small
        if spans is None:
            return item
        try:
            fields = await self.workers.run(WALK_TIME_LIMIT, fingerprint_fields, spans,
                                            self.content_bytes, small, self.max_chars)
        except TimeoutError:
            self.stats.inc_value("imgprint/timeout/walk")
            seed = {} if small else seed_fingerprint(spans.get_partial(0, SEED_PREFIX_BYTES))
            fields = {**seed, "exif": {},
                      "error": f"metadata not read: took more than {WALK_TIME_LIMIT:g} s"}
        followup = fetched.followup
        found = await self._perceptual(spans, followup.band_found if followup else None)
        # Null, not absent, on a fingerprinted record without one (as always).
        fields.update(found if small else {"phash": None, "phash_source": None, **found})
        self._count(fields, small)
        item.set(**fields)
        return item

    async def _perceptual(self, spans: Spans, checked: BandChecked | None) -> dict[str, Any]:
        try:
            return await self.workers.run(TIME_LIMIT, perceptual_fields, spans, self.limits,
                                          checked)
        except TimeoutError:
            self.stats.inc_value("imgprint/timeout/phash")
            return {"phash_error": f"perceptual hashes given up after {TIME_LIMIT:g} s"}

    def _count(self, fields: dict[str, Any], small: bool) -> None:
        if not small:
            self.stats.inc_value("imgprint/fingerprinted")
        if fields.get("content_sha256"):
            self.stats.inc_value("imgprint/content_hash")
        if fields.get("phash_source"):
            self.stats.inc_value(f"imgprint/phash/{fields['phash_source']}")
        if fields.get("phash_band_source"):
            self.stats.inc_value(f"imgprint/phash_band/{fields['phash_band_source']}")
        if fields.get("pdq"):
            self.stats.inc_value("imgprint/pdq")
        if fields.get("phash_error"):
            self.stats.inc_value("imgprint/phash/refused")
        for name in METADATA_FIELDS:
            if fields.get(name):
                self.stats.inc_value(f"imgprint/metadata/{name}")
        if fields.get("error"):
            self.stats.inc_value("imgprint/exif/error")
        elif fields["exif"]:
            self.stats.inc_value("imgprint/exif/found")
