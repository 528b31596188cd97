"""What investigators look for first, from the EXIF tags as exifread renders them.

Pure functions over the ``exif`` dict of a record (string values, e.g.
``"[46, 3, 617/50]"`` for a GPS coordinate).
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

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


def taken_at(exif: dict[str, str]) -> str | None:
    """DateTimeOriginal in ISO 8601, with SubSecTimeOriginal and OffsetTimeOriginal."""
    raw = (exif.get("EXIF DateTimeOriginal") or exif.get("Image DateTime") or "").strip()
    m = re.fullmatch(r"(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})", raw)
    if not m or m.group(1) == "0000":
        return None
    text = "{}-{}-{}T{}:{}:{}".format(*m.groups())
    subsec = (exif.get("EXIF SubSecTimeOriginal") or "").strip()
    if subsec.isdigit():
        text += "." + subsec
    offset = (exif.get("EXIF OffsetTimeOriginal") or "").strip()
    if re.fullmatch(r"[+-]\d{2}:\d{2}|Z", offset):
        text += offset
    return text


def camera(exif: dict[str, str]) -> dict[str, str] | None:
    fields = {
        "make": exif.get("Image Make"),
        "model": exif.get("Image Model"),
        "serial": exif.get("EXIF BodySerialNumber") or exif.get("MakerNote SerialNumber"),
        "lens": exif.get("EXIF LensModel"),
    }
    out = {k: v.strip() for k, v in fields.items() if v and v.strip()}
    return out or None


def summary(exif: dict[str, str]) -> dict[str, Any]:
    """``gps``, ``taken_at``, ``camera``, ``software`` where the tags exist."""
    out = {"gps": gps(exif), "taken_at": taken_at(exif), "camera": camera(exif),
           "software": (exif.get("Image Software") or "").strip() or None}
    return {k: v for k, v in out.items() if v is not None}
