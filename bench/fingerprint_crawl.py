"""How well each fingerprint finds copies of an image, measured on a real crawl
(metadata edits, strips, re-encodes with EXIF copied back; bench/fingerprint_eval.py
measures the perceptual hashes over Pillow copies without a crawl).

    .venv/bin/python bench/fingerprint_crawl.py [--limit N] [--keep DIR]

From the corpus JPEGs (/work/shared/corpus, not the fuzzing folder) it builds a
site in a temporary folder: each source image, and transformed copies of it:

* ``copy``: byte-identical, other name;
* ``dates``, ``gps``, ``strip``: ExifTool edits (dates shifted and an Artist
  tag, GPS position added, all metadata removed);
* ``q70``: re-encoded by Pillow at quality 70, its EXIF (with the old thumbnail)
  copied back by ExifTool, as ExifTool-based workflows do;
* ``half``: resized to 50%, EXIF copied back, thumbnail regenerated from the
  new pixels (as a photo editor does);
* ``crop``: 4% cut off every side, EXIF copied back, thumbnail regenerated;
* ``prog->half``: the source re-encoded as a progressive JPEG without EXIF, and
  that resized to 50% (progressive): both get their phash from the first scan.

The site is served by tests.servers.static_site and crawled with
``scrapy crawl images`` (IMGPRINT_MIN_SIZE=0, so small copies get hashes too).
For every fingerprint (seed ``sha256_first_10240_bytes``, ``content_sha256``,
``phash`` at Hamming thresholds 0/4/8/12) and transformation it prints recall
(share of source/copy pairs that match) and precision (share of matching
source/copy pairs that are of the same source), and the Hamming distance
between each record's phash and imagehash.phash of the whole file.
Needs ExifTool (Debian: libimage-exiftool-perl).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from urllib.parse import unquote, urlsplit

import imagehash
from PIL import Image

from bench.harness import CORPUS, SITE_TOOL, run_crawl, static_server

TRANSFORMS = ["copy", "dates", "gps", "strip", "q70", "half", "crop", "prog->half"]
THRESHOLDS = [0, 4, 8, 12]


def sources(limit: int | None) -> list[Path]:
    """Decodable corpus JPEGs, one per distinct picture (the corpus holds the same
    photo under several names, which would count as false matches)."""
    out = []
    seen: set[bytes] = set()
    for path in sorted(CORPUS.rglob("*")):
        if path.suffix.lower() not in (".jpg", ".jpeg") or "fuzz" in str(path).lower():
            continue
        try:
            with Image.open(path) as im:
                im.load()
                if min(im.size) < 64 or im.mode not in ("RGB", "L", "CMYK"):
                    continue
                pixels = hashlib.sha256(im.tobytes()).digest()
                if pixels in seen:
                    continue
                seen.add(pixels)
        except Exception:  # noqa: BLE001 - a file Pillow cannot decode is no source
            continue
        out.append(path)
    return out[:limit] if limit else out


def exiftool(*args: str) -> None:
    subprocess.run(["exiftool", "-q", "-q", "-m", "-overwrite_original", *args],
                   capture_output=True, check=False)


def thumbnail(path: Path, dest: Path) -> None:
    with Image.open(path) as opened:
        im = opened.convert("RGB")
        im.thumbnail((160, 160))
        im.save(dest, "JPEG", quality=75)


def build(srcs: list[Path], img: Path) -> None:
    dirs = {t: img / t.replace("->", "_") for t in ["src", "progsrc", *TRANSFORMS]}
    for d in dirs.values():
        d.mkdir(parents=True)
    thumbs = img.parent / "thumbs"
    thumbs.mkdir()
    for i, src in enumerate(srcs):
        name = f"{i:04d}.jpg"
        for t in ("src", "copy", "dates", "gps", "strip"):
            shutil.copyfile(src, dirs[t] / name)
        with Image.open(src) as im:
            im.load()
            rgb = im.convert("RGB") if im.mode == "CMYK" else im
            rgb.save(dirs["q70"] / name, "JPEG", quality=70)
            w, h = rgb.size
            rgb.resize((max(1, w // 2), max(1, h // 2)), Image.Resampling.LANCZOS).save(
                dirs["half"] / name, "JPEG", quality=85)
            dx, dy = w * 4 // 100, h * 4 // 100
            rgb.crop((dx, dy, w - dx, h - dy)).save(dirs["crop"] / name, "JPEG", quality=85)
            rgb.save(dirs["progsrc"] / name, "JPEG", quality=90, progressive=True)
            rgb.resize((max(1, w // 2), max(1, h // 2)), Image.Resampling.LANCZOS).save(
                dirs["prog->half"] / name, "JPEG", quality=85, progressive=True)
        for t in ("half", "crop"):
            thumbnail(dirs[t] / name, thumbs / f"{t}-{name}")
    # One ExifTool run per transformation (Perl start-up dominates otherwise).
    exiftool("-AllDates+=1:0:0 0", "-Artist=fingerprint_eval", str(dirs["dates"]))
    exiftool("-GPSLatitude=48.8584", "-GPSLatitudeRef=N", "-GPSLongitude=2.2945",
             "-GPSLongitudeRef=E", str(dirs["gps"]))
    exiftool("-all=", str(dirs["strip"]))
    for t in ("q70", "half", "crop"):
        exiftool("-TagsFromFile", str(dirs["src"]) + "/%f.%e", "-all:all", str(dirs[t]))
    for t in ("half", "crop"):
        exiftool(f"-ThumbnailImage<={thumbs}/{t}-%f.%e", str(dirs[t]))


def crawl(root: Path, work: Path) -> list[dict]:
    subprocess.run([sys.executable, str(SITE_TOOL), "build", str(root / "img"), str(root / "site")],
                   check=True, capture_output=True)
    server = static_server(root / "site", work / "access.jsonl")
    try:
        pages = sorted((root / "site" / "pages").glob("*.html"))
        seeds = work / "urls.txt"
        seeds.write_text("".join(server.url(f"/pages/{p.name}") + "\n" for p in pages))
        result = run_crawl(work, "-a", f"urls={seeds}", settings={"IMGPRINT_MIN_SIZE": 0})
        if result.returncode:
            raise SystemExit(result.log[-3000:])
        return [r for r in result.records if not r.get("seen_before")]
    finally:
        server.stop()


def hamming(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def evaluate(records: list[dict], img: Path) -> tuple[str, dict]:
    by_group: dict[str, dict[str, dict]] = defaultdict(dict)
    for r in records:
        rel = unquote(urlsplit(r["url"]).path).split("/img/", 1)[1]
        group, name = rel.split("/")
        r["_path"] = img / group / name
        by_group[group][name] = r
    base_of = {t: ("progsrc" if t == "prog->half" else "src") for t in TRANSFORMS}

    def match(kind: str, a: dict, b: dict) -> bool:
        if kind.startswith("phash"):
            t = int(kind.split("≤")[1])
            return bool(a.get("phash") and b.get("phash")) and hamming(a["phash"], b["phash"]) <= t
        return bool(a.get(kind)) and a.get(kind) == b.get(kind)

    kinds = ["sha256_first_10240_bytes", "content_sha256"] + [f"phash≤{t}" for t in THRESHOLDS]
    lines = ["| fingerprint | " + " | ".join(TRANSFORMS) + " |",
             "|---|" + "---|" * len(TRANSFORMS)]
    results: dict = {}
    for kind in kinds:
        cells = []
        for t in TRANSFORMS:
            base = by_group[base_of[t]]
            copies = by_group[t.replace("->", "_")]
            names = sorted(set(base) & set(copies))
            if kind.startswith("phash"):
                # Recall only over sources whose hash exists (a thumbnail or scan).
                names = [n for n in names if base[n].get("phash")]
            hits = sum(match(kind, base[n], copies[n]) for n in names)
            true_pos = false_pos = 0
            for n in names:
                for m in names:
                    if match(kind, base[n], copies[m]):
                        if n == m:
                            true_pos += 1
                        else:
                            false_pos += 1
            recall = hits / len(names) if names else float("nan")
            precision = true_pos / (true_pos + false_pos) if true_pos + false_pos else float("nan")
            results[(kind, t)] = (precision, recall, len(names))
            cells.append(f"{100 * precision:.0f} / {100 * recall:.0f} ({len(names)})")
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    # phash of the small image against the phash of the whole file.
    dist: dict[str, list[int]] = defaultdict(list)
    for group in ("src", "progsrc"):
        for r in by_group[group].values():
            if r.get("phash"):
                with Image.open(r["_path"]) as im:
                    full = str(imagehash.phash(im))
                dist[r["phash_source"]].append(hamming(full, r["phash"]))
    lines.append("")
    lines.append("| phash source | images | median distance to full-image phash | p95 |")
    lines.append("|---|---|---|---|")
    for source, values in sorted(dist.items()):
        values.sort()
        p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
        lines.append(f"| {source} | {len(values)} | {statistics.median(values):g} | {p95} |")
    coverage = {g: (sum(bool(r.get("phash")) for r in rs.values()), len(rs))
                for g, rs in by_group.items()}
    lines.append("")
    lines.append("phash present (records with phash / records): " + ", ".join(
        f"{g} {a}/{b}" for g, (a, b) in sorted(coverage.items())))
    requests = [r.get("requests", 0) for r in records]
    fetched = statistics.mean(r.get("bytes_fetched", 0) for r in records)
    lines.append(f"requests per image: mean {statistics.mean(requests):.2f}, max {max(requests)};"
                 f" bytes per image: mean {fetched:.0f}")
    return "\n".join(lines), results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=None, help="at most N source images")
    ap.add_argument("--keep", type=Path, help="build the site here and keep it")
    ap.add_argument("--json", type=Path, help="also write the records here")
    args = ap.parse_args()
    if not shutil.which("exiftool"):
        raise SystemExit("exiftool not found (Debian: apt-get install libimage-exiftool-perl)")
    root = args.keep or Path(tempfile.mkdtemp(prefix="fingerprint-eval-"))
    try:
        srcs = sources(args.limit)
        print(f"{len(srcs)} source JPEGs, {len(TRANSFORMS)} transformations", file=sys.stderr)
        build(srcs, root / "img")
        work = root / "work"
        work.mkdir()
        records = crawl(root, work)
        if args.json:
            args.json.write_text("".join(json.dumps(r) + "\n" for r in records))
        table, _ = evaluate(records, root / "img")
        print("precision % / recall % (pairs), per transformation\n")
        print(table)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
