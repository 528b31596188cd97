"""Perceptual hashes of copies of the corpus photos, from the bytes a crawler holds.

    .venv/bin/python bench/fingerprint_eval.py [--limit N] [--json FILE]

Pure (no crawl, no server). From the distinct corpus photos (JPEG, PNG, WebP
decodable by Pillow, at least --min-side px a side and --min-bytes bytes; one
per distinct picture) it makes copies with Pillow: ``q85`` and ``q70``
(baseline JPEG, metadata dropped), ``half`` and ``quarter`` (Lanczos, JPEG
q80), ``progressive`` (JPEG q75), ``webp`` (q80), ``png_jpeg`` (a JPEG
original as PNG, any other as JPEG q85).

For every file it measures each source the crawler could decode, with the
production code (``imgprint.fingerprint``, ``imgprint.formats``): the whole
file, the progressive first scan, the EXIF thumbnail, and the top band at each
fraction f of --fractions, for which it finds the fewest coded bytes that
decode the band (bisection). A source's cost is the union of the ranges held:
the 10,241-byte prefix, the content hash's spans (the crawler fetches those
anyway), and the source's own bytes; metadata follow-ups are left out.

Then each strategy (whole files up to W bytes, the band at f with its fetch
estimate f x margin of the image data, capped) picks per file the first
source the crawler would have, as ``imgprint.fingerprint.sources.pick`` does,
and the tables give: recall per kind of copy and per pair of sources, false
groupings (pairs of files of different originals that match), and image bytes
per file (median, p95) against the prefix and the whole file; and the same for
a full download (pHash, PDQ where ``imgprint.fingerprint.pdq`` exists).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import statistics
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from bench.harness import CORPUS
from imgprint import formats
from imgprint.fingerprint import decode, sources
from imgprint.fingerprint.limits import MAX_THUMBNAIL_BYTES, Limits
from imgprint.fingerprint.phash import PhashError, band_of, phash_image
from imgprint.formats import Spans, jpeg_coded
from imgprint.formats.picture import band_data, band_span
from imgprint.spans import join_ranges

try:
    from imgprint.fingerprint.pdq import pdq_distance, pdq_hash
except ImportError:  # the PDQ module lands from another branch
    pdq_hash = pdq_distance = None  # type: ignore[assignment]

warnings.simplefilter("ignore")
PREFIX = 10_241
CONTENT_BYTES = 4096
SCAN_BYTES = 65536
KINDS = ["q85", "q70", "half", "quarter", "progressive", "webp", "png_jpeg"]
Range = tuple[int, int]


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
    band: dict[float, str | None] = field(default_factory=dict)
    pdq: tuple[str, int] | None = None


@dataclass
class File:
    origin: int
    kind: str
    size: int
    fmt: str
    base: list[Range]  # prefix + content-hash spans
    sources: dict[str, Source] = field(default_factory=dict)
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
                   with_pdq: bool = False) -> Source:
    src = Source(ranges, _hash(image), {f: _hash(band_of(image, f)) for f in fractions})
    if with_pdq and pdq_hash is not None:
        src.pdq = pdq_hash(image)
    return src


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


def base_ranges(data: bytes, spans: Spans, fmt: str) -> list[Range]:
    """The prefix and the content hash's spans (with PNG chunk headers: the
    crawler's walk fetched them to get there)."""
    found = formats.content_spans(spans, CONTENT_BYTES) or []
    if fmt == "png":
        found = [r for s, e in found for r in ((max(0, s - 8), s), (s, e))]
    return join_ranges([(0, min(PREFIX, len(data))), *found])


