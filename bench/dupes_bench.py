"""Benchmark ``scrapy dupes`` on synthetic feeds.

Writes N records as JSON lines (realistic imgprint records: a small EXIF dict,
the 128-byte sample, one or two pages), with a share of exact duplicates (same
hashes under another URL, on another site), of near-duplicates (the phash of
an earlier image with 1..8 bits flipped, other hashes) and of ``seen_before``
records; then runs the real command three times in a child process: exact and
site groups only (``--no-near --no-details``), the same with the second reading
for each copy's pages and metadata (``--no-near``), and everything; it prints
wall time, the command's phase timings and the child's peak RSS. The feed is
generated in a child process too: Linux carries a parent's RSS high-water mark
into its children's ``ru_maxrss``, so the parent must stay small for that
figure to be the command's own.

    .venv/bin/python bench/dupes_bench.py                  # 1,000,000 and 100,000
    .venv/bin/python bench/dupes_bench.py -n 200000 --sizes 200000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

EXACT_SHARE = 0.10
NEAR_SHARE = 0.05
SEEN_BEFORE_SHARE = 0.03
SITES = 20_000


def generate(path: Path, n: int, seed: int = 1) -> dict[str, int]:
    """Write ``n`` records to ``path``; returns how many of each kind."""
    rnd = random.Random(seed)
    bits = rnd.getrandbits
    made: list[tuple[str, str, str, int]] = []  # url, content, seed hash, phash
    counts = {"exact": 0, "near": 0, "seen_before": 0, "unique": 0}
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            site = rnd.randrange(SITES)
            page = f"https://www.site{site}.com/gallery/{i % 97}.html"
            r = rnd.random()
            if made and r < SEEN_BEFORE_SHARE:
                url = made[rnd.randrange(len(made))][0]
                f.write(json.dumps({"url": url, "pages": [page], "seen_before": True,
                                    "timestamp": "2026-11-25T14:31:27Z"}) + "\n")
                counts["seen_before"] += 1
                continue
            url = f"https://img.site{site}.com/images/{i:08d}.jpg"
            if made and r < SEEN_BEFORE_SHARE + EXACT_SHARE:
                _, content, first, phash = made[rnd.randrange(len(made))]
                counts["exact"] += 1
            else:
                content, first = f"{bits(256):064x}", f"{bits(256):064x}"
                if made and r < SEEN_BEFORE_SHARE + EXACT_SHARE + NEAR_SHARE:
                    phash = made[rnd.randrange(len(made))][3]
                    for b in rnd.sample(range(64), rnd.randint(1, 8)):
                        phash ^= 1 << b
                    counts["near"] += 1
                else:
                    phash = bits(64)
                    counts["unique"] += 1
            made.append((url, content, first, phash))
            rec = {
                "url": url,
                "image_size": 20480 + bits(20),
                "etag": f"{bits(32):08x}-{bits(16):x}",
                "timestamp": "2026-11-25T14:31:27Z",
                "exif": {"Image Make": "Canon", "Image Model": "Canon PowerShot S40",
                         "EXIF ExposureTime": "1/500", "EXIF FNumber": "49/10"},
                "sha256_first_10240_bytes": first,
                "random_128_bytes_sample_start": f"{bits(1024):0256x}",
                "pages": [page] + ([f"https://blog{site}.net/"] if i % 5 == 0 else []),
                "content_type": "image/jpeg",
                "http_status": 206,
                "bytes_fetched": 10241,
                "requests": 1,
                "content_sha256": content,
                "phash": f"{phash:016x}",
            }
            f.write(json.dumps(rec) + "\n")
    return counts


def run(feed: Path, *extra: str) -> dict[str, object]:
    """One ``scrapy dupes`` run in a child; wall time, its timings line, peak RSS."""
    argv = [sys.executable, "-m", "scrapy", "dupes", "--json", "--timings", *extra, str(feed)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    stderr = proc.stderr.read() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{argv} failed ({proc.returncode}):\n{stderr}")
    phases = dict(re.findall(r"(\w+) ([\d.]+)s", stderr))
    return {"wall": wall, "rss_mb": usage.ru_maxrss / 1024, **phases}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=1_000_000, help="records (default 1,000,000)")
    ap.add_argument("--sizes", type=int, nargs="*", default=None,
                    help="record counts to run (default: N and 100,000)")
    ap.add_argument("--dir", type=Path, default=None, help="where feeds go (default: a temp dir)")
    ap.add_argument("--generate", type=Path, metavar="FILE", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate:
        print(json.dumps(generate(args.generate, args.n)))
        return
    sizes = args.sizes or sorted({args.n, 100_000}, reverse=True)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        print(f"{'records':>9} {'MB':>6} {'mode':<16} {'wall s':>7} {'read':>6} {'exact':>6} "
              f"{'near':>6} {'sites':>6} {'details':>7} {'RSS MB':>7}")
        for n in sizes:
            feed = Path(tmp) / f"feed-{n}.jsonl"
            t = time.perf_counter()
            counts = json.loads(subprocess.run(
                [sys.executable, __file__, "-n", str(n), "--generate", str(feed)],
                check=True, capture_output=True, text=True).stdout)
            gen = time.perf_counter() - t
            mb = feed.stat().st_size / 1e6
            print(f"# {n:,} records generated in {gen:.1f}s: {counts}", flush=True)
            for mode, extra in (("exact+sites", ("--no-near", "--no-details")),
                                ("exact+sites+details", ("--no-near",)), ("all", ())):
                r = run(feed, *extra)
                print(f"{n:>9,} {mb:>6.0f} {mode:<16} {r['wall']:>7.1f} {r['read']:>6} "
                      f"{r['exact']:>6} {r['near']:>6} {r['sites']:>6} {r['details']:>7} "
                      f"{r['rss_mb']:>7.0f}", flush=True)
            feed.unlink()


if __name__ == "__main__":
    main()
