"""Perceptual hashes of copies of the corpus photos, from the bytes a crawler holds.

    .venv/bin/python -m bench.fingerprint_eval [--limit N] [--cache FILE]

Pure (no server): the corpus photos and their Pillow copies and the
measurements of every source are ``bench.fingerprint_data``'s. Then:

* **full download**: pHash (<= 8) and PDQ (<= 31, quality >= 50) of the whole
  files, recall per kind of copy and false groupings (pairs of files of
  different originals that match);
* **sources compare**: the band's Hamming distance between an original's and a
  copy's sources, every pair of sources both have;
* **the curve**: strategies (band fraction f, the first request's share f x
  margin of the image data, a second request of ``retry`` times that when the
  first fell short, the band's byte cap, the first scan's cap) pick per file
  the source the crawler would have (as ``sources.pick`` does); recall per kind,
  false groupings, image bytes (the union of the ranges held) against the
  whole files, and the band's own requests;
* **rules**: how two records match (whole-picture pHash or PDQ where both have
  one, else the band's pHash or PDQ), at the chosen strategy;
* **the crawler itself**: every file fetched by ``imgprint.fetch.replay`` with
  the shipped settings (IMGPRINT_MIN_SIZE included) and hashed by
  ``imgprint.fingerprint.phash.perceptual_fields``: recall per kind and per pair
  of sources, false groupings, bytes and requests per file, and how far each
  crawled whole-picture PDQ and pHash lie from the full download's.
"""

from __future__ import annotations

import argparse
import math
import pickle
import statistics
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.fingerprint_data import KINDS, File, copies, measure, photos
from imgprint.dupes.band import band_match
from imgprint.fetch.replay import PREFIX, replay, shipped_budget
from imgprint.fingerprint.limits import BAND_MARGIN, BAND_RETRY, Limits
from imgprint.fingerprint.pdq import MATCH_DISTANCE, MIN_QUALITY
from imgprint.fingerprint.phash import perceptual_fields
from imgprint.settings import (
    IMGPRINT_MIN_SIZE,
    IMGPRINT_PHASH_BAND,
    IMGPRINT_PHASH_BAND_BYTES,
    IMGPRINT_PHASH_SCAN_BYTES,
)
from imgprint.spans import join_ranges

warnings.simplefilter("ignore")
Range = tuple[int, int]
PHASH_DISTANCE = 8  # scrapy dupes' default
BAND_DISTANCE = 8


@dataclass(frozen=True)
class Strategy:
    fraction: float  # the band's share of the height (0: no band)
    margin: float  # the first band request: fraction x margin of the image data
    retry: float  # a second request of retry x that when the first fell short (0: none)
    cap: int  # most bytes fetched for the band
    scan_cap: int  # most bytes of a progressive first scan


@dataclass
class Held:
    """What one file gives: its hashes, their source, and what it cost."""

    source: str | None
    cost: int
    phash: str | None = None
    pdq: tuple[str, int] | None = None
    band: str | None = None
    band_pdq: tuple[str, int] | None = None
    band_requests: int = 0
    band_source: str | None = None


def _size(ranges: list[Range]) -> int:
    return sum(e - s for s, e in join_ranges(ranges))


def _band_fetch(f: File, s: Strategy, ranges: list[Range]) -> tuple[bool, int]:
    """Whether the band's requests (first share, then a retry) hold its rows;
    appends what they fetch to `ranges`; the requests spent."""
    need = f.band_need.get(s.fraction)
    assert f.band_start is not None and f.band_lead is not None
    shares = [s.fraction * s.margin] + ([s.fraction * s.margin * s.retry] if s.retry else [])
    lead, end = f.band_lead, f.band_end or f.size
    spent = 0
    for share in shares:
        stop = min(end, f.band_start + s.cap, lead + math.ceil((end - lead) * min(1.0, share)))
        if _size([*ranges, (f.band_start, stop)]) > _size(ranges):
            spent += 1
        ranges.append((f.band_start, stop))
        if need is not None and f.band_start + need <= stop:
            return True, spent
        if need is None:
            return False, spent
    return False, spent


