"""IPTC-IIM datasets (and the Photoshop resources that carry them) to a dict.

Input: raw IIM (TIFF tag 33723, a PNG "Raw profile type iptc") or Photoshop
Image Resource Blocks (JPEG APP13 after ``Photoshop 3.0\\0``, TIFF tag 34377),
where IIM is resource 0x0404.

Shape: ExifTool's dataset names (``ObjectName``, ``By-line``,
``Caption-Abstract``…) to strings; the datasets ExifTool marks as lists
(``Keywords``, ``By-line``, ``SupplementalCategories``, ``Contact``…) are
always ``list[str]``, even with one item, so a reader need not guess. A
repeated non-list dataset keeps its first value. Unknown datasets of records 1
and 2 are named ``"1:NNN"``/``"2:NNN"``; other records (3+ are binary
newsphoto/object data) and binary datasets (previews, rasterised captions) are
skipped. Dates (``DateCreated`` ``CCYYMMDD``, ``TimeCreated`` ``HHMMSS±HHMM``)
are kept as written; ``iptc_date`` turns them into ISO 8601.

Text: UTF-8 when record 1 declares ``ESC % G`` (CodedCharacterSet, shown as
``"UTF8"`` like ExifTool); otherwise UTF-8 if the value is valid UTF-8, else
cp1252 (a superset of Latin-1 for text; see ``text.decode_text``).

Bounds: at most ``MAX_DATASETS`` (1,000) datasets and ``MAX_RESOURCES``
(1,000) Photoshop resources walked, ``MAX_IIM_BLOCKS`` (16) IPTC resources
read; a dataset whose extended length needs more than 4 bytes, or runs past the
data, ends the walk; values are decoded from at most ``4 * cap`` bytes, cut to
``cap`` characters; lists keep ``MAX_LIST`` (200) items.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from imgprint.metadata.text import decode_text
from imgprint.record_caps import cap_text

MAX_DATASETS = 1000
MAX_RESOURCES = 1000
#: IPTC resources (0x0404) read from one IRB list (files hold one).
MAX_IIM_BLOCKS = 16
MAX_LIST = 200
IPTC_RESOURCE = 0x0404
_UTF8 = b"\x1b%G"

_RECORD1 = {0: "EnvelopeRecordVersion", 5: "Destination", 20: "FileFormat", 22: "FileVersion",
            30: "ServiceIdentifier", 40: "EnvelopeNumber", 50: "ProductID",
            60: "EnvelopePriority", 70: "DateSent", 80: "TimeSent", 90: "CodedCharacterSet",
            100: "UniqueObjectName", 120: "ARMIdentifier", 122: "ARMVersion"}
_RECORD2 = {
    0: "ApplicationRecordVersion", 3: "ObjectTypeReference", 4: "ObjectAttributeReference",
    5: "ObjectName", 7: "EditStatus", 8: "EditorialUpdate", 10: "Urgency",
    12: "SubjectReference", 15: "Category", 20: "SupplementalCategories",
    22: "FixtureIdentifier", 25: "Keywords", 26: "ContentLocationCode",
    27: "ContentLocationName", 30: "ReleaseDate", 35: "ReleaseTime", 37: "ExpirationDate",
    38: "ExpirationTime", 40: "SpecialInstructions", 42: "ActionAdvised",
    45: "ReferenceService", 47: "ReferenceDate", 50: "ReferenceNumber", 55: "DateCreated",
    60: "TimeCreated", 62: "DigitalCreationDate", 63: "DigitalCreationTime",
    65: "OriginatingProgram", 70: "ProgramVersion", 75: "ObjectCycle", 80: "By-line",
    85: "By-lineTitle", 90: "City", 92: "Sub-location", 95: "Province-State",
    100: "Country-PrimaryLocationCode", 101: "Country-PrimaryLocationName",
    103: "OriginalTransmissionReference", 105: "Headline", 110: "Credit", 115: "Source",
    116: "CopyrightNotice", 118: "Contact", 120: "Caption-Abstract", 121: "LocalCaption",
    122: "Writer-Editor", 130: "ImageType", 131: "ImageOrientation",
    135: "LanguageIdentifier", 150: "AudioType", 151: "AudioSamplingRate",
    152: "AudioSamplingResolution", 153: "AudioDuration", 154: "AudioOutcue", 184: "JobID",
    185: "MasterDocumentID", 186: "ShortDocumentID", 187: "UniqueDocumentID", 188: "OwnerID",
    200: "ObjectPreviewFileFormat", 201: "ObjectPreviewFileVersion", 221: "Prefs",
    225: "ClassifyState", 228: "SimilarityIndex", 230: "DocumentNotes",
    231: "DocumentHistory", 232: "ExifCameraInfo"}
NAMES = {1: _RECORD1, 2: _RECORD2}
#: ExifTool's ``List => 1`` datasets.
LISTS = frozenset({"Destination", "ObjectAttributeReference", "SubjectReference",
                   "SupplementalCategories", "Keywords", "ContentLocationCode",
                   "ContentLocationName", "ReferenceService", "ReferenceDate",
                   "ReferenceNumber", "By-line", "By-lineTitle", "Contact", "Writer-Editor"})
#: Binary 2-byte integers.
_INTEGERS = frozenset({(1, 0), (1, 20), (1, 22), (1, 120), (1, 122), (2, 0), (2, 200),
                       (2, 201)})
#: Binary blobs (rasterised caption, preview data): not text.
_BINARY = frozenset({(2, 125), (2, 202)})


def datasets(data: bytes, limit: int) -> Iterator[tuple[int, int, bytes]]:
    """(record, dataset, value) for each IIM dataset; values cut to ``limit`` bytes."""
    pos = 0
    for _ in range(MAX_DATASETS):
        if pos + 5 > len(data) or data[pos] != 0x1C:
            return  # the end, padding, or not IIM: nothing more to trust
        record, number = data[pos + 1], data[pos + 2]
        size = int.from_bytes(data[pos + 3:pos + 5], "big")
        pos += 5
        if size & 0x8000:  # extended dataset: the low bits count the length's bytes
            width = size & 0x7FFF
            if not 1 <= width <= 4 or pos + width > len(data):
                return
            size = int.from_bytes(data[pos:pos + width], "big")
            pos += width
        if pos + size > len(data):
            return  # the data ends inside this value (cut or lying)
        yield record, number, data[pos:pos + min(size, limit)]
        pos += size


def _text(record: int, number: int, raw: bytes, utf8: bool, cap: int) -> str | None:
    if (record, number) in _BINARY:
        return None
    if (record, number) in _INTEGERS:
        return str(int.from_bytes(raw[:4], "big")) if raw else None
    if (record, number) == (1, 90):
        # ExifTool's rendering: "UTF8", else each escape sequence spelled out ("ESC - A").
        return "UTF8" if raw == _UTF8 else ", ".join(
            "ESC " + " ".join(seq.decode("latin-1")) for seq in raw.split(b"\x1b")[1:])
    text = raw.decode("utf-8", "replace") if utf8 else decode_text(raw, 4 * cap)
    return cap_text(text.rstrip("\0"), cap)


def parse_iim(data: bytes, cap: int = 2000, into: dict[str, Any] | None = None) -> dict[str, Any]:
    """IIM datasets by ExifTool name (see the module docstring); keys already in ``into`` win."""
    out: dict[str, Any] = {} if into is None else into
    fresh: dict[str, Any] = {}
    # Two walks rather than a list: values are only held one at a time.
    utf8 = any(r == 1 and n == 90 and v == _UTF8 for r, n, v in datasets(data, 8))
    for record, number, raw in datasets(data, 4 * cap + 1):
        if record not in NAMES:
            continue
        name = NAMES[record].get(number, f"{record}:{number:03d}")
        value = _text(record, number, raw, utf8, cap)
        if value is None:
            continue
        if name in LISTS:
            items = fresh.setdefault(name, [])
            if len(items) < MAX_LIST:
                items.append(value)
        else:
            fresh.setdefault(name, value)
    for key, value in fresh.items():
        out.setdefault(key, value)
    return out


def resources(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(id, data) of each Photoshop Image Resource Block; a size past the end is cut there."""
    pos = 0
    for _ in range(MAX_RESOURCES):
        if pos + 12 > len(data) or data[pos:pos + 4] not in (b"8BIM", b"PHUT", b"AgHg", b"DCSR"):
            return
        ident = int.from_bytes(data[pos + 4:pos + 6], "big")
        name_len = data[pos + 6]
        pos += 6 + ((1 + name_len + 1) & ~1)  # Pascal name, padded to even
        if pos + 4 > len(data):
            return
        size = int.from_bytes(data[pos:pos + 4], "big")
        pos += 4
        yield ident, data[pos:pos + size]
        pos += size + (size & 1)


