"""Fingerprint and metadata of each fetched image prefix.

Reads the bytes the spider put under ``items.BODY_KEY``, adds the seed-compatible
fields (``sha256_first_10240_bytes``, ``random_128_bytes_sample_start``) and
``exif``, and drops the bytes so no feed ever holds image content beyond the
128-byte sample. A corrupt image still yields its record, with ``error`` set.

Stats: ``imgprint/fingerprinted``, ``imgprint/exif/found``, ``imgprint/exif/error``.
"""

from __future__ import annotations

from typing import Any

from itemadapter import ItemAdapter

from imgprint.exif import ExifError, exif_tags
from imgprint.fingerprint import SEED_PREFIX_BYTES, seed_fingerprint
from imgprint.items import BODY_KEY


def fingerprint_fields(body: bytes) -> dict[str, Any]:
    """Seed-compatible fields of an image whose first bytes are ``body``."""
    prefix = body[:SEED_PREFIX_BYTES]
    fields: dict[str, Any] = seed_fingerprint(prefix)
    try:
        fields["exif"] = exif_tags(prefix)
    except ExifError as exc:
        fields["exif"] = {}
        fields["error"] = f"EXIF not readable: {exc}"
    return fields


class FingerprintPipeline:
    def __init__(self, crawler: Any):
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Any) -> FingerprintPipeline:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        adapter = ItemAdapter(item)
        body = adapter.pop(BODY_KEY, None) if BODY_KEY in adapter else None
        if body is None:
            return item
        fields = fingerprint_fields(body)
        self.stats.inc_value("imgprint/fingerprinted")
        if fields.get("error"):
            self.stats.inc_value("imgprint/exif/error")
        elif fields["exif"]:
            self.stats.inc_value("imgprint/exif/found")
        adapter.update(fields)
        return item