def measure(origin: int, kind: str, data: bytes, fractions: list[float]) -> File:
    spans = whole(data)
    size = len(data)
    fmt = formats.sniff(data[:64]) or "?"
    base = base_ranges(data, spans, fmt)
    out = File(origin, kind, size, fmt, base)
    try:
        out.sources["full"] = picture_source(decode.picture(data), [(0, size)], fractions, True)
    except decode.DecodeRefused:
        return out
    thumb = formats.thumbnail_span(spans, MAX_THUMBNAIL_BYTES)
    if thumb is not None:
        try:
            pic = sources._exif_thumbnail(spans, Limits())
            if pic is not None:
                out.sources["exif_thumbnail"] = picture_source(pic.image, [thumb], fractions)
        except decode.DecodeRefused:
            pass
    found = jpeg_coded.first_scan(spans) if fmt == "jpeg" else None
    if found is not None:
        end = jpeg_coded.scan_end(data[found[1]:found[1] + SCAN_BYTES + 2])
        try:
            pic = sources._progressive_scan(spans, Limits(scan_bytes=SCAN_BYTES))
            if pic is not None and end is not None:
                out.sources["progressive_scan"] = picture_source(
                    pic.image, [(found[1], found[1] + end + 2)], fractions)
        except decode.DecodeRefused:
            pass
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
            src.band[f] = _hash(decode.band(got[0], got[1], got[2], got[3], f))
        out.sources["top_band"] = src
    return out


@dataclass(frozen=True)
class Strategy:
    whole_bytes: int  # files up to this size fetched whole
    fraction: float  # the band's share of the height (0: no band)
    margin: float  # fetch fraction x margin of the image data for the band
    cap: int  # most bytes fetched for the band
    thumb_band: bool = True  # the band hash may come from the EXIF thumbnail
    retry: bool = False  # a second request (twice the share) when the first fell short


@dataclass
class Held:
    """What one strategy gives for one file."""

    source: str | None
    cost: int
    phash: str | None
    band: str | None


def choose(f: File, s: Strategy) -> Held:
    """The source the crawler would decode, as `sources.pick` orders them, and
    what it cost (bytes held, as the union of ranges)."""
    ranges = list(f.base)
    if "exif_thumbnail" in f.sources:  # fetched whenever EXIF points at one
        ranges += f.sources["exif_thumbnail"].ranges
    if "full" not in f.sources:
        return Held(None, _size(ranges), None, None)
    order = ["progressive_scan", "exif_thumbnail"]
    if f.size <= max(s.whole_bytes, PREFIX):
        order, ranges = ["full"], [(0, f.size)]
    whole_pic: Source | None = None
    for name in order:
        if name in f.sources:
            src = f.sources[name]
            ranges += src.ranges
            if name != "exif_thumbnail" or s.thumb_band or f.band_start is None:
                return Held(name, _size(ranges), src.phash, src.band.get(s.fraction))
            whole_pic = src  # its phash; the band comes from the file's first rows
            break
    if f.band_start is not None and f.band_lead is not None and s.fraction > 0:
        need = f.band_need.get(s.fraction)
        for share in ([s.fraction * s.margin, 2 * s.fraction * s.margin] if s.retry
                      else [s.fraction * s.margin]):
            lead, end = f.band_lead, f.band_end or f.size
            stop = min(end, f.band_start + s.cap,
                       lead + math.ceil((end - lead) * min(1.0, share)))
            ranges.append((f.band_start, stop))
            if need is not None and f.band_start + need <= stop:
                return Held("top_band", _size(ranges), whole_pic.phash if whole_pic else None,
                            f.sources["top_band"].band.get(s.fraction))
    if whole_pic is not None:
        return Held("exif_thumbnail", _size(ranges), whole_pic.phash,
                    whole_pic.band.get(s.fraction))
    return Held(None, _size(ranges), None, None)


def _size(ranges: list[Range]) -> int:
    return sum(e - s for s, e in join_ranges(ranges))


def dist(a: str | None, b: str | None) -> int | None:
    return None if a is None or b is None else (int(a, 16) ^ int(b, 16)).bit_count()


def matches(a: Held, b: Held, t_whole: int, t_band: int) -> bool:
    """Whole-picture hashes where both sides have one, else the band hashes."""
    d = dist(a.phash, b.phash)
    if d is not None:
        return d <= t_whole
    d = dist(a.band, b.band)
    return d is not None and d <= t_band


