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

The JSON exporters take an ``ImageRecord``'s fields straight from the record
(``record_values``): the same keys, order and values as itemadapter's walk,
which asks every one of ~45 fields in turn through an adapter (a raised and
caught exception for each unset one) and cost ~2.5 % of a crawl's CPU.

Settings: ``FEED_EXPORTERS`` maps ``jsonlines``, ``jsonl``, ``jl`` and ``json``
to the JSON exporters here and ``csv`` to ``CsvExporter`` (imgprint's default).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from scrapy.exporters import (
    BaseItemExporter,
    CsvItemExporter,
    JsonItemExporter,
    JsonLinesItemExporter,
)
from scrapy.utils.serialize import ScrapyJSONEncoder

from imgprint.items import FIELD_NAMES, FIELDS, ImageRecord

SEPARATORS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\u0085": "\\u0085"}
_TABLE = str.maketrans(SEPARATORS)
#: First characters that make a spreadsheet read a cell as a formula (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class SeparatorSafeEncoder(ScrapyJSONEncoder):
    def encode(self, o: Any) -> str:
        # The separators can only occur inside JSON strings: escaping them
        # there keeps the document equal.
        text = super().encode(o)
        if "\u2028" in text or "\u2029" in text or "\x85" in text:
            return text.translate(_TABLE)
        return text


def record_values(record: ImageRecord, names: Iterable[str]) -> dict[str, Any]:
    """The set fields of ``record`` among ``names``, in that order: what
    itemadapter's walk exports (an unset field is no attribute, see
    ``imgprint.items``)."""
    values = record.__dict__
    return {name: values[name] for name in names if name in values}


def record_names(exporter: BaseItemExporter) -> tuple[str, ...] | None:
    """The fields an exporter writes of an ``ImageRecord``, when it takes them
    as they are (no empty fields, renames or serializers); else None."""
    wanted = exporter.fields_to_export
    if (exporter.export_empty_fields or isinstance(wanted, Mapping)
            or type(exporter).serialize_field is not BaseItemExporter.serialize_field):
        return None
    names = tuple(FIELDS if wanted is None else wanted)
    return names if set(names) <= FIELD_NAMES else None


class _RecordFields(BaseItemExporter):
    """``get_serialized_fields`` from the record itself when it can
    (``record_names``)."""

    _names: tuple[str, ...] | None = None

    def get_serialized_fields(self, item: Any, default_value: Any = None,
                              include_empty: bool | None = None) -> Iterable[tuple[str, Any]]:
        if self._names is None or include_empty or not isinstance(item, ImageRecord):
            return super().get_serialized_fields(item, default_value, include_empty)
        return record_values(item, self._names).items()


class JsonLinesExporter(_RecordFields, JsonLinesItemExporter):
    def __init__(self, file: Any, **kwargs: Any):
        super().__init__(file, **kwargs)
        self.encoder = SeparatorSafeEncoder(**self._kwargs)
        self._names = record_names(self)


class JsonExporter(_RecordFields, JsonItemExporter):
    def __init__(self, file: Any, **kwargs: Any):
        super().__init__(file, **kwargs)
        self.encoder = SeparatorSafeEncoder(**self._kwargs)
        self._names = record_names(self)


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
