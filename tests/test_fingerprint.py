"""Pure helpers: seed-compatible fields, HTTP header parsing, URL file lines."""

from __future__ import annotations

import hashlib

from imgprint.fingerprint.seed import seed_fingerprint
from imgprint.http import normalize_etag, parse_content_range
from imgprint.urlfile import parse_lines
from tests.conftest import CORPUS


def test_seed_fingerprint_covers_10241_bytes_and_samples_the_last_128():
    data = (CORPUS / "exif-samples" / "jpg" / "Canon_PowerShot_S40.jpg").read_bytes()
    fields = seed_fingerprint(data)
    assert fields["sha256_first_10240_bytes"] == hashlib.sha256(data[:10241]).hexdigest()
    assert fields["random_128_bytes_sample_start"] == data[10113:10241].hex()
    assert seed_fingerprint(data[:10241]) == fields


def test_etag_normalisation():
    assert normalize_etag(b'W/"abc-1"') == "abc-1"
    assert normalize_etag('"xyz"') == "xyz"
    assert normalize_etag(None) is None
    assert normalize_etag(b'""') is None


def test_content_range():
    assert parse_content_range(b"bytes 0-10240/32764") == (0, 10240, 32764)
    assert parse_content_range("bytes */0") == (None, None, 0)
    assert parse_content_range(b"bytes 5-9/*") == (5, 9, None)
    assert parse_content_range(b"garbage") == (None, None, None)


def test_url_lines():
    urls, bad = parse_lines(["http://a.test/", "  # c", "", "mailto:x@y", "http://a.test/",
                             "HTTPS://B.test/x"])
    assert urls == ["http://a.test/", "HTTPS://B.test/x"]
    assert [(b.lineno, b.reason) for b in bad] == [(4, "not an http(s) URL")]
