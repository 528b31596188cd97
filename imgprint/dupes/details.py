"""Details of the copies in a group: their pages and what their metadata says.

The catalogue keeps only what grouping needs (no pages, no metadata), so that
a million records fit in memory. Once the groups are known, :func:`collect`
reads the files again and keeps, for the URLs in a group only, the first
``PAGES_KEPT`` pages (sorted) and a one-line summary of each metadata field
(:func:`summarise`): is there EXIF, GPS, a camera, its serial number, an
author, XMP, IPTC, and what they say (GPS, camera and serial from the record's
own fields, else from its XMP, where some cameras and editors put them).
:func:`metadata_diff` compares the copies of one group: which carry which
field, where they differ, and which still carry what identifies a person or a
camera (GPS, serial, author).

Records are hostile: every value is type-checked and clipped to
``VALUE_CHARS``; a field of the wrong shape counts as absent.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imgprint.dupes.reading import InputError, expand_paths, iter_file

# The fields of the summary, in the order reports show them.
FIELDS = ("exif", "gps", "camera", "serial", "author", "xmp", "iptc")
LABELS = {"exif": "EXIF", "gps": "GPS", "camera": "camera", "serial": "serial",
          "author": "author", "xmp": "XMP", "iptc": "IPTC"}
# What points at a place, a camera or a person: a copy still carrying one is flagged.
IDENTIFYING = ("gps", "serial", "author")
# Where a record names its author or copyright holder: (field, key, label).
AUTHOR_KEYS = (
    ("exif", "Image Artist", "Artist"), ("exif", "Image Copyright", "Copyright"),
    ("exif", "EXIF CameraOwnerName", "Owner"), ("exif", "MakerNote OwnerName", "Owner"),
    ("xmp", "dc:creator", "Creator"), ("xmp", "dc:rights", "Rights"),
    ("iptc", "By-line", "By-line"), ("iptc", "CopyrightNotice", "Copyright notice"),
    ("png_text", "Author", "Author"), ("png_text", "Copyright", "Copyright"),
)
PAGES_KEPT = 20
# Distinct pages counted per copy (the count stops there).
PAGES_COUNTED = 100_000
VALUE_CHARS = 200


def _clip(text: str, limit: int = VALUE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _digest(value: Any) -> str:
    """A short id of a block's content: copies with the same id carry the same block."""
    try:
        text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    except (ValueError, TypeError, RecursionError):
        return "?"
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=3).hexdigest()


def _count(value: Any, what: tuple[str, str]) -> str | None:
    """"12 tags #a1b2c3": how many entries, and an id of their content."""
    if not isinstance(value, dict) or not value:
        return None
    return f"{len(value):,} {what[len(value) > 1]} #{_digest(value)}"


# XMP's GPSCoordinate: "DDD,MM,SSk" or "DDD,MM.mmk" (XMP spec, part 2, 1.2.7.4).
_XMP_COORD = re.compile(r"(\d{1,3}),(\d{1,2}(?:\.\d+)?)(?:,(\d{1,2}(?:\.\d+)?))?([NSEW])\Z")


def _number(value: Any) -> float | None:
    return float(value) if type(value) in (int, float) and math.isfinite(value) else None


def _xmp_coord(value: Any) -> float | None:
    m = _XMP_COORD.match(value.strip()) if isinstance(value, str) else None
    if m is None:
        return None
    deg = int(m[1]) + float(m[2]) / 60 + float(m[3] or 0) / 3600
    return -deg if m[4] in "SW" else deg


Blocks = dict[str, dict[str, Any]]
# The record's fields a summary reads (each an object; another type counts as absent).
BLOCKS = ("exif", "gps", "camera", "xmp", "iptc", "png_text")


def _gps(blocks: Blocks) -> str | None:
    """The record's ``gps`` (from EXIF), else the position in its XMP."""
    gps = blocks["gps"]
    lat, lon, alt = (_number(gps.get(k)) for k in ("lat", "lon", "alt"))
    source = ""
    if lat is None or lon is None:
        xmp = blocks["xmp"]
        lat, lon = _xmp_coord(xmp.get("exif:GPSLatitude")), _xmp_coord(xmp.get("exif:GPSLongitude"))
        source = " (XMP)"
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    return f"{lat:.6f}, {lon:.6f}" + (f", {alt:.0f} m" if alt is not None else "") + source


