"""Run the crawler's follow-up loop over the local test corpus and measure recall.

For every image under the corpus (except fuzzing/ and metadata/ dumps):
seed a Spans with the first 10,241 bytes and the file size, run the crawler's
own follow-up loop (``imgprint.middlewares.followup.fetch_spans``, with the
settings' content-hash and phash budgets) for up to --rounds requests within
--budget extra bytes, its download reading the local file, then compare what
imgprint.formats finds with exifread over the whole file, metadata-extractor's
dump and Pillow.

    .venv/bin/python bench/metadata_recall.py [--corpus DIR] [--rounds 2] [--budget 262144]
"""

from __future__ import annotations

import argparse
import logging
import re
import statistics
import sys
import warnings
from collections import defaultdict
from pathlib import Path

import exifread

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncio  # noqa: E402

from scrapy.http import Response  # noqa: E402

from imgprint import settings as project  # noqa: E402
from imgprint.fingerprint.limits import MAX_THUMBNAIL_BYTES  # noqa: E402
from imgprint.formats import FormatError, Spans, exif_tags, facts, sniff  # noqa: E402
from imgprint.middlewares.followup import Budget, fetch_spans  # noqa: E402

PREFIX = 10_241
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
_DROP = ("JPEGThumbnail", "TIFFThumbnail")

logging.getLogger("exifread").setLevel(logging.CRITICAL)
warnings.simplefilter("ignore")


def full_exif(path: Path) -> dict[str, str] | None:
    """exifread over the whole file (details=False, minus thumbnails); None on error."""
    try:
        with path.open("rb") as fh:
            tags = exifread.process_file(fh, details=False)
        return {k: str(v) for k, v in tags.items()
                if k not in _DROP and not isinstance(v, (bytes, bytearray))}
    except Exception:  # noqa: BLE001 - exifread fails on broken files; that's data
        return None


_ME_DIMS = [
    (r"\[JPEG - 0x0003\] Image Width = (\d+)", r"\[JPEG - 0x0001\] Image Height = (\d+)"),
    (r"\[PNG-IHDR - 0x0001\] Image Width = (\d+)", r"\[PNG-IHDR - 0x0002\] Image Height = (\d+)"),
    (r"\[GIF Header - 0x0002\] Image Width = (\d+)",
     r"\[GIF Header - 0x0003\] Image Height = (\d+)"),
    (r"\[WebP - 0x0002\] Image Width = (\d+)", r"\[WebP - 0x0001\] Image Height = (\d+)"),
    (r"\[HEIF - 0x0004\] Width = (\d+)", r"\[HEIF - 0x0005\] Height = (\d+)"),
    (r"\[Exif IFD0 - 0x0100\] Image Width = (\d+)", r"\[Exif IFD0 - 0x0101\] Image Height = (\d+)"),
]
_ME_TYPES = {"JPEG": "jpeg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "TIFF": "tiff",
             "HEIF": "heif", "AVIF": "avif"}


def me_facts(path: Path) -> dict:
    """Format and size from metadata-extractor's dump next to the image, if any."""
    dump = path.parent / "metadata" / "java" / (path.name + ".txt")
    if not dump.exists():
        return {}
    text = dump.read_text(errors="replace")
    out: dict = {}
    m = re.search(r"^TYPE: (\w+)", text, re.M)
    if m and m.group(1) in _ME_TYPES:
        out["format"] = _ME_TYPES[m.group(1)]
    for wre, hre in _ME_DIMS:
        w, h = re.search(wre, text), re.search(hre, text)
        if w and h:
            out["size"] = (int(w.group(1)), int(h.group(1)))
            break
    return out


def pil_facts(path: Path) -> dict:
    try:
        from PIL import Image

        with Image.open(path) as im:
            return {"format": (im.format or "").lower().replace("mpo", "jpeg"),
                    "size": im.size}
    except Exception:  # noqa: BLE001
        return {}


