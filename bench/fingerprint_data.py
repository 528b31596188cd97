"""The measurements behind bench/fingerprint_eval.py: corpus photos, copies
made with Pillow, and for every file each source the crawler could decode.

``photos``: the distinct corpus photos (JPEG, PNG, WebP decodable by Pillow, at
least ``min_side`` px a side and ``min_bytes`` bytes; one per picture).
``copies``: ``q85`` and ``q70`` (baseline JPEG, metadata dropped), ``half`` and
``quarter`` (Lanczos, JPEG q80), ``progressive`` (JPEG q75), ``webp`` (q80),
``png_jpeg`` (a JPEG original as PNG, any other as JPEG q85).

``measure`` takes one file: the full-download reference (the whole file decoded
with no pixel cap: pHash, PDQ, the band's pHash and PDQ), what the crawler
holds without the band (``imgprint.fetch.replay`` with the shipped budget, the
band and the progressive scan off: prefix, metadata and content-hash
follow-ups, EXIF thumbnail), and each source with the production code
(``imgprint.fingerprint``): the whole file when under the prefix, the EXIF
thumbnail, the progressive first scan (whatever its size: a strategy caps it),
and the top band at every fraction f, for which it finds the fewest coded bytes
that decode it (bisection).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field, replace

from PIL import Image

from bench.harness import CORPUS
from imgprint import formats
from imgprint.fetch.replay import PREFIX, replay, shipped_budget
from imgprint.fingerprint import decode, sources
from imgprint.fingerprint.limits import MAX_THUMBNAIL_BYTES, Limits
from imgprint.fingerprint.pdq import pdq_hash
from imgprint.fingerprint.phash import PhashError, band_of, phash_image
from imgprint.formats import Spans, jpeg_coded
from imgprint.formats.picture import band_data, band_span

KINDS = ["q85", "q70", "half", "quarter", "progressive", "webp", "png_jpeg"]
Range = tuple[int, int]
#: Largest first scan measured (a strategy's cap is at most this).
MAX_SCAN = 1 << 20


def whole(data: bytes) -> Spans:
    spans = Spans(len(data))
    spans.add(0, data)
    return spans


def photos(min_side: int, min_bytes: int, limit: int | None) -> list[tuple[str, bytes]]:
    """Distinct decodable corpus photos (by decoded pixels)."""
    out: list[tuple[str, bytes]] = []
    seen: set[bytes] = set()
    for path in sorted(CORPUS.rglob("*")):
        if (not path.is_file() or "fuzzing" in path.parts or "metadata" in path.parts
                or path.suffix.lower() not in (".jpg", ".jpeg", ".png", ".webp")):
            continue
        data = path.read_bytes()
        if len(data) < min_bytes:
            continue
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                if min(im.size) < min_side or im.format not in ("JPEG", "PNG", "WEBP"):
                    continue
                key = hashlib.sha256(im.convert("RGB").resize((64, 64)).tobytes()).digest()
        except Exception:  # noqa: BLE001 - a file Pillow cannot decode is no photo
            continue
        if key not in seen:
            seen.add(key)
            out.append((str(path.relative_to(CORPUS)), data))
    return out[:limit] if limit else out


def copies(data: bytes) -> dict[str, bytes]:
    """The copies of one original, made with Pillow."""
    with Image.open(io.BytesIO(data)) as im:
        fmt = im.format
        rgb = im.convert("RGB")
    w, h = rgb.size

    def save(image: Image.Image, form: str, **kw: object) -> bytes:
        out = io.BytesIO()
        image.save(out, form, **kw)
        return out.getvalue()

    half = rgb.resize((max(1, w // 2), max(1, h // 2)), Image.Resampling.LANCZOS)
    quarter = rgb.resize((max(1, w // 4), max(1, h // 4)), Image.Resampling.LANCZOS)
    return {"q85": save(rgb, "JPEG", quality=85), "q70": save(rgb, "JPEG", quality=70),
            "half": save(half, "JPEG", quality=80), "quarter": save(quarter, "JPEG", quality=80),
            "progressive": save(rgb, "JPEG", quality=75, progressive=True),
            "webp": save(rgb, "WEBP", quality=80),
            "png_jpeg": save(rgb, "PNG") if fmt == "JPEG" else save(rgb, "JPEG", quality=85)}


@dataclass
class Source:
    """One source of one file: its cost (ranges held) and its hashes."""

    ranges: list[Range]
    phash: str | None = None  # whole picture
    pdq: tuple[str, int] | None = None  # whole picture: (hex, quality)
    band: dict[float, str | None] = field(default_factory=dict)
    band_pdq: dict[float, tuple[str, int]] = field(default_factory=dict)


@dataclass
class File:
    origin: int
    kind: str
    size: int
    fmt: str
    base: list[Range]  # what the crawler holds without the band and the first scan
    base_requests: int
    ref: Source | None = None  # the full download
    sources: dict[str, Source] = field(default_factory=dict)
    scan_bytes: int | None = None  # a progressive first scan's own size
    band_start: int | None = None  # where the coded data starts (band sources)
    band_lead: int | None = None  # where the bytes start to follow the rows
    band_end: int | None = None  # end of the image data
    band_need: dict[float, int] = field(default_factory=dict)  # fewest coded bytes per f


def _hash(image: Image.Image) -> str | None:
    try:
        return phash_image(image)
    except PhashError:
        return None


def picture_source(image: Image.Image, ranges: list[Range], fractions: list[float],
                   pdq_fractions: list[float], whole_picture: bool = True) -> Source:
    """The hashes of a decoded source: pHash and PDQ of the whole picture, the
    band's pHash at every fraction and its PDQ at `pdq_fractions`."""
    src = Source(ranges)
    if whole_picture:
        src.phash, src.pdq = _hash(image), pdq_hash(image)
    for f in fractions:
        band = band_of(image, f) if whole_picture else image
        src.band[f] = _hash(band)
        if f in pdq_fractions:
            src.band_pdq[f] = pdq_hash(band)
    return src


