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
