"""Caps on every string that reaches a record, so no input makes a huge feed line.

Whatever a file, a header or a server says ends up in a record only through
``ImageRecord.set``, which passes each value through ``cap_field``:

* a string longer than ``MAX_CHARS`` (1,024; EXIF values ``MAX_EXIF_VALUE``,
  1,024, above the longest value of the seed-compatibility reference, 800;
  EXIF names ``MAX_EXIF_NAME``, 128) is cut and ends in ``TRUNCATED``
  ("…truncated");
* ``exif`` keeps at most ``MAX_EXIF_TAGS`` (300) tags and ``MAX_EXIF_CHARS``
  (32,768) characters of names and values together; past that, one
  ``"…truncated"`` key says how many tags were left out;
* lists and dicts elsewhere (``gps``, ``camera``, ``density``) keep at most
  ``MAX_ITEMS`` (64) entries, each capped the same way;
* the text metadata (``xmp``, ``iptc``, ``icc``, ``png_text``, ``comment``,
  ``user_comment``, ...) is cut to ``IMGPRINT_METADATA_MAX_CHARS`` per value by
  its decoders (``imgprint.metadata.blocks``); here, whatever that setting
  says, no value passes ``MAX_METADATA_VALUE`` (8,192) characters, a dict keeps
  at most ``MAX_METADATA_KEYS`` (300) keys and ``MAX_METADATA_CHARS`` (32,768)
  characters in all, a list ``MAX_ITEMS`` items;
* ``url`` and ``pages`` are left whole: they are what records are merged on,
  and Scrapy's ``URLLENGTH_LIMIT`` (2,083) already bounds the URLs the spider
  requests.

So a record of an image is at most about 250 KB of JSON plus its ``pages``
(``tests/test_record_bounds.py`` checks this over random and crafted input).
"""

from __future__ import annotations

from typing import Any

TRUNCATED = "…truncated"
MAX_CHARS = 1024
MAX_EXIF_VALUE = 1024
MAX_EXIF_NAME = 128
MAX_EXIF_TAGS = 300
MAX_EXIF_CHARS = 32 * 1024
MAX_ITEMS = 64
MAX_METADATA_VALUE = 8192
MAX_METADATA_KEYS = 300
MAX_METADATA_CHARS = 32 * 1024
#: Text metadata fields (see the module docstring).
METADATA_FIELDS = frozenset({"xmp", "iptc", "icc", "png_text", "png_time", "comment",
                             "user_comment"})
#: Fields left whole (see the module docstring).
UNCAPPED = frozenset({"url", "pages"})


def cap_text(text: str, limit: int = MAX_CHARS) -> str:
    """`text`, cut to `limit` characters plus the truncation marker when longer."""
    return text if len(text) <= limit else text[:limit] + TRUNCATED


def _cap_any(value: Any, limit: int = MAX_CHARS) -> Any:
    if isinstance(value, str):
        return cap_text(value, limit)
    if isinstance(value, dict):
        items = list(value.items())
        out = {cap_text(str(k), MAX_EXIF_NAME): _cap_any(v, limit) for k, v in items[:MAX_ITEMS]}
        if len(items) > MAX_ITEMS:
            out[TRUNCATED] = f"{len(items) - MAX_ITEMS} more"
        return out
    if isinstance(value, (list, tuple)):
        capped = [_cap_any(v, limit) for v in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            capped.append(TRUNCATED)
        return capped
    return value


def cap_exif(tags: dict[str, str]) -> dict[str, str]:
    """At most MAX_EXIF_TAGS tags and MAX_EXIF_CHARS characters, each value capped."""
    out: dict[str, str] = {}
    total = 0
    for key, value in tags.items():
        name = cap_text(str(key), MAX_EXIF_NAME)
        text = cap_text(str(value), MAX_EXIF_VALUE)
        if len(out) >= MAX_EXIF_TAGS or total + len(name) + len(text) > MAX_EXIF_CHARS:
            out[TRUNCATED] = f"{len(tags) - len(out)} more tags left out"
            break
        out[name] = text
        total += len(name) + len(text)
    return out


def cap_metadata(value: Any) -> Any:
    """A text metadata field: a string, or a dict of strings and lists of strings."""
    if not isinstance(value, dict):
        return _cap_any(value, MAX_METADATA_VALUE)
    out: dict[str, Any] = {}
    total = 0
    for key, item in value.items():
        name = cap_text(str(key), MAX_EXIF_NAME)
        capped = _cap_any(item, MAX_METADATA_VALUE)
        size = len(name) + len(str(capped))
        if len(out) >= MAX_METADATA_KEYS or total + size > MAX_METADATA_CHARS:
            out[TRUNCATED] = f"{len(value) - len(out)} more left out"
            break
        out[name] = capped
        total += size
    return out


def cap_field(name: str, value: Any) -> Any:
    """`value` as the record may hold it under field `name`."""
    if name in UNCAPPED:
        return value
    if name == "exif" and isinstance(value, dict):
        return cap_exif(value)
    if name in METADATA_FIELDS:
        return cap_metadata(value)
    return _cap_any(value)
