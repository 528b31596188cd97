"""The record imgprint writes for each image.

Records are plain dicts; ``FIELDS`` fixes their order in the feed and is also
the export whitelist (``FEED_EXPORT_FIELDS``), so keys starting with ``_`` that
carry fetched bytes between the spider and the pipeline never reach a feed.
"""

# Seed-tool fields first (their names and meaning are the compatibility contract),
# then what imgprint adds.
FIELDS: list[str] = [
    "url",
    "image_size",
    "etag",
    "timestamp",
    "exif",
    "sha256_first_10240_bytes",
    "random_128_bytes_sample_start",
    "format",
    "width",
    "height",
    "bit_depth",
    "has_color_profile",
    "has_transparency",
    "has_xmp",
    "density",
    "progressive",
    "quality",
    "frames",
    "content_sha256",
    "phash",
    "phash_source",
    "gps",
    "taken_at",
    "camera",
    "software",
    "pages",
    "seen_before",
    "final_url",
    "content_type",
    "http_status",
    "bytes_fetched",
    "requests",
    "metadata_incomplete",
    "error",
]

# Item key holding the fetched prefix; removed by FingerprintPipeline.
BODY_KEY = "_body"
# The IMGPRINT_CONTENT_BYTES / IMGPRINT_PHASH_SCAN_BYTES in force for the image
# (settings or request meta); removed by FingerprintPipeline.
CONTENT_BYTES_KEY = "_content_bytes"
SCAN_BYTES_KEY = "_phash_scan_bytes"
