"""Scrapy's stats collector without its per-call wrapper (``STATS_CLASS``).

Scrapy 2.19's ``StatsCollector`` routes every attribute access through a
Python ``__getattribute__`` that wraps ``inc_value`` and friends in a check
for the deprecated ``spider`` argument: 4.5 us for an ``inc_value`` and a
``get_value`` where the methods themselves take 0.3 us. A crawl makes some 30
such calls an image (the downloader's, the scheduler's, imgprint's), about 2 %
of its CPU. This collector is ``MemoryStatsCollector`` with plain attribute
access; a ``spider`` argument is still accepted (and ignored), only not warned
about.
"""

from __future__ import annotations

from scrapy.statscollectors import MemoryStatsCollector


class StatsCollector(MemoryStatsCollector):
    __getattribute__ = object.__getattribute__
