"""Whether this crawl renders: ``-a render=...`` over ``IMGPRINT_RENDER``."""

from __future__ import annotations

from typing import Any

from imgprint.frontier.state import CrawlState


def render_mode(crawler: Any) -> str:
    """``off``, ``on`` or ``auto`` for this crawl (the spider sets the crawl
    state's from its ``-a render``; other spiders get the setting's)."""
    return CrawlState.of(crawler).render_mode
