"""Record fields from the metadata blocks the format parsers located (issue 13).

``metadata_fields(blocks)`` takes ``(kind, bytes)`` pairs in file order —
kinds ``xmp``, ``xmp_extended``, ``photoshop``, ``iptc``, ``icc``,
``icc_jpeg``, ``icc_zlib``, ``png_text``, ``png_ztxt``, ``png_itxt``,
``png_time``, ``comment``, ``user_comment`` (unknown kinds are ignored) — and
returns only the fields found::

    {"xmp": {"dc:creator": ["Ann"], "xmp:CreatorTool": "GIMP 2.10"},
     "has_xmp": True,
     "iptc": {"Keywords": ["cat", "dog"], "City": "Oslo", "DateCreated": "20200102"},
     "icc": {"description": "sRGB IEC61966-2.1", "color_space": "RGB",
             "version": "2.1.0", "device_class": "mntr"},
     "png_text": {"Software": "GIMP"}, "png_time": "2020-01-02T03:04:05Z",
     "comment": "first\\nsecond", "user_comment": "Holiday"}

How blocks combine: XMP packets merge into one dict (first value of a key
wins), then the extended packet whose GUID the main one names
(``xmpNote:HasExtendedXMP``); ``has_xmp`` is True whenever XMP was given, even
unparseable. Photoshop payloads are concatenated in order (APP13 segments may
split a resource) and read as one IRB list; IPTC from them, from raw IIM and
from PNG raw profiles merges, first value of a key winning. ICC comes from the
first kind seen (``icc``, the ``icc_jpeg`` chunks together, or ``icc_zlib``).
``png_text`` keeps the first text of a repeated keyword and at most
``MAX_TEXTS`` (100) keywords; XMP (``XML:com.adobe.xmp``) and ImageMagick's
``Raw profile type …`` chunks are routed to their decoders or dropped, never
shown as text. Comments are joined with newlines and cut to ``cap``.

Bounds: at most ``MAX_BLOCKS`` (10,000) blocks are looked at; ``MAX_PARSES``
(16) XMP packets, IIM blocks and PNG raw profiles are decoded, each kind;
``MAX_PHOTOSHOP`` (4 MiB) of Photoshop resources are joined; comments are
decoded until ``cap`` characters are held; each decoder bounds its own work
(see their modules); a decoder that fails anyway (a bug) loses only its block,
never the record.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any, TypeVar

from imgprint.metadata import icc, iptc, text, xmp
from imgprint.metadata.iptc import iptc_date
from imgprint.record_caps import cap_text

__all__ = ["metadata_fields", "xmp_date", "iptc_date", "icc_needed"]

icc_needed = icc.icc_needed
log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BLOCKS = 10_000
#: XMP packets, raw IIM blocks and PNG raw profiles decoded per image, each
#: (files hold one, sometimes two; more is abuse).
MAX_PARSES = 16
MAX_TEXTS = 100
MAX_PHOTOSHOP = 4 * 1024 * 1024
#: Inflated bytes for a PNG raw profile (hex, two characters per byte).
MAX_RAW_PROFILE = 2 * 1024 * 1024
XMP_KEYWORD = "XML:com.adobe.xmp"
RAW_PROFILE = "Raw profile type "


def _safe(decode: Callable[..., T], *args: Any) -> T | None:
    try:
        return decode(*args)
    except Exception:  # a decoder bug must cost its block, not the record
        log.exception("metadata decoder %s failed", getattr(decode, "__name__", decode))
        return None


class _Collect:
    """Blocks sorted by what they feed, with the outputs being built."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.xmp: dict[str, Any] = {}
        self.iptc: dict[str, Any] = {}
        self.png_text: dict[str, str] = {}
        self.comments: list[str] = []
        self.extended: list[bytes] = []
        self.photoshop: list[bytes] = []
        self.photoshop_bytes = self.comment_chars = 0
        self.parsed = {"xmp": 0, "iptc": 0, "raw": 0}
        self.icc_kind: str | None = None
        self.icc_parts: list[bytes] = []
        self.fields: dict[str, Any] = {}

    def add(self, kind: str, data: bytes) -> None:
        if kind == "xmp":
            self.fields["has_xmp"] = True
            if self.allowed("xmp"):
                _safe(xmp.parse_xmp, data, self.cap, self.xmp)
        elif kind == "xmp_extended":
            self.fields["has_xmp"] = True
            self.extended.append(data)
        elif kind == "photoshop":
            if self.photoshop_bytes + len(data) <= MAX_PHOTOSHOP:
                self.photoshop.append(data)
                self.photoshop_bytes += len(data)
        elif kind == "iptc":
            if self.allowed("iptc"):
                _safe(iptc.parse_iim, data, self.cap, self.iptc)
        elif kind in ("icc", "icc_jpeg", "icc_zlib"):
            if self.icc_kind in (None, kind) and (kind == "icc_jpeg" or not self.icc_parts):
                self.icc_kind = kind
                self.icc_parts.append(data)
        elif kind in ("png_text", "png_ztxt", "png_itxt"):
            self.png_chunk(kind, data)
        elif kind == "png_time":
            when = _safe(text.png_time, data)
            if when:
                self.fields.setdefault("png_time", when)
        elif kind == "comment":
            # Comments past ``cap`` characters in all would be cut from the joined text anyway.
            if self.comment_chars <= self.cap:
                comment = _safe(text.comment_text, data, self.cap)
                if comment:
                    self.comments.append(comment)
                    self.comment_chars += len(comment) + 1
        elif kind == "user_comment":
            said = _safe(text.user_comment, data, self.cap)
            if said:
                self.fields.setdefault("user_comment", said)

    def allowed(self, what: str) -> bool:
        """Whether one more costly decode of ``what`` fits the per-image bound."""
        self.parsed[what] += 1
        return self.parsed[what] <= MAX_PARSES

    def png_chunk(self, kind: str, data: bytes) -> None:
        keyword = text.png_keyword(data)
        if keyword == XMP_KEYWORD:
            self.fields["has_xmp"] = True
            # Inflated only while packets may still be parsed: each costs up to 2 MiB.
            chunk = _safe(text.png_text_chunk, kind, data, xmp.MAX_PACKET + 1) \
                if self.parsed["xmp"] < MAX_PARSES else None
            if chunk:
                self.add("xmp", chunk.data)
        elif keyword is not None and keyword.startswith(RAW_PROFILE):
            chunk = _safe(text.png_text_chunk, kind, data, MAX_RAW_PROFILE) \
                if self.allowed("raw") else None
            if chunk:
                self.raw_profile(keyword[len(RAW_PROFILE):].strip().lower(), chunk.data)
        elif keyword is not None and keyword not in self.png_text \
                and len(self.png_text) < MAX_TEXTS:
            chunk = _safe(text.png_text_chunk, kind, data, 4 * self.cap + 1)
            if chunk:
                self.png_text[keyword] = text.png_text_value(chunk, self.cap)

    def raw_profile(self, name: str, dump: bytes) -> None:
        """ImageMagick's hex dumps: XMP, IPTC/8BIM and ICC are read; EXIF is read elsewhere."""
        if name not in ("xmp", "iptc", "8bim", "icc", "icm", "app1"):
            return
        data = _safe(text.raw_profile, dump, MAX_RAW_PROFILE // 2) or b""
        if name == "app1":  # APP1 is EXIF or XMP; only the latter is ours
            marker = b"http://ns.adobe.com/xap/1.0/\0"
            if data.startswith(marker):
                self.add("xmp", data[len(marker):])
        elif name == "xmp":
            self.add("xmp", data)
        elif name in ("icc", "icm"):
            self.add("icc", data)
        elif data.startswith(b"8BIM"):
            _safe(iptc.parse_irb, data, self.cap, self.iptc)
        elif self.allowed("iptc"):
            _safe(iptc.parse_iim, data, self.cap, self.iptc)

    def finish(self) -> dict[str, Any]:
        if self.extended:
            guid = self.xmp.get("xmpNote:HasExtendedXMP")
            packet = _safe(xmp.extended_packet, self.extended,
                           guid if isinstance(guid, str) else None)
            if packet:
                _safe(xmp.parse_xmp, packet, self.cap, self.xmp)
        if self.photoshop:
            _safe(iptc.parse_irb, b"".join(self.photoshop), self.cap, self.iptc)
        profile = self.icc_profile()
        found = _safe(icc.parse_icc, profile, self.cap) if profile else None
        joined = "\n".join(self.comments)
        for key, value in (("xmp", self.xmp), ("iptc", self.iptc), ("icc", found),
                           ("png_text", self.png_text),
                           ("comment", cap_text(joined, self.cap) if joined else None)):
            if value:
                self.fields[key] = value
        return self.fields

    def icc_profile(self) -> bytes | None:
        if self.icc_kind == "icc_jpeg":
            return _safe(icc.join_jpeg_chunks, self.icc_parts)
        if self.icc_kind == "icc_zlib":
            return _safe(icc.iccp_profile, self.icc_parts[0])
        return self.icc_parts[0] if self.icc_parts else None


def metadata_fields(blocks: Iterable[tuple[str, bytes]], cap: int = 2000) -> dict[str, Any]:
    """The record fields the blocks hold (see the module docstring); absent fields left out."""
    collect = _Collect(cap)
    for kind, data in islice(blocks, MAX_BLOCKS):
        collect.add(kind, bytes(data))
    return collect.finish()


_XMP_DATE = re.compile(r"(\d{4})(?:-(\d\d)(?:-(\d\d)(?:T(\d\d):(\d\d)(?::(\d\d)(\.\d+)?)?"
                       r"(Z|[+-]\d\d:\d\d)?)?)?)?")
#: Capture-time properties, best first.
XMP_DATE_KEYS = ("photoshop:DateCreated", "exif:DateTimeOriginal")


def xmp_date(xmp_fields: dict[str, Any]) -> tuple[str, str] | None:
    """(ISO 8601 capture time, property) from XMP, e.g. ``("2013-05-04T12:01:02+02:00",
    "photoshop:DateCreated")``; None without a valid one.

    ``photoshop:DateCreated`` first, then ``exif:DateTimeOriginal``. The value
    is the packet's, checked and normalised: EXIF-style ``2013:05:04 12:01:02``
    becomes ``2013-05-04T12:01:02``; a date alone (``2013-05-04``, ``2013``)
    stays as short as written; impossible dates are skipped.
    """
    for key in XMP_DATE_KEYS:
        value = xmp_fields.get(key)
        if not isinstance(value, str):
            continue
        value = value.strip()
        if re.fullmatch(r"\d{4}:\d\d:\d\d[ T]\d\d:\d\d(:\d\d)?.*", value):
            value = value[:4] + "-" + value[5:7] + "-" + value[8:10] + "T" + value[11:]
        match = _XMP_DATE.fullmatch(value)
        if match and _valid(match.groups()):
            return value, key
    return None


def _valid(groups: tuple[str | None, ...]) -> bool:
    year, month, day, hour, minute, second = (int(g) if g else None for g in groups[:6])
    if not year or (month is not None and not 1 <= month <= 12):
        return False
    if day is not None and month is not None:
        if not 1 <= day <= iptc.days_in_month(year, month):
            return False
    return (hour or 0) < 24 and (minute or 0) < 60 and (second or 0) < 61
