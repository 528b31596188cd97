"""Whether this crawl renders: ``-a render=...`` over ``IMGPRINT_RENDER``."""

from __future__ import annotations

from typing import Any

from imgprint.config import Config


def render_mode(crawler: Any, config: Config | None = None) -> str:
    """``off``, ``on`` or ``auto`` for this crawl."""
    config = config or Config.from_crawler(crawler)
    args = getattr(crawler.spider, "args", None)
    return getattr(args, "render", None) or config.render