def evaluate(files: list[File], s: Strategy, t_whole: int, t_band: int) -> dict:
    held = [choose(f, s) for f in files]
    origs = {f.origin: i for i, f in enumerate(files) if f.kind == "original"}
    per_kind: dict[str, list[int]] = {k: [0, 0] for k in KINDS}
    per_pair: dict[tuple[str, str], list[int]] = {}
    for i, f in enumerate(files):
        if f.kind == "original" or f.origin not in origs:
            continue
        o = held[origs[f.origin]]
        hit = matches(o, held[i], t_whole, t_band)
        per_kind[f.kind][0] += hit
        per_kind[f.kind][1] += 1
        cell = per_pair.setdefault((str(o.source), str(held[i].source)), [0, 0])
        cell[0] += hit
        cell[1] += 1
    false = [(files[i].origin, files[j].origin) for i in range(len(files))
             for j in range(i + 1, len(files))
             if files[i].origin != files[j].origin and matches(held[i], held[j], t_whole, t_band)]
    costs = [h.cost for h in held]
    return {"kind": per_kind, "pair": per_pair, "false": false, "costs": costs,
            "ratio": sum(costs) / sum(f.size for f in files),
            "sources": [h.source for h in held]}


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:.0f} % ({a}/{b})" if b else "–"


def quantile(values: list[int], q: float) -> int:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))] if values else 0