def choose(f: File, s: Strategy) -> Held:
    """The source the crawler would decode, as `sources.pick` orders them, and
    what it cost (bytes held, as the union of ranges)."""
    ranges = list(f.base)
    names = [n for n in ("whole_file", "progressive_scan", "exif_thumbnail") if n in f.sources
             and (n != "progressive_scan" or (f.scan_bytes or 0) <= s.scan_cap)]
    whole = f.sources[names[0]] if names else None
    if whole is not None:
        ranges += whole.ranges
    out = Held(names[0] if names else None, 0)
    if whole is not None:
        out.phash, out.pdq = whole.phash, whole.pdq
    if whole is not None and names[0] != "exif_thumbnail":
        out.band, out.band_source = whole.band.get(s.fraction), names[0]
        out.band_pdq = whole.band_pdq.get(s.fraction)
    elif f.band_start is not None and s.fraction > 0:
        got, out.band_requests = _band_fetch(f, s, ranges)
        if got:
            src = f.sources["top_band"]
            out.band, out.band_pdq = src.band.get(s.fraction), src.band_pdq.get(s.fraction)
            out.band_source = "top_band"
    if out.band_source is None and whole is not None:  # the thumbnail's own band
        out.band, out.band_pdq = whole.band.get(s.fraction), whole.band_pdq.get(s.fraction)
        out.band_source = names[0]
    out.cost = _size(ranges)
    return out


def dist(a: str | None, b: str | None) -> int | None:
    return None if a is None or b is None else (int(a, 16) ^ int(b, 16)).bit_count()


def _pdq_dist(a: tuple[str, int] | None, b: tuple[str, int] | None) -> int | None:
    if a is None or b is None or min(a[1], b[1]) < MIN_QUALITY:
        return None
    return dist(a[0], b[0])


#: How two records match: (name, function).
Rule = tuple[str, Callable[[Held, Held], bool]]


def phash_rule(a: Held, b: Held) -> bool:
    """Whole-picture pHash where both have one, else the band's pHash."""
    d = dist(a.phash, b.phash)
    if d is not None:
        return d <= PHASH_DISTANCE
    d = dist(a.band, b.band)
    return d is not None and d <= BAND_DISTANCE


def pdq_rule(a: Held, b: Held) -> bool:
    """`scrapy dupes`': PDQ where both have a usable one, else pHash, else the band's pHash."""
    d = _pdq_dist(a.pdq, b.pdq)
    return d <= MATCH_DISTANCE if d is not None else phash_rule(a, b)


def band_pdq_rule(limit: int) -> Callable[[Held, Held], bool]:
    def rule(a: Held, b: Held) -> bool:
        """As `pdq_rule`, the band compared by PDQ (<= limit) instead of pHash."""
        d = _pdq_dist(a.pdq, b.pdq)
        if d is not None:
            return d <= MATCH_DISTANCE
        d = dist(a.phash, b.phash)
        if d is not None:
            return d <= PHASH_DISTANCE
        d = _pdq_dist(a.band_pdq, b.band_pdq)
        return d is not None and d <= limit
    return rule


def either_rule(a: Held, b: Held) -> bool:
    """As `pdq_rule`, or the bands' pHash where both have one (what
    ``imgprint.dupes.band.band_match`` does)."""
    d = dist(a.band, b.band)
    return pdq_rule(a, b) or (d is not None and d <= BAND_DISTANCE)


