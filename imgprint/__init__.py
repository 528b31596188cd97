"""imgprint: image fingerprints and metadata without downloading the images.

In any Scrapy project (docs/addon.md)::

    ADDONS = {"imgprint.Addon": 500}

and items with ``image_urls`` get a record per URL in ``images``; a spider
can also ask for an image itself with ``image_request`` and turn the answer
into a record with ``image_record`` (``failure_record`` in its errback).

The names load on first use: Scrapy imports this package for the ``scrapy
dupes`` command in every project where imgprint is installed, and that must
not load the crawl's parts.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imgprint.addon import Addon
    from imgprint.imagerequest import failure_record, image_record, image_request
    from imgprint.imageurls import ImageUrlsPipeline

__all__ = ["Addon", "ImageUrlsPipeline", "failure_record", "image_record", "image_request"]

_WHERE = {
    "Addon": "imgprint.addon",
    "ImageUrlsPipeline": "imgprint.imageurls",
    "failure_record": "imgprint.imagerequest",
    "image_record": "imgprint.imagerequest",
    "image_request": "imgprint.imagerequest",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'imgprint' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
