"""The pause before a retry: Retry-After when given, else bounded exponential backoff."""

from __future__ import annotations

from datetime import UTC, datetime

from imgprint.middlewares.retry import backoff_delay, retry_after_seconds


def test_retry_after_forms():
    now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds(b"3") == 3.0
    assert retry_after_seconds("Wed, 25 Nov 2026 12:00:10 GMT", now=now) == 10.0
    assert retry_after_seconds("Wed, 25 Nov 2026 11:59:00 GMT", now=now) == 0.0
    assert retry_after_seconds(b"soon") is None
    assert retry_after_seconds(None) is None


def test_backoff_doubles_and_is_capped():
    assert [backoff_delay(n, 0.5, 30, None) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff_delay(10, 0.5, 30, None) == 30
    assert backoff_delay(1, 0.5, 30, 3600.0) == 30  # a server cannot park the crawl
    assert backoff_delay(1, 0.5, 30, 2.0) == 2.0
