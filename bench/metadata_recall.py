"""Run the crawler's fetch over the local test corpus and measure recall.

For every image under the corpus (except fuzzing/ and metadata/ dumps): the
crawler's fetch replayed on the local file (``imgprint.fetch.replay``: the
first 10,241 bytes, then ``fetch_image`` and its follow-up loop with the
budget of the default settings, ``--rounds``, ``--hash-rounds``, ``--budget``
and ``--ahead`` overriding its parts; no IMGPRINT_MIN_SIZE rule, so every
image gets its hash follow-ups), then compare what imgprint.formats finds
with exifread over the whole file, metadata-extractor's dump and Pillow.

A second table counts the metadata blocks (``formats.metadata_blocks``) by
group: located in the whole file, and handed over from the crawled bytes
exactly as from the whole file.

    .venv/bin/python -m bench.metadata_recall [--corpus DIR] [--rounds N] [--budget BYTES]
"""

from __future__ import annotations

import argparse
import logging
import re
import statistics
import sys
import warnings
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import exifread

from imgprint import settings as project
from imgprint.fetch.loop import Budget, FollowupResult
from imgprint.fetch.replay import PREFIX, replay, shipped_budget
from imgprint.formats import (
    FormatError,
    content_hash,
    exif_tags,
    facts,
    metadata_blocks,
    sniff,
)
from imgprint.metadata.exif import tag_strings
from imgprint.spans import Spans

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"

logging.getLogger("exifread").setLevel(logging.CRITICAL)
warnings.simplefilter("ignore")


def full_exif(path: Path) -> dict[str, str] | None:
    """exifread over the whole file (details=False, minus thumbnails); None on error."""
    try:
        with path.open("rb") as fh:
            return tag_strings(exifread.process_file(fh, details=False))
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


#: Block kinds counted together in the blocks table.
GROUPS = {"xmp": "xmp", "xmp_extended": "xmp", "photoshop": "iptc", "iptc": "iptc",
          "icc": "icc", "icc_jpeg": "icc", "icc_zlib": "icc", "png_text": "text",
          "png_ztxt": "text", "png_itxt": "text", "png_time": "text", "comment": "comment",
          "user_comment": "comment"}


#: Groups handed over as prefixes (an ICC profile as far as its `desc` tag, a
#: Photoshop IRB's first 4 KiB): alike when the decoders make the same fields.
DECODED = {"icc": "icc", "iptc": "iptc"}


def decoded(pairs: list[tuple[str, bytes]], group: str) -> object:
    """The fields the decoders make of the `group` blocks of `pairs`."""
    mine = [p for p in pairs if GROUPS.get(p[0]) == group]
    try:
        from imgprint.metadata.blocks import metadata_fields
    except ImportError:
        return mine
    return metadata_fields(mine).get(DECODED[group])


def block_counts(data: bytes, spans: Spans) -> dict[str, list[int]]:
    """Per group: [blocks of the whole file, of those handed over alike from
    `spans`]; ICC and IPTC count once a file, alike when they decode alike."""
    whole = Spans(len(data))
    whole.add(0, data)
    held = list(metadata_blocks(spans))
    every = metadata_blocks(whole)
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for pair in every:
        group = GROUPS.get(pair[0], pair[0])
        if group in DECODED:
            continue
        out[group][0] += 1
        if pair in held:
            held.remove(pair)
            out[group][1] += 1
    for group in DECODED:
        if any(GROUPS.get(p[0]) == group for p in every):
            out[group][0] += 1
            out[group][1] += int(decoded(every, group) == decoded(held, group))
    return out


def simulate(path: Path, data: bytes, limits: Budget, multi: bool = True
             ) -> tuple[Spans, dict[str, str], dict[str, Any], FollowupResult]:
    """The crawler's fetch of `data` (``imgprint.fetch.replay``): the bytes
    held, exifread's tags and the facts over them, and the follow-ups' result.
    `multi`: several ranges a request (IMGPRINT_MULTI_RANGE), answered as
    nginx does (multipart/byteranges; its part headers count as bytes)."""
    image = replay(data, limits, multi=multi)
    if image.spans is None or image.followup is None:
        raise RuntimeError(f"{path}: the fetch held no bytes ({image.error or 'empty'})")
    try:
        tags = exif_tags(image.spans)
    except FormatError:
        tags = {}
    return image.spans, tags, facts(image.spans), image.followup