def parse_irb(data: bytes, cap: int = 2000, into: dict[str, Any] | None = None) -> dict[str, Any]:
    """IPTC from every 0x0404 resource of Photoshop IRBs (the first block's values win)."""
    out: dict[str, Any] = {} if into is None else into
    found = 0
    for ident, body in resources(data):
        if ident == IPTC_RESOURCE and found < MAX_IIM_BLOCKS:
            found += 1
            parse_iim(body, cap, out)
    return out


_DATE = re.compile(r"(\d{4})[-:]?(\d\d)[-:]?(\d\d)")
_TIME = re.compile(r"(\d\d):?(\d\d):?(\d\d)(?:([+-])(\d\d):?(\d\d))?")


def iptc_date(iptc: dict[str, Any]) -> str | None:
    """``DateCreated`` (+ ``TimeCreated``) as ISO 8601, e.g. ``2001-02-03T04:05:06+01:00``.

    None without a valid date; a missing or invalid time gives the date alone
    (``2001-02-03``); a time without a zone has none (local time, unknown zone).
    """
    date = _DATE.fullmatch(str(iptc.get("DateCreated", "")).strip())
    if not date:
        return None
    year, month, day = (int(g) for g in date.groups())
    if not (year >= 1 and 1 <= month <= 12 and 1 <= day <= days_in_month(year, month)):
        return None
    iso = f"{year:04d}-{month:02d}-{day:02d}"
    time = _TIME.fullmatch(str(iptc.get("TimeCreated", "")).strip())
    if time:
        hh, mm, ss = (int(g) for g in time.groups()[:3])
        if hh < 24 and mm < 60 and ss < 61:
            iso += f"T{hh:02d}:{mm:02d}:{ss:02d}"
            sign, zh, zm = time.groups()[3:]
            if sign and int(zh) < 24 and int(zm) < 60:
                iso += f"{sign}{zh}:{zm}"
    return iso


def days_in_month(year: int, month: int) -> int:
    """Days in ``month`` of ``year`` (Gregorian)."""
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31