def _strings(value: Any) -> list[str]:
    """A string or the strings of a list, stripped and non-empty."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [s.strip() for s in items[:16] if isinstance(s, str) and s.strip()]


def _author(blocks: Blocks) -> str | None:
    """Every author and copyright value, each once with where it was found."""
    found: dict[str, list[str]] = {}
    for block, key, label in AUTHOR_KEYS:
        for text in _strings(blocks[block].get(key)):
            labels = found.setdefault(_clip(text, 80), [])
            if label not in labels:
                labels.append(label)
    if not found:
        return None
    return _clip("; ".join(f"{text} ({', '.join(labels)})" for text, labels in found.items()))


# Where else a camera is named: (block, key) in the order tried.
MAKE_KEYS = (("camera", "make"), ("xmp", "tiff:Make"))
MODEL_KEYS = (("camera", "model"), ("xmp", "tiff:Model"))
SERIAL_KEYS = (("camera", "serial"), ("xmp", "aux:SerialNumber"),
               ("xmp", "exifEX:BodySerialNumber"))


def _first(blocks: Blocks, keys: tuple[tuple[str, str], ...]) -> str | None:
    for block, key in keys:
        if found := _strings(blocks[block].get(key)):
            return _clip(found[0])
    return None


def _camera(blocks: Blocks) -> str | None:
    make, model = _first(blocks, MAKE_KEYS), _first(blocks, MODEL_KEYS)
    if make and model:
        return model if model.lower().startswith(make.lower()) else f"{make} {model}"
    return make or model


def summarise(rec: dict[str, Any]) -> dict[str, str]:
    """The metadata fields a record carries, each as one short line of text."""
    blocks = {name: v if type(v := rec.get(name)) is dict else {} for name in BLOCKS}
    if not any(blocks.values()):
        return {"xmp": "present, not read"} if rec.get("has_xmp") is True else {}
    values = {
        "exif": _count(blocks["exif"], ("tag", "tags")),
        "gps": _gps(blocks),
        "camera": _camera(blocks),
        "serial": _first(blocks, SERIAL_KEYS),
        "author": _author(blocks),
        "xmp": _count(blocks["xmp"], ("property", "properties")),
        "iptc": _count(blocks["iptc"], ("dataset", "datasets")),
    }
    if values["xmp"] is None and rec.get("has_xmp") is True:
        values["xmp"] = "present, not read"
    return {k: v for k, v in values.items() if v is not None}


def identifying(metadata: dict[str, str]) -> list[str]:
    """The fields of a copy's summary that identify a place, camera or person."""
    return [f for f in IDENTIFYING if f in metadata]


@dataclass(slots=True)
class Copy:
    """What the report shows of one image URL beyond its hashes."""

    # The PAGES_KEPT first pages in sorted order: the same whatever order the
    # feeds were read in (a crawl split over workers, or not).
    pages: list[str] = field(default_factory=list)
    # Hashes of the distinct pages (counted up to PAGES_COUNTED), made only
    # once there are more than PAGES_KEPT: most copies have one or two pages.
    seen: set[int] | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    def add_pages(self, pages: Any) -> None:
        if not isinstance(pages, list):
            return
        kept = self.pages
        for page in pages:
            if type(page) is not str:
                continue
            if self.seen is None:
                if page in kept:
                    continue
                if len(kept) < PAGES_KEPT:
                    bisect.insort(kept, page)
                    continue
                # Every distinct page so far is in ``kept``: from here on, count by hash.
                self.seen = set(map(hash, kept))
            key = hash(page)
            if key in self.seen or len(self.seen) >= PAGES_COUNTED:
                continue
            self.seen.add(key)
            if page < kept[-1]:
                bisect.insort(kept, page)
                kept.pop()

    def as_dict(self) -> dict[str, Any]:
        total = len(self.pages) if self.seen is None else len(self.seen)
        return {"pages": self.pages, "pages_total": total,
                "metadata": self.metadata, "identifying": identifying(self.metadata)}


def collect(paths: Iterable[str | Path], urls: Collection[str]) -> dict[str, Copy]:
    """Pages and metadata of ``urls``, read again from the files the catalogue came from.

    As in the catalogue, pages add up over every record of a URL and the latest
    record that is not ``seen_before`` gives the metadata. Input errors were
    reported by the first reading and are not repeated.
    """
    copies: dict[str, Copy] = {}
    # Most copies share a summary (stripped copies share the empty one): keep one of each.
    shared: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}

    def ignore(_: InputError) -> None:
        pass

    for path in expand_paths(paths):
        if not path.is_file():
            continue
        for _, rec in iter_file(path, ignore, only=urls):
            url = rec.get("url")
            if type(url) is not str or url not in urls:
                continue
            copy = copies.get(url)
            if copy is None:
                copy = copies[url] = Copy()
            copy.add_pages(rec.get("pages"))
            if rec.get("seen_before") is not True:
                summary = summarise(rec)
                copy.metadata = shared.setdefault(tuple(summary.items()), summary)
    return copies


def metadata_diff(metadata: list[dict[str, str]]) -> dict[str, Any]:
    """How the copies of one group differ: per field the copies carrying it and
    its distinct values, the fields not the same on every copy, and how many
    copies still carry identifying metadata."""
    fields: dict[str, dict[str, int]] = {}
    for name in FIELDS:
        values = [m[name] for m in metadata if name in m]
        if values:
            fields[name] = {"copies": len(values), "values": len(set(values))}
    return {
        "copies": len(metadata),
        "fields": fields,
        "differs": [k for k, v in fields.items()
                    if v["copies"] < len(metadata) or v["values"] > 1],
        "identifying_copies": sum(1 for m in metadata if identifying(m)),
    }
