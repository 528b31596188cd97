"""Fingerprint and metadata of each fetched image.

Reads the byte spans the spider put under ``items.BODY_KEY`` (the first bytes,
plus any follow-up spans), adds the seed-compatible fields
(``sha256_first_10240_bytes``, ``random_128_bytes_sample_start``, over the first
10,241 bytes only), ``exif`` (the complete tag set the format parsers could
reach), the header facts (``format``, ``width``, ``height``, ...) and the
investigators' summary (``gps``, ``taken_at``, ``camera``, ``software``), and
the copy-detection hashes (``content_sha256`` over the first coded bytes, no
metadata; ``phash``/``phash_source`` from the EXIF thumbnail or the first
progressive scan; README, "Copy-detection fingerprints"); then drops the bytes, so no feed ever
holds image content beyond the 128-byte sample.
A corrupt image still yields its record, with ``error`` set.

Settings: ``IMGPRINT_CONTENT_BYTES`` (bytes of coded data under
``content_sha256``), ``IMGPRINT_PHASH_SCAN_BYTES`` (see ``imgprint.phash``); both
also per request, as the spider passes them on with the bytes.

Stats: ``imgprint/fingerprinted``, ``imgprint/exif/found``, ``imgprint/exif/error``,
``imgprint/content_hash``, ``imgprint/phash/exif_thumbnail``,
``imgprint/phash/progressive_scan``.
"""

from __future__ import annotations

from typing import Any

from itemadapter import ItemAdapter

from imgprint import formats
from imgprint.exif import ExifError, exif_tags
from imgprint.fingerprint import SEED_PREFIX_BYTES, seed_fingerprint
from imgprint.formats import FormatError, Spans
from imgprint.items import BODY_KEY, CONTENT_BYTES_KEY, SCAN_BYTES_KEY
from imgprint.phash import phash_fields
from imgprint.summary import summary


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


def fingerprint_fields(spans: Spans) -> dict[str, Any]:
    """Fingerprint, EXIF and header facts of an image of which ``spans`` are held."""
    prefix = spans.get_partial(0, SEED_PREFIX_BYTES)
    fields: dict[str, Any] = seed_fingerprint(prefix)
    try:
        fields["exif"] = read_exif(spans, prefix)
    except ExifError as exc:
        fields["exif"] = {}
        fields["error"] = f"EXIF not readable: {exc}"
    fields.update(formats.facts(spans))
    fields.update(summary(fields["exif"]))
    return fields


def hash_fields(spans: Spans, content_bytes: int, scan_bytes: int) -> dict[str, Any]:
    """``content_sha256``, ``phash`` and ``phash_source`` (None when not computable)."""
    fields: dict[str, Any] = {"content_sha256": formats.content_hash(spans, content_bytes),
                              "phash": None, "phash_source": None}
    fields.update(phash_fields(spans, scan_bytes))
    return fields


class FingerprintPipeline:
    def __init__(self, crawler: Any):
        self.stats = crawler.stats
        self.content_bytes = crawler.settings.getint("IMGPRINT_CONTENT_BYTES")
        self.scan_bytes = crawler.settings.getint("IMGPRINT_PHASH_SCAN_BYTES")

    @classmethod
    def from_crawler(cls, crawler: Any) -> FingerprintPipeline:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        adapter = ItemAdapter(item)
        spans = adapter.pop(BODY_KEY, None) if BODY_KEY in adapter else None
        content_bytes = (adapter.pop(CONTENT_BYTES_KEY) if CONTENT_BYTES_KEY in adapter
                         else self.content_bytes)
        scan_bytes = adapter.pop(SCAN_BYTES_KEY) if SCAN_BYTES_KEY in adapter else self.scan_bytes
        if spans is None:
            return item
        if isinstance(spans, bytes):
            body, spans = spans, Spans()
            spans.add(0, body)
        fields = fingerprint_fields(spans)
        fields.update(hash_fields(spans, content_bytes, scan_bytes))
        self.stats.inc_value("imgprint/fingerprinted")
        if fields["content_sha256"]:
            self.stats.inc_value("imgprint/content_hash")
        if fields["phash_source"]:
            self.stats.inc_value(f"imgprint/phash/{fields['phash_source']}")
        if fields.get("error"):
            self.stats.inc_value("imgprint/exif/error")
        elif fields["exif"]:
            self.stats.inc_value("imgprint/exif/found")
        adapter.update(fields)
        return item