def simulate(path: Path, data: bytes, rounds: int, budget: int):
    spans = Spans(len(data))
    spans.add(0, data[:PREFIX])

    async def download(start: int, end: int) -> Response:
        assert 0 <= start < end <= len(data), (path, start, end)
        return Response(path.as_uri(), status=206, body=data[start:end],
                        headers={"Content-Range": f"bytes {start}-{end - 1}/{len(data)}"})

    limits = Budget(rounds, budget, project.IMGPRINT_CONTENT_BYTES, MAX_THUMBNAIL_BYTES,
                    project.IMGPRINT_PHASH_SCAN_BYTES, project.IMGPRINT_HASH_FOLLOWUPS)
    result = asyncio.run(fetch_spans(spans, download, limits))
    try:
        tags = exif_tags(spans)
    except FormatError:
        tags = {}
    return spans, tags, facts(spans), result.bytes, result.requests


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:6.2f}%" if b else "     -"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--budget", type=int, default=256 * 1024,
                    help="extra bytes allowed per image beyond the prefix")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)

    stats: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    fetched: dict[str, list[int]] = defaultdict(list)
    problems: list[str] = []
    for path in sorted(args.corpus.rglob("*")):
        rel = path.relative_to(args.corpus)
        if not path.is_file() or {"fuzzing", "metadata"} & set(rel.parts[:-1]):
            continue
        data = path.read_bytes()
        fmt = sniff(data[:64])
        if fmt is None:
            continue
        full = full_exif(path)
        spans, tags, ours, extra, requests = simulate(path, data, args.rounds, args.budget)
        for key in (fmt, "total"):
            st = stats[key]
            st["files"] += 1
            st["prefix"] += min(len(data), PREFIX)
            st["fetched"] += min(len(data), PREFIX) + extra
            st["max_requests"] = max(st["max_requests"], requests)
            st["followed"] += requests > 0
            fetched[key].append(min(len(data), PREFIX) + extra)
            if full:
                st["tags"] += len(full)
                st["tags_hit"] += sum(1 for k, v in full.items() if tags.get(k) == v)
                if not tags:
                    st["none_found"] += 1
        if args.verbose and extra:
            problems.append(f"fetched {extra} extra bytes in {requests} requests: {rel}")
        if full and not tags:
            problems.append(f"no tags (exifread finds {len(full)}): {rel}")
        elif full and args.verbose:
            miss = [k for k, v in full.items() if tags.get(k) != v]
            if miss:
                problems.append(f"{len(miss)} tags differ: {rel}: {miss[:4]}")
        me, pil = me_facts(path), pil_facts(path)
        got_size = (ours.get("width"), ours.get("height"))
        for key in (fmt, "total"):
            st = stats[key]
            if me.get("size") and me.get("size") == pil.get("size"):
                st["dims_n"] += 1
                st["dims_ok"] += got_size == me["size"]
                if got_size != me["size"] and key == "total":
                    problems.append(f"size {got_size} != {me['size']}: {rel}")
            elif me.get("size") and not pil.get("size"):
                st["dims_me_n"] += 1
                st["dims_me_ok"] += got_size == me["size"]
            if me.get("format") and me.get("format") == pil.get("format"):
                st["fmt_n"] += 1
                st["fmt_ok"] += ours.get("format") == me["format"]
                if ours.get("format") != me["format"] and key == "total":
                    problems.append(f"format {ours.get('format')} != {me['format']}: {rel}")

    cols = ("format", "files", "tag recall", "no-tags", "dims ok", "dims vs ME only",
            "format ok", "median", "p95", "max", "total KB", "vs prefix", "max req",
            "followed")
    print(" | ".join(cols))
    order = sorted(k for k in stats if k != "total") + ["total"]
    for key in order:
        st, sizes = stats[key], sorted(fetched[key])
        p95 = sizes[min(len(sizes) - 1, int(0.95 * len(sizes)))]
        print(" | ".join(str(x) for x in (
            key, st["files"], f"{pct(st['tags_hit'], st['tags'])} of {st['tags']}",
            st["none_found"], f"{st['dims_ok']}/{st['dims_n']}",
            f"{st['dims_me_ok']}/{st['dims_me_n']}", f"{st['fmt_ok']}/{st['fmt_n']}",
            int(statistics.median(sizes)), p95, sizes[-1], st["fetched"] // 1024,
            f"{st['fetched'] / st['prefix']:.3f}x", st["max_requests"], st["followed"])))
    if problems:
        print("\nnotes:")
        for line in problems:
            print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
