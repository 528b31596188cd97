"""What investigators look for first, from the EXIF tags as exifread renders them.

Pure functions over the ``exif`` dict of a record (string values, e.g.
``"[46, 3, 617/50]"`` for a GPS coordinate), and for the capture time also the
record's ``xmp`` and ``iptc`` (``imgprint.metadata.blocks``).
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from imgprint.metadata.blocks import iptc_date, xmp_date

_NUMBER = re.compile(r"-?\d+(?:/-?\d+)?(?:\.\d+)?")


def _numbers(value: str | None) -> list[float]:
    out = []
    for token in _NUMBER.findall(value or ""):
        try:
            out.append(float(Fraction(token)))
        except (ValueError, ZeroDivisionError):
            return []
    return out


def _dms(value: str | None, ref: str | None, negative: str) -> float | None:
    parts = _numbers(value)
    if not parts or len(parts) > 3:
        return None
    degrees = sum(p / 60**i for i, p in enumerate(parts))
    if (ref or "").strip().upper().startswith(negative):
        degrees = -degrees
    return round(degrees, 7)


def gps(exif: dict[str, str]) -> dict[str, float] | None:
    """Decimal ``lat``/``lon``/``alt``, signs from the Ref tags; None without GPS."""
    lat = _dms(exif.get("GPS GPSLatitude"), exif.get("GPS GPSLatitudeRef"), "S")
    lon = _dms(exif.get("GPS GPSLongitude"), exif.get("GPS GPSLongitudeRef"), "W")
    out: dict[str, float] = {}
    if lat is not None and lon is not None and abs(lat) <= 90 and abs(lon) <= 180:
        out["lat"], out["lon"] = lat, lon
    alt = _numbers(exif.get("GPS GPSAltitude"))
    if len(alt) == 1:
        below = exif.get("GPS GPSAltitudeRef", "").strip().lower() in ("1", "below sea level")
        out["alt"] = round(-alt[0] if below else alt[0], 3)
    return out or None


_EXIF_DATE = re.compile(r"(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")


def exif_date(exif: dict[str, str], tag: str, subsec: str, offset: str) -> str | None:
    """An EXIF date tag in ISO 8601, with its sub-second and offset tags."""
    m = _EXIF_DATE.fullmatch((exif.get(tag) or "").strip())
    if not m or m.group(1) == "0000":
        return None
    text = "{}-{}-{}T{}:{}:{}".format(*m.groups())
    frac = (exif.get(subsec) or "").strip()
    if frac.isdigit():
        text += "." + frac
    zone = (exif.get(offset) or "").strip()
    if re.fullmatch(r"[+-]\d{2}:\d{2}|Z", zone):
        text += zone
    return text


def taken_at(exif: dict[str, str]) -> str | None:
    """DateTimeOriginal in ISO 8601, with SubSecTimeOriginal and OffsetTimeOriginal.

    Capture time only: IFD0 DateTime is when the file was last changed
    (``modified_at``), never passed off as the capture time."""
    return exif_date(exif, "EXIF DateTimeOriginal", "EXIF SubSecTimeOriginal",
                     "EXIF OffsetTimeOriginal")


def modified_at(exif: dict[str, str]) -> str | None:
    """IFD0 DateTime (the file's last change) in ISO 8601, with SubSecTime and OffsetTime."""
    return exif_date(exif, "Image DateTime", "EXIF SubSecTime", "EXIF OffsetTime")


def camera(exif: dict[str, str], vendor: dict[str, str] | None = None) -> dict[str, str] | None:
    """Make, model, serial and lens from EXIF; make and model from a vendor
    container (Canon CIFF, FLIR) where EXIF has none or a blank one."""
    vendor = vendor or {}
    fields = {
        "make": _text(exif.get("Image Make")) or vendor.get("make"),
        "model": _text(exif.get("Image Model")) or vendor.get("model"),
        "serial": exif.get("EXIF BodySerialNumber") or exif.get("MakerNote SerialNumber"),
        "lens": exif.get("EXIF LensModel"),
    }
    out = {k: v.strip() for k, v in fields.items() if v and v.strip()}
    return out or None


def capture_time(exif: dict[str, str], xmp: dict[str, Any] | None = None,
                 iptc: dict[str, Any] | None = None,
                 vendor: dict[str, str] | None = None) -> tuple[str, str] | None:
    """The capture time and where it came from, first found of: EXIF
    DateTimeOriginal ("exif"), XMP photoshop:DateCreated or exif:DateTimeOriginal
    ("xmp:<property>"), IPTC DateCreated + TimeCreated ("iptc"), a vendor
    container's ("ciff", "reconyx", "flir": ``imgprint.formats.jpeg_vendor``,
    ranked last as ExifTool ranks them)."""
    found = taken_at(exif)
    if found:
        return found, "exif"
    if xmp:
        in_xmp = xmp_date(xmp)
        if in_xmp:
            return in_xmp[0], f"xmp:{in_xmp[1]}"
    if iptc:
        in_iptc = iptc_date(iptc)
        if in_iptc:
            return in_iptc, "iptc"
    if vendor and vendor.get("taken_at") and vendor.get("taken_at_source"):
        return vendor["taken_at"], vendor["taken_at_source"]
    return None


def _text(value: str | None) -> str | None:
    return (value or "").strip() or None


def summary(exif: dict[str, str], xmp: dict[str, Any] | None = None,
            iptc: dict[str, Any] | None = None,
            vendor: dict[str, str] | None = None) -> dict[str, Any]:
    """``gps``, ``taken_at`` (+ ``taken_at_source``), ``modified_at``, ``camera``,
    ``software`` where the tags exist."""
    taken = capture_time(exif, xmp, iptc, vendor)
    out = {"gps": gps(exif), "camera": camera(exif, vendor),
           "taken_at": taken[0] if taken else None,
           "taken_at_source": taken[1] if taken else None,
           "modified_at": modified_at(exif),
           "software": (exif.get("Image Software") or "").strip() or None}
    return {k: v for k, v in out.items() if v is not None}
