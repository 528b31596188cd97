"""Scrapy's ``UrlLengthMiddleware``, logging a bounded prefix of the URL it drops.

Scrapy's own logs the whole URL: a page can make that a 10 MB log line (issue
23, finding 4). This one drops the same requests, counts them in the same stat
(``urllength/request_ignored_count``) and logs the URL's length and its first
characters (``imgprint.http.log_safe``). It replaces Scrapy's in
``SPIDER_MIDDLEWARES`` at the same order (800).

Settings: ``URLLENGTH_LIMIT`` (Scrapy's, 2,083; 0 turns the middleware off).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy.spidermiddlewares.urllength import UrlLengthMiddleware

from imgprint.http import log_safe

if TYPE_CHECKING:
    from scrapy.http import Request, Response

logger = logging.getLogger(__name__)


class BoundedUrlLengthMiddleware(UrlLengthMiddleware):
    def get_processed_request(self, request: Request,
                              response: Response | None) -> Request | None:
        if len(request.url) <= self.maxlength:
            return request
        logger.info("Ignoring link (URL of %d characters, over URLLENGTH_LIMIT %d): %s",
                    len(request.url), self.maxlength, log_safe(request.url),
                    extra={"spider": self.crawler.spider})
        self.crawler.stats.inc_value("urllength/request_ignored_count")
        return None
