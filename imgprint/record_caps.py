"""Caps on every value that reaches a record, so no input makes a huge feed line.

Whatever a file, a header or a server says ends up in a record only through
``ImageRecord.set``, which passes each value through ``cap_field``. Caps count
the bytes a value takes in a JSON feed (``json_size``: UTF-8, with the escapes
JSON and ``imgprint.exporters`` write: 6 bytes for a control character, U+2028,
U+2029 or U+0085, 2 for a quote or backslash), not characters: counted in
characters, a 2,214-byte PNG whose texts were all ``\\x01`` and U+2028 made a
553,180-byte line (issue 23, finding 2).

* a string over ``MAX_VALUE_BYTES`` (1,024; EXIF values ``MAX_EXIF_VALUE``,
  1,024, above the longest value of the seed-compatibility reference, 800;
  names of EXIF tags and of object keys ``MAX_NAME``, 128) is cut to fit and
  ends in ``TRUNCATED`` ("…truncated");
* ``exif`` keeps at most ``MAX_EXIF_TAGS`` (300) tags and ``MAX_EXIF_BYTES``
  (32 KiB) of JSON; past that, one ``"…truncated"`` key says how many tags were
  left out;
* the text metadata (``METADATA_FIELDS``) is cut to
  ``IMGPRINT_METADATA_MAX_CHARS`` characters per value by its decoders
  (``imgprint.metadata.blocks``); here, whatever that setting says, no value
  passes ``MAX_METADATA_VALUE`` (8,192) bytes, an object keeps at most
  ``MAX_METADATA_KEYS`` (300) keys and ``MAX_METADATA_BYTES`` (32 KiB), a list
  ``MAX_ITEMS`` (64) items;
* any other object or list (``gps``, ``camera``, ``density``) keeps at most
  ``MAX_ITEMS`` entries and ``MAX_FIELD_BYTES`` (4 KiB);
* ``url`` and ``pages`` are left whole: they are what records are merged on.
  Discovery drops references longer than ``URLLENGTH_LIMIT`` (2,083), and a
  record lists at most ``IMGPRINT_MAX_PAGES_PER_RECORD`` pages and
  ``MAX_PAGES_BYTES`` (128 KiB) of them; the rest go to ``seen_before``
  sightings (``imgprint.items.split_pages``).

So a record's JSON line, its ``url`` and ``pages`` aside, is at most
``MAX_RECORD_BYTES`` (256 KiB); ``tests/test_feed_bounds.py`` fills every field
to its cap with the costliest characters (232,562 bytes) and crafts files that
do the same through the parsers.
"""

from __future__ import annotations

import json
from typing import Any

TRUNCATED = "…truncated"
MAX_VALUE_BYTES = 1024
MAX_EXIF_VALUE = 1024
MAX_NAME = 128
MAX_EXIF_TAGS = 300
MAX_EXIF_BYTES = 32 * 1024
MAX_ITEMS = 64
MAX_FIELD_BYTES = 4 * 1024
MAX_METADATA_VALUE = 8192
MAX_METADATA_KEYS = 300
MAX_METADATA_BYTES = 32 * 1024
#: A record's JSON line without ``url`` and ``pages`` (see the module docstring).
MAX_RECORD_BYTES = 256 * 1024
#: A record's ``pages`` (``imgprint.items.split_pages``).
MAX_PAGES_BYTES = 128 * 1024
#: Text metadata fields (see the module docstring).
METADATA_FIELDS = frozenset({"xmp", "iptc", "icc", "png_text", "png_time", "comment",
                             "user_comment"})
#: Fields left whole (see the module docstring).
UNCAPPED = frozenset({"url", "pages"})
# The widest a character gets in a feed: "\u0001" for one control character.
_WIDEST = 6
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)


def json_size(value: Any) -> int:
    """Bytes ``value`` takes in a UTF-8 JSON feed (a string with its quotes), with
    U+2028, U+2029 and U+0085 escaped as ``imgprint.exporters`` writes them."""
    text = _ENCODER.encode(value)
    extra = 3 * (text.count("\u2028") + text.count("\u2029")) + 4 * text.count("\u0085")
    return len(text.encode("utf-8", "surrogatepass")) + extra