def table(head: list[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def source_pairs(files: list[File], fraction: float, t_band: int) -> str:
    """Band distance between an original's sources and its copies' sources,
    every pair of sources both sides have (whatever a strategy would pick)."""
    origs = {f.origin: f for f in files if f.kind == "original"}
    cells: dict[tuple[str, str], list[int]] = {}
    for f in files:
        o = origs.get(f.origin)
        if f.kind == "original" or o is None:
            continue
        for na, sa in o.sources.items():
            for nb, sb in f.sources.items():
                d = dist(sa.band.get(fraction), sb.band.get(fraction))
                if d is not None:
                    cells.setdefault((na, nb), []).append(d)
    rows = [[a, b, len(v), statistics.median(v), quantile(v, 0.95),
             pct(sum(d <= t_band for d in v), len(v))] for (a, b), v in sorted(cells.items())]
    return table(["original's source", "copy's source", "pairs", "median", "p95",
                  f"≤ {t_band}"], rows)


def full_download(files: list[File], t_whole: int) -> str:
    """pHash and PDQ of the whole files (a full download), per kind."""
    full = Strategy(1 << 62, 0.0, 1.0, 0)
    res = evaluate(files, full, t_whole, -1)
    row = [f"pHash ≤ {t_whole}"] + [pct(*res["kind"][k]) for k in KINDS] + [len(res["false"])]
    rows = [row]
    if pdq_distance is not None:
        origs = {f.origin: f for f in files if f.kind == "original"}
        per = {k: [0, 0] for k in KINDS}
        for f in files:
            o = origs.get(f.origin)
            if f.kind == "original" or o is None:
                continue
            a, b = o.sources.get("full"), f.sources.get("full")
            hit = bool(a and b and a.pdq and b.pdq and pdq_distance(a.pdq[0], b.pdq[0]) <= 31)
            per[f.kind][0] += hit
            per[f.kind][1] += 1
        pdqs = [f.sources["full"].pdq for f in files if "full" in f.sources]
        false = sum(1 for i, a in enumerate(files) for b in files[i + 1:]
                    if a.origin != b.origin and "full" in a.sources and "full" in b.sources
                    and a.sources["full"].pdq and b.sources["full"].pdq
                    and pdq_distance(a.sources["full"].pdq[0], b.sources["full"].pdq[0]) <= 31)
        rows.append(["PDQ ≤ 31"] + [pct(*per[k]) for k in KINDS] + [false])
        del pdqs
    return table(["full download", *KINDS, "false groupings"], rows)


def report(files: list[File], s: Strategy, t_whole: int, t_band: int) -> str:
    res = evaluate(files, s, t_whole, t_band)
    out = [f"strategy {s}, phash ≤ {t_whole}, band ≤ {t_band}: image bytes"
           f" {100 * res['ratio']:.1f} % of the whole files, false groupings"
           f" {len(res['false'])} {sorted(set(res['false']))[:10]}", ""]
    out.append(table(["kind", "recall"], [[k, pct(*res["kind"][k])] for k in KINDS]))
    out.append("")
    out.append(table(["original's source", "copy's source", "recall"],
                     [[a, b, pct(*v)] for (a, b), v in sorted(res["pair"].items())]))
    out.append("")
    rows = []
    for kind in ["original", *KINDS]:
        idx = [i for i, f in enumerate(files) if f.kind == kind]
        costs = [res["costs"][i] for i in idx]
        sizes = [files[i].size for i in idx]
        prefixes = [min(PREFIX, files[i].size) for i in idx]
        srcs: dict[str, int] = {}
        for i in idx:
            srcs[str(res["sources"][i])] = srcs.get(str(res["sources"][i]), 0) + 1
        rows.append([kind, len(idx), statistics.median(costs), quantile(costs, 0.95),
                     f"{sum(costs) / sum(prefixes):.2f}x", f"{100 * sum(costs) / sum(sizes):.1f} %",
                     ", ".join(f"{k} {v}" for k, v in sorted(srcs.items()))])
    out.append(table(["kind", "files", "bytes median", "p95", "vs prefix", "vs whole file",
                      "sources"], rows))
    return "\n".join(out)


def curve(files: list[File], strategies: list[Strategy], t_whole: int,
          t_bands: list[int]) -> str:
    rows = []
    for s in strategies:
        for t in t_bands:
            res = evaluate(files, s, t_whole, t)
            recalls = [a / b for a, b in res["kind"].values() if b]
            rows.append([s.whole_bytes, s.fraction, s.margin, s.cap, s.thumb_band, s.retry, t,
                         f"{100 * min(recalls):.0f} %", f"{100 * statistics.mean(recalls):.0f} %",
                         len(res["false"]), statistics.median(res["costs"]),
                         quantile(res["costs"], 0.95), f"{100 * res['ratio']:.1f} %"])
    return table(["whole ≤", "f", "margin", "cap", "thumb band", "retry", "band ≤",
                  "worst kind", "mean recall",
                  "false", "bytes median", "p95", "vs whole files"], rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=None, help="at most N originals")
    ap.add_argument("--min-side", type=int, default=256)
    ap.add_argument("--min-bytes", type=int, default=30_000)
    ap.add_argument("--fractions", default="0.1,0.15,0.2,0.25,0.33,0.5")
    ap.add_argument("--band", type=float, default=0.25, help="the chosen band fraction")
    ap.add_argument("--margin", type=float, default=1.5, help="the chosen fetch margin")
    ap.add_argument("--cap", type=int, default=1 << 20, help="the chosen band byte cap")
    ap.add_argument("--cache", type=Path, help="keep the measurements here (pickle)")
    args = ap.parse_args()
    fractions = [float(x) for x in args.fractions.split(",")]
    if args.cache and args.cache.exists():
        import pickle

        files = pickle.loads(args.cache.read_bytes())
    else:
        files = []
        for origin, (name, data) in enumerate(photos(args.min_side, args.min_bytes, args.limit)):
            print(f"{origin} {name}", file=sys.stderr)
            files.append(measure(origin, "original", data, fractions))
            for kind, copy in copies(data).items():
                files.append(measure(origin, kind, copy, fractions))
        if args.cache:
            import pickle

            args.cache.write_bytes(pickle.dumps(files))
    n = sum(f.kind == "original" for f in files)
    fmts: dict[str, int] = {}
    for f in files:
        if f.kind == "original":
            fmts[f.fmt] = fmts.get(f.fmt, 0) + 1
    print(f"{n} originals ({fmts}), {len(files)} files, {sum(f.size for f in files)} bytes\n")
    print(full_download(files, 8), "\n")
    for f in (0.15, 0.25, 0.33):
        print(f"band f={f}:\n" + source_pairs(files, f, 8), "\n")
    strategies = [Strategy(PREFIX, f, m, 1 << 20, thumb, retry) for f in fractions
                  for m in (1.25, 1.5, 2.0) for thumb in (True, False) for retry in (False, True)]
    print(curve(files, strategies, 8, [8]), "\n")
    chosen = Strategy(PREFIX, args.band, args.margin, args.cap, False, True)
    print(curve(files, [chosen], 8, [4, 6, 8, 10, 12]), "\n")
    print(curve(files, [Strategy(w, args.band, args.margin, c, False, True)
                        for w in (PREFIX, 32768, 65536) for c in (131072, 262144, 1 << 20)],
                8, [8]), "\n")
    print(report(files, chosen, 8, 8))

if __name__ == "__main__":
    main()
