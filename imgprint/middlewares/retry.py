"""Scrapy's retry, with a bounded backoff between attempts.

Scrapy's RetryMiddleware sends a retry as soon as the failure is seen; a
flaky or overloaded server (503, 429, onion services) needs a pause, and asks
for one with ``Retry-After``. This subclass keeps Scrapy's retry decisions and
stats, and gives each retry a time before which it is not sent:
``Retry-After`` when the answer has one, else
``IMGPRINT_RETRY_BACKOFF_BASE * 2 ** (attempt - 1)``, both capped at
``IMGPRINT_RETRY_BACKOFF_MAX`` seconds. The wait happens in the scheduler
(``imgprint.scheduler``), so a waiting retry holds no download slot.

Settings: Scrapy's ``RETRY_*``, plus ``IMGPRINT_RETRY_BACKOFF_BASE`` (default 0.5 s)
and ``IMGPRINT_RETRY_BACKOFF_MAX`` (default 30 s).
Stats: ``imgprint/retry/delay_seconds`` (total asked for); the scheduler counts
``imgprint/retry/delayed``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from scrapy import Request
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import Response

from imgprint.config import Config
from imgprint.scheduler import NOT_BEFORE_KEY

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler


def retry_after_seconds(value: bytes | str | None, now: datetime | None = None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry)."""
    delay = retry_after if retry_after is not None else base * 2 ** max(0, attempt - 1)
    return max(0.0, min(delay, cap))


class BackoffRetryMiddleware(RetryMiddleware):
    base: float = 0.5
    cap: float = 30.0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        middleware = super().from_crawler(crawler)
        config = Config.from_crawler(crawler)
        middleware.base = config.retry_backoff_base
        middleware.cap = config.retry_backoff_max
        return middleware

    def process_response(self, request: Request, response: Response,
                         spider: Any = None) -> Any:
        result = super().process_response(request, response)
        if isinstance(result, Request):
            self._delay(result, response.headers.get(b"Retry-After"))
        return result

    def process_exception(self, request: Request, exception: Exception,
                          spider: Any = None) -> Any:
        result = super().process_exception(request, exception)
        if isinstance(result, Request):
            self._delay(result, None)
        return result

    def _delay(self, retry: Request, retry_after_header: bytes | None) -> None:
        delay = backoff_delay(retry.meta.get("retry_times", 1), self.base, self.cap,
                              retry_after_seconds(retry_after_header))
        if delay > 0:
            self.crawler.stats.inc_value("imgprint/retry/delay_seconds", delay)  # type: ignore[arg-type]
            retry.meta[NOT_BEFORE_KEY] = time.monotonic() + delay