def evaluate(files: list[File], held: list[Held], rule: Callable[[Held, Held], bool],
             match: Callable[[int, int], bool] | None = None) -> dict:
    """Recall per kind and pair of sources, false groupings, costs; files `i`
    and `j` match by ``rule(held[i], held[j])``, or ``match(i, j)`` when given."""
    same = match or (lambda i, j: rule(held[i], held[j]))
    origs = {f.origin: i for i, f in enumerate(files) if f.kind == "original"}
    per_kind: dict[str, list[int]] = {k: [0, 0] for k in KINDS}
    per_pair: dict[tuple[str, str], list[int]] = {}
    for i, f in enumerate(files):
        if f.kind == "original" or f.origin not in origs:
            continue
        o = held[origs[f.origin]]
        hit = same(origs[f.origin], i)
        per_kind[f.kind][0] += hit
        per_kind[f.kind][1] += 1
        cell = per_pair.setdefault((str(o.source or o.band_source),
                                    str(held[i].source or held[i].band_source)), [0, 0])
        cell[0] += hit
        cell[1] += 1
    false = [(files[i].origin, files[j].origin) for i in range(len(files))
             for j in range(i + 1, len(files))
             if files[i].origin != files[j].origin and same(i, j)]
    costs = [h.cost for h in held]
    return {"kind": per_kind, "pair": per_pair, "false": false, "costs": costs,
            "ratio": sum(costs) / sum(f.size for f in files),
            "band_requests": sum(h.band_requests for h in held) / len(held)}


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:.0f} % ({a}/{b})" if b else "–"


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0