def hash_ok(data: bytes, spans: Spans) -> tuple[int, int]:
    """(1 if the whole file has a content hash, 1 if the crawled bytes give the same)."""
    whole = Spans(len(data))
    whole.add(0, data)
    want = content_hash(whole, project.IMGPRINT_CONTENT_BYTES)
    if want is None:
        return 0, 0
    return 1, int(content_hash(spans, project.IMGPRINT_CONTENT_BYTES) == want)


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:6.2f}%" if b else "     -"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--rounds", type=int, default=project.IMGPRINT_FOLLOWUPS,
                    help="follow-ups for metadata (IMGPRINT_FOLLOWUPS)")
    ap.add_argument("--hash-rounds", type=int, default=project.IMGPRINT_HASH_FOLLOWUPS,
                    help="more follow-ups for the hash inputs (IMGPRINT_HASH_FOLLOWUPS)")
    ap.add_argument("--budget", type=int, default=project.IMGPRINT_FOLLOWUP_BYTES,
                    help="extra bytes allowed per image beyond the prefix")
    ap.add_argument("--ahead", type=int, default=project.IMGPRINT_FOLLOWUP_AHEAD_BYTES,
                    help="speculative window of a last follow-up (IMGPRINT_FOLLOWUP_AHEAD_BYTES)")
    ap.add_argument("--multi-range", action=argparse.BooleanOptionalAction,
                    default=project.IMGPRINT_MULTI_RANGE,
                    help="several ranges a follow-up (IMGPRINT_MULTI_RANGE)")
    ap.add_argument("-v", "--verbose", action="store_true")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    limits = replace(shipped_budget(), requests=args.rounds, bytes=args.budget,
                     hash_requests=args.hash_rounds if args.rounds else 0,
                     ahead_bytes=args.ahead)
    stats: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    fetched: dict[str, list[int]] = defaultdict(list)
    blocks: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    problems: list[str] = []
    for path in sorted(args.corpus.rglob("*")):
        rel = path.relative_to(args.corpus)
        if not path.is_file() or {"fuzzing", "metadata"} & set(rel.parts[:-1]):
            continue
        data = path.read_bytes()
        fmt = sniff(data[:64])
        if fmt is None:
            continue
        spans = measure(path, rel, data, fmt, limits, stats, fetched, problems, args.verbose,
                        args.multi_range)
        for group, (n, ok) in block_counts(data, spans).items():
            for key in (fmt, "total"):
                blocks[key][group][0] += n
                blocks[key][group][1] += ok
    if not stats:
        print(f"no images under {args.corpus} (--corpus)", file=sys.stderr)
        return 2
    report(stats, fetched, blocks, problems)
    return 0


def measure(path: Path, rel: Path, data: bytes, fmt: str, limits: Budget, stats: dict,
            fetched: dict, problems: list[str], verbose: bool, multi: bool = True) -> Spans:
    """Crawl one image and add what it gives to `stats`, `fetched` and
    `problems`; the bytes crawled."""
    full = full_exif(path)
    spans, tags, ours, result = simulate(path, data, limits, multi)
    extra, requests = result.bytes, result.requests
    has_hash, same_hash = hash_ok(data, spans)
    for key in (fmt, "total"):
        st = stats[key]
        st["files"] += 1
        st["prefix"] += min(len(data), PREFIX)
        st["fetched"] += min(len(data), PREFIX) + extra
        st["max_requests"] = max(st["max_requests"], requests)
        st["followed"] += requests > 0
        st["follow_ups"] += requests
        st["multirange"] += result.multirange
        st["incomplete"] += bool(result.incomplete)
        st["hash_n"] += has_hash
        st["hash_ok"] += same_hash
        fetched[key].append(min(len(data), PREFIX) + extra)
        if full:
            st["tags"] += len(full)
            st["tags_hit"] += sum(1 for k, v in full.items() if tags.get(k) == v)
            if not tags:
                st["none_found"] += 1
    if verbose and extra:
        problems.append(f"fetched {extra} extra bytes in {requests} requests: {rel}")
    if full and not tags:
        problems.append(f"no tags (exifread finds {len(full)}): {rel}")
    elif full and verbose:
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
    return spans


def report(stats: dict, fetched: dict, blocks: dict, problems: list[str]) -> None:
    """Print the recall table, the blocks table and the notes."""
    cols = ("format", "files", "tag recall", "no-tags", "dims ok", "dims vs ME only",
            "format ok", "hash ok", "median", "p95", "max", "total KB", "vs prefix",
            "max follow-ups", "followed", "follow-ups", "multi-range", "incomplete")
    print(" | ".join(cols))
    order = sorted(k for k in stats if k != "total") + ["total"]
    for key in order:
        st, sizes = stats[key], sorted(fetched[key])
        p95 = sizes[min(len(sizes) - 1, int(0.95 * len(sizes)))]
        print(" | ".join(str(x) for x in (
            key, st["files"], f"{pct(st['tags_hit'], st['tags'])} of {st['tags']}",
            st["none_found"], f"{st['dims_ok']}/{st['dims_n']}",
            f"{st['dims_me_ok']}/{st['dims_me_n']}", f"{st['fmt_ok']}/{st['fmt_n']}",
            f"{st['hash_ok']}/{st['hash_n']}",
            int(statistics.median(sizes)), p95, sizes[-1], st["fetched"] // 1024,
            f"{st['fetched'] / st['prefix']:.3f}x", st["max_requests"], st["followed"],
            st["follow_ups"], st["multirange"], st["incomplete"])))
    groups = sorted({g for key in blocks for g in blocks[key]})
    print("\nblocks held / in the whole file: format | " + " | ".join(groups))
    for key in order:
        row = [f"{blocks[key][g][1]}/{blocks[key][g][0]}" if g in blocks[key] else "-"
               for g in groups]
        print(" | ".join([key, *row]))
    if problems:
        print("\nnotes:")
        for line in problems:
            print("  " + line)


if __name__ == "__main__":
    sys.exit(main())