def reference(data: bytes) -> Image.Image | None:
    """The whole file decoded as a full download would: no pixel cap."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return im.convert("RGB")
    except Exception:  # noqa: BLE001 - not decodable at all
        return None


def held(data: bytes, ranges: list[Range]) -> Spans:
    """What a crawler holding `ranges` of `data` holds."""
    spans = Spans(len(data))
    for start, end in ranges:
        spans.add(start, data[start:end])
    return spans


def _band_ok(data: bytes, base: list[Range], start: int, f: float, n: int) -> bool:
    found = band_data(held(data, [*base, (start, start + n)]), len(data))
    if found is None:
        return False
    try:
        decode.band(found[0], found[1], found[2], found[3], f)
    except decode.DecodeRefused:
        return False
    return True


def band_need(data: bytes, base: list[Range], start: int, f: float, low: int) -> int | None:
    """Fewest file bytes from `start` (within 0.5 % of the rest) that decode the band."""
    coded = len(data) - start
    if not _band_ok(data, base, start, f, coded):
        return None
    lo, hi = low - 1, coded
    while hi - lo > max(64, coded // 200):
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if _band_ok(data, base, start, f, mid) else (mid, hi)
    return hi


def crawled_base(data: bytes) -> tuple[list[Range], int]:
    """The ranges the crawler holds without the band and the first scan, and its
    requests (every image treated as fingerprinted: no IMGPRINT_MIN_SIZE rule)."""
    budget = replace(shipped_budget(), band=0.0, band_bytes=0, scan_bytes=0)
    image = replay(data, budget)
    assert image.spans is not None
    return image.spans.ranges(), image.requests


def measure(origin: int, kind: str, data: bytes, fractions: list[float],
            pdq_fractions: list[float]) -> File:
    size = len(data)
    fmt = formats.sniff(data[:64]) or "?"
    base, requests = crawled_base(data)
    out = File(origin, kind, size, fmt, base, requests)
    ref = reference(data)
    if ref is not None:
        out.ref = picture_source(ref, [(0, size)], fractions, pdq_fractions)
    spans = whole(data)
    _whole_sources(out, data, spans, fractions, pdq_fractions)
    span = band_span(held(data, base))
    if span is not None:
        start = out.band_start = span[0]
        out.band_lead, out.band_end = span[1], span[2]
        src = Source([])
        low = 1
        for f in fractions:
            need = band_need(data, base, start, f, low)
            if need is None:
                continue
            out.band_need[f] = low = need
            got = band_data(held(data, [*base, (start, start + need)]), size)
            assert got is not None
            image = decode.band(got[0], got[1], got[2], got[3], f)
            src.band[f] = _hash(image)
            if f in pdq_fractions:
                src.band_pdq[f] = pdq_hash(image)
        out.sources["top_band"] = src
    return out


def _whole_sources(out: File, data: bytes, spans: Spans, fractions: list[float],
                   pdq_fractions: list[float]) -> None:
    """The sources that show the whole picture, decoded as the crawler does."""
    if out.size <= PREFIX:
        try:
            out.sources["whole_file"] = picture_source(
                decode.picture(data), [(0, out.size)], fractions, pdq_fractions)
        except decode.DecodeRefused:
            pass
    thumb = formats.thumbnail_span(spans, MAX_THUMBNAIL_BYTES)
    if thumb is not None:
        try:
            pic = sources._exif_thumbnail(spans, Limits())
            if pic is not None:
                out.sources["exif_thumbnail"] = picture_source(
                    pic.image, [thumb], fractions, pdq_fractions)
        except decode.DecodeRefused:
            pass
    found = jpeg_coded.first_scan(spans) if out.fmt == "jpeg" else None
    if found is not None:
        end = jpeg_coded.scan_end(data[found[1]:found[1] + MAX_SCAN + 2])
        try:
            pic = sources._progressive_scan(spans, Limits(scan_bytes=MAX_SCAN))
            if pic is not None and end is not None:
                out.scan_bytes = end + 2
                out.sources["progressive_scan"] = picture_source(
                    pic.image, [(found[1], found[1] + end + 2)], fractions, pdq_fractions)
        except decode.DecodeRefused:
            pass
