"""Seed-compatible fingerprint fields.

The seed tool hashed the body of ``Range: bytes=0-10240`` - HTTP ranges are
inclusive, so 10,241 bytes - and kept the last 128 bytes of it as a "sample".
Existing archives hold those values: keep them byte for byte.
"""

from __future__ import annotations

import hashlib

from imgprint.limits import SEED_PREFIX_BYTES as SEED_PREFIX_BYTES

SAMPLE_BYTES = 128


def seed_fingerprint(prefix: bytes) -> dict[str, str]:
    """``sha256_first_10240_bytes`` and ``random_128_bytes_sample_start`` of a prefix."""
    prefix = prefix[:SEED_PREFIX_BYTES]
    return {
        "sha256_first_10240_bytes": hashlib.sha256(prefix).hexdigest(),
        "random_128_bytes_sample_start": prefix[-SAMPLE_BYTES:].hex(),
    }
