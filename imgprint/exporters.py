"""JSON feed exporters whose lines stay lines for every reader.

``ensure_ascii`` is off (``FEED_EXPORT_ENCODING = "utf-8"``), so a string from
a hostile file or page could carry U+2028/U+2029 (line and paragraph
separators) or U+0085 (next line) raw into a feed: valid JSON, but
``str.splitlines()`` and JavaScript readers split the record there (13
records read as 19 lines). These exporters write them as ``\\u2028``,
``\\u2029`` and ``\\u0085`` escapes, which decode to the same strings. The
other characters ``splitlines`` breaks on are control characters, which JSON
escapes anyway.

Settings: ``FEED_EXPORTERS`` maps ``jsonlines``, ``jsonl``, ``jl`` and ``json``
to these (imgprint's default).
"""

from __future__ import annotations

from typing import Any

from scrapy.exporters import JsonItemExporter, JsonLinesItemExporter
from scrapy.utils.serialize import ScrapyJSONEncoder

SEPARATORS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\u0085": "\\u0085"}
_TABLE = str.maketrans(SEPARATORS)


class SeparatorSafeEncoder(ScrapyJSONEncoder):
    def encode(self, o: Any) -> str:
        # The separators can only occur inside JSON strings: escaping them
        # there keeps the document equal.
        return super().encode(o).translate(_TABLE)


class JsonLinesExporter(JsonLinesItemExporter):
    def __init__(self, file: Any, **kwargs: Any):
        super().__init__(file, **kwargs)
        self.encoder = SeparatorSafeEncoder(**self._kwargs)


class JsonExporter(JsonItemExporter):
    def __init__(self, file: Any, **kwargs: Any):
        super().__init__(file, **kwargs)
        self.encoder = SeparatorSafeEncoder(**self._kwargs)
