"""Numbers the fetch path, the format parsers and the fingerprints share (a leaf)."""

#: The seed tool's prefix: ``Range: bytes=0-10240`` (inclusive), 10,241 bytes,
#: hashed as ``sha256_first_10240_bytes``; EXIF within it is what it read.
SEED_PREFIX_BYTES = 10241