def table(head: list[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def full_download(files: list[File]) -> str:
    """pHash and PDQ of the whole files (a full download), per kind."""
    held = [Held("full", f.size, f.ref.phash if f.ref else None, f.ref.pdq if f.ref else None)
            for f in files]
    only_phash = [Held("full", h.cost, h.phash) for h in held]
    rows = []
    for name, hs, rule in ((f"pHash ≤ {PHASH_DISTANCE}", only_phash, phash_rule),
                           (f"PDQ ≤ {MATCH_DISTANCE}", held, pdq_rule)):
        res = evaluate(files, hs, rule)
        rows.append([name] + [pct(*res["kind"][k]) for k in KINDS] + [len(res["false"])])
    return table(["full download", *KINDS, "false groupings"], rows)


def source_pairs(files: list[File], fraction: float) -> str:
    """Band distance between an original's sources and its copies' sources,
    every pair of sources both sides have (whatever a strategy would pick)."""
    origs = {f.origin: f for f in files if f.kind == "original"}
    cells: dict[tuple[str, str], list[int]] = {}
    for f in files:
        o = origs.get(f.origin)
        if f.kind == "original" or o is None:
            continue
        mine = {**({"full": f.ref} if f.ref else {}), **f.sources}
        theirs = {**({"full": o.ref} if o.ref else {}), **o.sources}
        for na, sa in theirs.items():
            for nb, sb in mine.items():
                d = dist(sa.band.get(fraction), sb.band.get(fraction))
                if d is not None:
                    cells.setdefault((na, nb), []).append(d)
    rows = [[a, b, len(v), statistics.median(v), quantile(v, 0.95),
             pct(sum(d <= BAND_DISTANCE for d in v), len(v))]
            for (a, b), v in sorted(cells.items())]
    return table(["original's source", "copy's source", "pairs", "median", "p95",
                  f"≤ {BAND_DISTANCE}"], rows)


def curve(files: list[File], strategies: list[Strategy],
          rule: Rule = ("either", either_rule)) -> str:
    rows = []
    for s in strategies:
        held = [choose(f, s) for f in files]
        res = evaluate(files, held, rule[1])
        recalls = [a / b for a, b in res["kind"].values() if b]
        rows.append([s.fraction, s.margin, s.retry, s.cap, s.scan_cap,
                     f"{100 * min(recalls):.0f} %", f"{100 * statistics.mean(recalls):.0f} %",
                     len(res["false"]), round(statistics.median(res["costs"])),
                     round(quantile(res["costs"], 0.95)), f"{100 * res['ratio']:.1f} %",
                     f"{res['band_requests']:.2f}"])
    return table(["f", "margin", "retry", "cap", "scan cap", "worst kind", "mean recall",
                  "false", "bytes median", "p95", "vs whole files", "band requests/file"],
                 rows)


def rules(files: list[File], s: Strategy) -> str:
    held = [choose(f, s) for f in files]
    candidates: list[Rule] = [("pHash, else band pHash", phash_rule),
                              ("PDQ, else pHash, else band pHash", pdq_rule),
                              ("PDQ, else pHash; or band pHash", either_rule)]
    candidates += [(f"PDQ, else pHash, else band PDQ ≤ {t}", band_pdq_rule(t))
                   for t in (24, 31, 40, 48)]
    rows = []
    for name, rule in candidates:
        res = evaluate(files, held, rule)
        rows.append([name] + [pct(*res["kind"][k]) for k in KINDS] + [len(res["false"])])
    return table(["rule", *KINDS, "false groupings"], rows)


# --- the crawler itself -------------------------------------------------------------


def crawl_held(data: bytes, limits: Limits) -> tuple[Held, dict, int]:
    """What the crawler's own fetch and hashes give for `data`: as a `Held`,
    as the record's fields, and its requests."""
    image = replay(data, shipped_budget(), min_size=IMGPRINT_MIN_SIZE)
    assert image.spans is not None
    fields = perceptual_fields(image.spans, limits)
    pdq = (fields["pdq"], fields["pdq_quality"]) if "pdq" in fields else None
    held = Held(fields.get("phash_source"), image.bytes, fields.get("phash"), pdq,
                fields.get("phash_band"), None, 0, fields.get("phash_band_source"))
    return held, fields, image.requests


def crawler_report(files: list[File], held: list[Held], records: list[dict],
                   requests: list[int]) -> str:
    """Recall, false groupings, bytes and requests of the crawler's records,
    matched by ``imgprint.dupes.band.band_match`` (as `scrapy dupes` would)."""
    res = evaluate(files, held, either_rule,
                   lambda i, j: band_match(records[i], records[j]) is not None)
    out = [f"image bytes {100 * res['ratio']:.1f} % of the whole files,"
           f" {statistics.mean(requests):.2f} requests a file (max {max(requests)}),"
           f" false groupings {len(res['false'])} {sorted(set(res['false']))[:10]}", ""]
    out.append(table(["kind", "recall"], [[k, pct(*res["kind"][k])] for k in KINDS]))
    out.append("")
    out.append(table(["original's source", "copy's source", "recall"],
                     [[a, b, pct(*v)] for (a, b), v in sorted(res["pair"].items())]))
    out.append("")
    rows = []
    for kind in ["original", *KINDS]:
        idx = [i for i, f in enumerate(files) if f.kind == kind]
        costs = [held[i].cost for i in idx]
        srcs: dict[str, int] = {}
        for i in idx:
            key = f"{held[i].source}/{held[i].band_source}"
            srcs[key] = srcs.get(key, 0) + 1
        rows.append([kind, len(idx), round(statistics.median(costs)),
                     round(quantile(costs, 0.95)),
                     f"{sum(costs) / sum(min(PREFIX, files[i].size) for i in idx):.2f}x",
                     f"{100 * sum(costs) / sum(files[i].size for i in idx):.1f} %",
                     f"{statistics.mean(requests[i] for i in idx):.2f}",
                     ", ".join(f"{k} {v}" for k, v in sorted(srcs.items()))])
    out.append(table(["kind", "files", "bytes median", "p95", "vs prefix", "vs whole file",
                      "requests", "sources (whole/band)"], rows))
    return "\n".join(out)


def against_full(files: list[File], held: list[Held]) -> str:
    """How far the crawled whole-picture hashes lie from the full download's."""
    cells: dict[str, list[list[int]]] = {}
    for f, h in zip(files, held, strict=True):
        if f.ref is None or h.source is None:
            continue
        cell = cells.setdefault(h.source, [[], []])
        d = dist(h.phash, f.ref.phash)
        if d is not None:
            cell[0].append(d)
        if h.pdq and f.ref.pdq and min(h.pdq[1], f.ref.pdq[1]) >= MIN_QUALITY:
            cell[1].append(dist(h.pdq[0], f.ref.pdq[0]) or 0)
    rows = [[name, len(p), statistics.median(p) if p else "–", quantile(p, 0.95) if p else "–",
             len(q), statistics.median(q) if q else "–", quantile(q, 0.95) if q else "–",
             pct(sum(d <= MATCH_DISTANCE for d in q), len(q))]
            for name, (p, q) in sorted(cells.items())]
    return table(["source", "pHash pairs", "median", "p95", "PDQ pairs", "median", "p95",
                  f"PDQ ≤ {MATCH_DISTANCE}"], rows)


# --- main ------------------------------------------------------------------------------


def load(args: argparse.Namespace, fractions: list[float]) -> tuple[list[File], list[bytes]]:
    """The measurements (from --cache when there) and every file's bytes."""
    datas: list[bytes] = []
    files: list[File] = []
    cached = pickle.loads(args.cache.read_bytes()) if args.cache and args.cache.exists() else None
    for origin, (name, data) in enumerate(photos(args.min_side, args.min_bytes, args.limit)):
        print(f"{origin} {name}", file=sys.stderr)
        for kind, blob in [("original", data), *copies(data).items()]:
            datas.append(blob)
            if cached is None:
                files.append(measure(origin, kind, blob, fractions, [args.band]))
    if cached is not None:
        files = cached
    elif args.cache:
        args.cache.write_bytes(pickle.dumps(files))
    return files, datas


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=None, help="at most N originals")
    ap.add_argument("--min-side", type=int, default=256)
    ap.add_argument("--min-bytes", type=int, default=30_000)
    ap.add_argument("--fractions", default="0.15,0.2,0.25,0.33")
    ap.add_argument("--band", type=float, default=IMGPRINT_PHASH_BAND)
    ap.add_argument("--margin", type=float, default=BAND_MARGIN)
    ap.add_argument("--retry", type=float, default=BAND_RETRY)
    ap.add_argument("--cap", type=int, default=IMGPRINT_PHASH_BAND_BYTES)
    ap.add_argument("--scan-cap", type=int, default=IMGPRINT_PHASH_SCAN_BYTES)
    ap.add_argument("--cache", type=Path, help="keep the measurements here (pickle)")
    args = ap.parse_args()
    fractions = [float(x) for x in args.fractions.split(",")]
    files, datas = load(args, fractions)
    fmts: dict[str, int] = {}
    for f in files:
        if f.kind == "original":
            fmts[f.fmt] = fmts.get(f.fmt, 0) + 1
    print(f"{len(fmts) and sum(fmts.values())} originals ({fmts}), {len(files)} files,"
          f" {sum(f.size for f in files)} bytes\n")
    print(full_download(files), "\n")
    print(f"band f={args.band}:\n" + source_pairs(files, args.band), "\n")
    chosen = Strategy(args.band, args.margin, args.retry, args.cap, args.scan_cap)
    print(curve(files, [Strategy(f, m, r, args.cap, args.scan_cap) for f in fractions
                        for m in (1.0, 1.25, 1.5) for r in (0.0, 2.0)]), "\n")
    print(curve(files, [Strategy(f, args.margin, args.retry, c, sc) for f in fractions
                        for c in (1 << 20, 3 << 19, 2 << 20) for sc in (65536, 262144)]), "\n")
    print(rules(files, chosen), "\n")
    limits = Limits(IMGPRINT_PHASH_SCAN_BYTES, IMGPRINT_PHASH_BAND, IMGPRINT_PHASH_BAND_BYTES,
                    PREFIX)
    crawled = [crawl_held(data, limits) for data in datas]
    held = [h for h, _, _ in crawled]
    report = crawler_report(files, held, [r for _, r, _ in crawled], [n for _, _, n in crawled])
    print("the crawler (shipped settings):", report, "\n", sep="\n")
    print(against_full(files, held))


if __name__ == "__main__":
    main()
