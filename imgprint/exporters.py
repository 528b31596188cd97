"""Feed exporters whose lines stay lines for every reader, and whose CSV cells
stay data.

JSON: ``ensure_ascii`` is off (``FEED_EXPORT_ENCODING = "utf-8"``), so a string
from a hostile file or page could carry U+2028/U+2029 (line and paragraph
separators) or U+0085 (next line) raw into a feed: valid JSON, but
``str.splitlines()`` and JavaScript readers split the record there (13
records read as 19 lines). These exporters write them as ``\\u2028``,
``\\u2029`` and ``\\u0085`` escapes, which decode to the same strings. The
other characters ``splitlines`` breaks on are control characters, which JSON
escapes anyway. Each escape is 6 bytes for one character: the record's caps
count those bytes (``imgprint.record_caps.json_size``), so a line stays within
``record_caps.MAX_RECORD_BYTES`` whatever the characters.

CSV: a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is a formula to a spreadsheet (``=HYPERLINK(...)`` in a JPEG comment
becomes a live link, or worse). ``CsvExporter`` writes such a text cell with a
single quote in front (OWASP's "CSV injection" rule): spreadsheets show it as
text, and a reader of the raw CSV strips the one leading ``'`` to get the value
back. Numbers and booleans are never changed. JSON feeds are not affected.

Settings: ``FEED_EXPORTERS`` maps ``jsonlines``, ``jsonl``, ``jl`` and ``json``
to the JSON exporters here and ``csv`` to ``CsvExporter`` (imgprint's default).
"""

from __future__ import annotations

from typing import Any

from scrapy.exporters import CsvItemExporter, JsonItemExporter, JsonLinesItemExporter
from scrapy.utils.serialize import ScrapyJSONEncoder

SEPARATORS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\u0085": "\\u0085"}
_TABLE = str.maketrans(SEPARATORS)
#: First characters that make a spreadsheet read a cell as a formula (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


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


def neutralise_formula(value: Any) -> Any:
    """A CSV cell's value as text a spreadsheet will not evaluate: a string that
    starts like a formula gets a leading ``'``; anything else is returned as is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class CsvExporter(CsvItemExporter):
    def serialize_field(self, field: Any, name: str, value: Any) -> Any:
        # After Scrapy's own serialisation (lists joined with ","), so a joined
        # list is checked as the one cell it becomes.
        return neutralise_formula(super().serialize_field(field, name, value))