def cap_text(text: str, limit: int = MAX_VALUE_BYTES) -> str:
    """`text`, cut to `limit` characters plus the truncation marker when longer
    (the metadata decoders' cap, ``IMGPRINT_METADATA_MAX_CHARS``)."""
    return text if len(text) <= limit else text[:limit] + TRUNCATED


def cap_bytes(text: str, limit: int = MAX_VALUE_BYTES) -> str:
    """`text`, cut to at most `limit` bytes of JSON (quotes aside) plus the
    truncation marker when longer."""
    if len(text) * _WIDEST <= limit:
        return text
    if len(text) <= limit:
        # Printable ASCII takes 1 byte a character, 2 for a quote or backslash.
        if text.isascii() and text.isprintable():
            if len(text) + text.count('"') + text.count("\\") <= limit:
                return text
        elif json_size(text) - 2 <= limit:
            return text
    lo, hi = 0, min(len(text), limit)  # a character takes at least one byte
    while lo < hi:  # the longest prefix that fits
        mid = (lo + hi + 1) // 2
        if json_size(text[:mid]) - 2 <= limit:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + TRUNCATED


def _cap_any(value: Any, limit: int, budget: int) -> Any:
    if isinstance(value, str):
        return cap_bytes(value, limit)
    if isinstance(value, dict):
        return _cap_dict(value, limit, budget, MAX_ITEMS)
    if isinstance(value, (list, tuple)):
        return _cap_list(value, limit, budget)
    return value


def _cap_dict(value: dict[Any, Any], limit: int, budget: int, keys: int,
              what: str = "") -> dict[str, Any]:
    """At most `keys` entries and `budget` bytes of JSON (plus the marker entry
    saying how many were left out), each value capped at `limit` bytes."""
    if len(value) <= keys:  # the usual case: one measurement of the whole
        whole = {cap_bytes(str(k), MAX_NAME): _cap_any(v, limit, budget)
                 for k, v in value.items()}
        if len(whole) == len(value) and json_size(whole) <= budget:
            return whole
    out: dict[str, Any] = {}
    used = 2  # {}
    for key, item in value.items():
        name = cap_bytes(str(key), MAX_NAME)
        capped = _cap_any(item, limit, budget - used)
        size = json_size(name) + json_size(capped) + 4  # ": " and ", "
        if len(out) >= keys or used + size > budget:
            out[TRUNCATED] = f"{len(value) - len(out)} more {what}left out"
            break
        out[name] = capped
        used += size
    return out


def _cap_list(value: list[Any] | tuple[Any, ...], limit: int, budget: int) -> list[Any]:
    out: list[Any] = []
    used = 2  # []
    for item in value:
        capped = _cap_any(item, limit, budget - used)
        size = json_size(capped) + 2  # ", "
        if len(out) >= MAX_ITEMS or used + size > budget:
            out.append(TRUNCATED)
            break
        out.append(capped)
        used += size
    return out


def cap_exif(tags: dict[str, str]) -> dict[str, str]:
    """At most MAX_EXIF_TAGS tags and MAX_EXIF_BYTES, each value capped."""
    return _cap_dict(tags, MAX_EXIF_VALUE, MAX_EXIF_BYTES, MAX_EXIF_TAGS, "tags ")


def cap_metadata(value: Any) -> Any:
    """A text metadata field: a string, or an object of strings and lists of strings."""
    if isinstance(value, dict):
        return _cap_dict(value, MAX_METADATA_VALUE, MAX_METADATA_BYTES, MAX_METADATA_KEYS)
    return _cap_any(value, MAX_METADATA_VALUE, MAX_METADATA_BYTES)


def cap_field(name: str, value: Any) -> Any:
    """`value` as the record may hold it under field `name`."""
    if name in UNCAPPED:
        return value
    if name == "exif" and isinstance(value, dict):
        return cap_exif(value)
    if name in METADATA_FIELDS:
        return cap_metadata(value)
    return _cap_any(value, MAX_VALUE_BYTES, MAX_FIELD_BYTES)
