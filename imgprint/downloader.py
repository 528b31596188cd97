"""Scrapy's downloader, with its per-slot concurrency limit enforced.

Scrapy 2.19 counts a request as transferring only once the task that
downloads it first runs, so one pass of ``Downloader._process_queue`` hands
out a slot's whole queue at once: ``CONCURRENT_REQUESTS_PER_DOMAIN`` (and the
per-onion-host limit, ``TOR_CONCURRENCY_PER_HOST``) did not hold. This counts
the request when it is handed out.

Settings: ``DOWNLOADER`` selects it (imgprint's default).
"""

from __future__ import annotations

from typing import Any

from scrapy.core.downloader import Downloader as ScrapyDownloader


class Downloader(ScrapyDownloader):
    def _wait_for_download(self, slot: Any, request: Any, queue_dfd: Any) -> Any:
        slot.transferring.add(request)  # _download() removes it when done
        return super()._wait_for_download(slot, request, queue_dfd)
