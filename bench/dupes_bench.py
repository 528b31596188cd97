"""Benchmark ``scrapy dupes`` on synthetic feeds.

Writes N records as JSON lines (realistic imgprint records: a small EXIF dict,
the 128-byte sample, one or two pages, a phash and a PDQ hash with its
quality, 10 % of them under 50), with a share of exact duplicates (same
hashes under another URL, on another site), of near-duplicates (the phash of
an earlier image with 1..8 bits flipped, its PDQ with 1..30, other hashes) and
of ``seen_before`` records, and a known-image list of N/10 entries (a quarter
each of sha256_first_10240_bytes, content_sha256, pdq, phash; half taken from
the feed, PDQ and phash with a few bits flipped, half never seen); then runs
the real command in a child process: exact and site groups only
(``--no-near --no-details``), the same with the second reading for each copy's
pages and metadata (``--no-near``), everything, and ``--known`` (without the
near search); it prints wall time, the command's phase timings and the child's
peak RSS. Last, the PDQ index alone: 10,000 known hashes queried at distance 31
by multi-index hashing and by a brute-force numpy scan, side by side (PDQ's own
figure: 30 us a query). The feed is generated in a child process too: Linux
carries a parent's RSS high-water mark into its children's ``ru_maxrss``, so
the parent must stay small for that figure to be the command's own.

    .venv/bin/python bench/dupes_bench.py                  # 1,000,000 and 100,000
    .venv/bin/python bench/dupes_bench.py -n 200000 --sizes 200000
    .venv/bin/python bench/dupes_bench.py --index-only      # the PDQ index line
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


def flip(value: int, width: int, count: int, rnd: random.Random) -> int:
    for b in rnd.sample(range(width), count):
        value ^= 1 << b
    return value


def generate(path: Path, n: int, seed: int = 1) -> dict[str, int]:
    """Write ``n`` records to ``path`` and a known list beside it (``.known.csv``);
    returns how many of each kind."""
    rnd = random.Random(seed)
    bits = rnd.getrandbits
    made: list[tuple[str, str, str, int, int]] = []  # url, content, seed hash, phash, pdq
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
                _, content, first, phash, pdq = made[rnd.randrange(len(made))]
                counts["exact"] += 1
            else:
                content, first = f"{bits(256):064x}", f"{bits(256):064x}"
                if made and r < SEEN_BEFORE_SHARE + EXACT_SHARE + NEAR_SHARE:
                    _, _, _, phash, pdq = made[rnd.randrange(len(made))]
                    phash = flip(phash, 64, rnd.randint(1, 8), rnd)
                    pdq = flip(pdq, 256, rnd.randint(1, 30), rnd)
                    counts["near"] += 1
                else:
                    phash, pdq = bits(64), bits(256)
                    counts["unique"] += 1
            made.append((url, content, first, phash, pdq))
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
                "phash_source": "progressive_scan",
                "pdq": f"{pdq:064x}",
                "pdq_quality": 40 + rnd.randrange(61),
            }
            f.write(json.dumps(rec) + "\n")
    write_known(path.with_suffix(".known.csv"), made, n // 10, rnd)
    return counts


def write_known(path: Path, made: list[tuple[str, str, str, int, int]], k: int,
                rnd: random.Random) -> None:
    """A known list of ``k`` entries: half from the feed, half never seen."""
    with path.open("w", encoding="utf-8") as f:
        f.write("label,sha256_first_10240_bytes,content_sha256,pdq,phash\n")
        for n in range(k):
            _, content, first, phash, pdq = made[rnd.randrange(len(made))]
            if n % 2:  # never seen
                content, first = f"{rnd.getrandbits(256):064x}", f"{rnd.getrandbits(256):064x}"
                phash, pdq = rnd.getrandbits(64), rnd.getrandbits(256)
            else:
                phash, pdq = flip(phash, 64, rnd.randint(0, 4), rnd), flip(pdq, 256,
                                                                            rnd.randint(0, 20), rnd)
            cells = [first, "", "", ""] if n % 8 < 2 else (
                ["", content, "", ""] if n % 8 < 4 else (
                    ["", "", f"{pdq:064x}", ""] if n % 8 < 6 else ["", "", "", f"{phash:016x}"]))
            f.write(f"entry {n}," + ",".join(cells) + "\n")


def index_bench(table_n: int = 10_000, queries_n: int = 10_000, distance: int = 31) -> None:
    """PDQ cross join: multi-index hashing against a brute-force numpy scan."""
    import numpy as np

    sys.path.insert(0, str(ROOT))
    from imgprint.dupes.mih import cross_pairs, words_of_digests

    rnd = random.Random(5)
    table = [rnd.getrandbits(256) for _ in range(table_n)]
    queries = [flip(rnd.choice(table), 256, rnd.randint(0, 31), rnd) if q % 2
               else rnd.getrandbits(256) for q in range(queries_n)]

    def words(vals: list[int]) -> np.ndarray:
        return words_of_digests(b"".join(v.to_bytes(32, "big") for v in vals), 32)

    tw, qw = words(table), words(queries)
    t0 = time.perf_counter()
    pairs, _ = cross_pairs(qw, tw, distance, 256)
    mih_s = time.perf_counter() - t0
    sample = 500  # brute force over a sample of the queries: it is the slow one
    t0 = time.perf_counter()
    brute = [np.flatnonzero(np.bitwise_count(qw[q] ^ tw).sum(axis=1) <= distance)
             for q in range(sample)]
    brute_s = (time.perf_counter() - t0) / sample * queries_n
    same = sum(map(len, brute)) == int((pairs[0] < sample).sum())
    print(f"PDQ index: {table_n:,} known hashes, {queries_n:,} queries (half within 31 bits of "
          f"one) at distance {distance}: multi-index {mih_s / queries_n * 1e6:.1f} us a query, "
          f"brute-force numpy {brute_s / queries_n * 1e6:.0f} us a query "
          f"({brute_s / mih_s:.0f}x); {pairs.shape[1]:,} matches, "
          f"{'same' if same else 'NOT the same'} as brute force on the first {sample}",
          flush=True)


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
    ap.add_argument("--index-only", action="store_true", help="only the PDQ index line")
    args = ap.parse_args()
    if args.generate:
        print(json.dumps(generate(args.generate, args.n)))
        return
    if args.index_only:
        index_bench()
        return
    sizes = args.sizes or sorted({args.n, 100_000}, reverse=True)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        print(f"{'records':>9} {'MB':>6} {'mode':<19} {'wall s':>7} {'read':>6} {'exact':>6} "
              f"{'near':>6} {'sites':>6} {'details':>7} {'known':>6} {'RSS MB':>7}")
        for n in sizes:
            feed = Path(tmp) / f"feed-{n}.jsonl"
            t = time.perf_counter()
            counts = json.loads(subprocess.run(
                [sys.executable, __file__, "-n", str(n), "--generate", str(feed)],
                check=True, capture_output=True, text=True).stdout)
            gen = time.perf_counter() - t
            mb = feed.stat().st_size / 1e6
            print(f"# {n:,} records generated in {gen:.1f}s: {counts}", flush=True)
            known = feed.with_suffix(".known.csv")
            for mode, extra in (("exact+sites", ("--no-near", "--no-details")),
                                ("exact+sites+details", ("--no-near",)), ("all", ()),
                                ("known", ("--no-near", "--no-details", "--known", str(known)))):
                r = run(feed, *extra)
                print(f"{n:>9,} {mb:>6.0f} {mode:<19} {r['wall']:>7.1f} {r['read']:>6} "
                      f"{r['exact']:>6} {r['near']:>6} {r['sites']:>6} {r.get('details', '-'):>7} "
                      f"{r.get('known', '-'):>6} {r['rss_mb']:>7.0f}", flush=True)
                if mode == "known":
                    match, pages, read = (float(str(r[k])) for k in ("known", "pages", "read"))
                    print(f"# --known: {n // 10:,} entries matched against {n:,} records in "
                          f"{match:.2f}s ({n / match:,.0f} records a second, "
                          f"{match / read:.2f}x the read); pages of the matches read again "
                          f"in {pages:.2f}s ({pages / read:.2f}x the read)", flush=True)
            feed.unlink()
            known.unlink()
        index_bench()


if __name__ == "__main__":
    main()
