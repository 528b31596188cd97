"""Seed-compatible fingerprint fields and the HTTP facts they depend on.

The seed tool hashed the body of ``Range: bytes=0-10240`` - HTTP ranges are
inclusive, so 10,241 bytes - and kept the last 128 bytes of it as a "sample".
Existing archives hold those values: keep them byte for byte.
"""

from __future__ import annotations

import hashlib
import re

SEED_PREFIX_BYTES = 10241
SAMPLE_BYTES = 128

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)\s*/\s*(\d+|\*)\s*$", re.I)


def seed_fingerprint(prefix: bytes) -> dict[str, str]:
    """``sha256_first_10240_bytes`` and ``random_128_bytes_sample_start`` of a prefix."""
    prefix = prefix[:SEED_PREFIX_BYTES]
    return {
        "sha256_first_10240_bytes": hashlib.sha256(prefix).hexdigest(),
        "random_128_bytes_sample_start": prefix[-SAMPLE_BYTES:].hex(),
    }


def normalize_etag(value: bytes | str | None) -> str | None:
    """ETag without the weak ``W/`` prefix and quotes, as the seed tool stored it."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    value = value.strip()
    if value[:2].upper() == "W/":
        value = value[2:]
    return value.strip('"') or None


def parse_content_range(value: bytes | str | None) -> tuple[int | None, int | None, int | None]:
    """``Content-Range: bytes a-b/total`` as (a, b, total); None for absent parts.

    ``bytes */total`` (416 answers) gives (None, None, total).
    """
    if value is None:
        return None, None, None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    m = _CONTENT_RANGE.match(value)
    if not m:
        return None, None, None
    first, last, total = m.groups()
    return (
        int(first) if first is not None else None,
        int(last) if last is not None else None,
        int(total) if total not in (None, "*") else None,
    )


def parse_int(value: bytes | str | None) -> int | None:
    try:
        n = int(value) if value is not None else None
    except ValueError:
        return None
    return n if n is not None and n >= 0 else None
