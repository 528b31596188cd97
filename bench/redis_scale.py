"""Throughput of workers on one shared frontier (issue 16): 1, 2 and 4 ``scrapy crawl
images`` processes on one Redis, over loopback.

Not part of CI. One command (Debian's nginx and redis-server):

    python bench/redis_scale.py                     # 20,000 image URLs, 1/2/4 workers
    python bench/redis_scale.py --scale 5000 --workers 1 2

What it does:

1. builds the ``bench/speed.py --scale N`` site: the corpus served again under
   ``/img/r0001/``, ``/img/r0002/``, ... (symlinks), pages of 20 image URLs each,
   served by nginx on a free loopback port;
2. starts ``redis-server`` (no persistence) on a free port;
3. runs imgprint once as one process without Redis (the embedded frontier: the
   baseline), then for each worker count a fresh crawl (``IMGPRINT_REDIS_CRAWL``
   named after it) with that many workers started at once, all given the same
   seed file;
4. measures per run: wall time until the last worker exits, images recorded
   (distinct URLs over every worker's feed; duplicates are reported), records per
   worker, each worker's CPU seconds and peak RSS, Redis's CPU seconds (from
   ``/proc``), the commands it processed (``INFO stats``, script calls counted
   once) and its memory per image.

From Redis's CPU seconds per image follows where one Redis saturates (one core),
the basis of docs/scaling.md's projection. Results go to ``WORKDIR/results.json``
and a Markdown table on stdout. The machine's load is printed: other processes
slow the workers, not Redis's share per image.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import speed  # noqa: E402  - the site builder, nginx and the child runner

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    def __init__(self, work: Path):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(work)],
            stdout=(work / "redis.log").open("w"), stderr=subprocess.STDOUT)
        speed.wait_port(self.port)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def cli(self, *args: str) -> str:
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], check=True,
                              capture_output=True, text=True).stdout

    def info(self) -> dict[str, str]:
        pairs = (line.split(":", 1) for line in self.cli("INFO").splitlines() if ":" in line)
        return {k: v.strip() for k, v in pairs}

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def read_feeds(feeds: list[Path]) -> tuple[int, int, list[int]]:
    """(distinct image URLs, URLs recorded twice, records per feed)."""
    seen: set[str] = set()
    twice = 0
    per = []
    for feed in feeds:
        n = 0
        for line in feed.read_text().splitlines() if feed.exists() else []:
            record = json.loads(line)
            if record.get("seen_before"):
                continue
            n += 1
            twice += record["url"] in seen
            seen.add(record["url"])
        per.append(n)
    return len(seen), twice, per


def run(work: Path, urls: Path, workers: int, redis: Redis | None, timeout: float) -> dict:
    name = f"w{workers}" if redis else "embedded"
    crawl = f"bench-{name}-{int(time.time())}"
    feeds = [work / f"{name}-{i}.jsonl" for i in range(workers)]
    sets = ["-s", "IMGPRINT_PROGRESS_BAR=false", "-s", "LOG_LEVEL=INFO"]
    if redis:
        sets += ["-s", f"IMGPRINT_REDIS_URL={redis.url}", "-s", f"IMGPRINT_REDIS_CRAWL={crawl}"]
    cmds = [[sys.executable, "-m", "scrapy", "crawl", "images", "-a", f"urls={urls}", "-O",
             str(feed), *sets] for feed in feeds]
    before = (redis.cpu(), int(redis.info()["total_commands_processed"])) if redis else None
    speed.log(f"{name}: {workers} process(es)")
    wall, codes, usage = speed.run_children(cmds, ROOT, [f.with_suffix(".log") for f in feeds],
                                            timeout, env={**os.environ, "PYTHONPATH": str(ROOT)})
    images, twice, per = read_feeds(feeds)
    result = {"run": name, "workers": workers, "wall_s": round(wall, 2), "images": images,
              "twice": twice, "per_worker": per, "exit": codes,
              "images_per_s": round(images / wall, 1),
              "worker_cpu_s": [round(u.get("cpu", 0), 1) for u in usage],
              "worker_rss_mb": [round(u.get("rss_mb", 0)) for u in usage]}
    if redis and before:
        info = redis.info()
        cpu = redis.cpu() - before[0]
        commands = int(info["total_commands_processed"]) - before[1]
        result.update(redis_cpu_s=round(cpu, 2), redis_cpu_share=round(cpu / wall, 3),
                      redis_cpu_ms_per_image=round(1000 * cpu / max(images, 1), 4),
                      redis_commands_per_image=round(commands / max(images, 1), 2),
                      redis_memory_mb=round(int(info["used_memory"]) / 2**20, 1))
    speed.log(json.dumps(result))
    return result


def table(results: list[dict]) -> str:
    base = next((r for r in results if r["workers"] == 1 and r["run"] != "embedded"), None)
    rows = ["| run | workers | images | wall s | images/s | vs 1 worker | records per worker"
            " | Redis CPU (share of wall) | Redis ms CPU/image | Redis commands/image"
            " | worker peak RSS MB |", "|" + "---|" * 11]
    for r in results:
        ratio = f"{r['images_per_s'] / base['images_per_s']:.2f}x" if base else ""
        rows.append(
            f"| {r['run']} | {r['workers']} | {r['images']} | {r['wall_s']} |"
            f" {r['images_per_s']} | {ratio if r['run'] != 'embedded' else ''} |"
            f" {' / '.join(map(str, r['per_worker']))} |"
            f" {r.get('redis_cpu_s', '-')} s ({100 * r.get('redis_cpu_share', 0):.1f} %) |"
            f" {r.get('redis_cpu_ms_per_image', '-')} | {r.get('redis_commands_per_image', '-')} |"
            f" {' / '.join(map(str, r['worker_rss_mb']))} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=20000, help="image URLs on the site")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/imgprint-redis-scale"))
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--no-embedded", action="store_true", help="skip the Redis-less run")
    args = parser.parse_args()
    for program in ("nginx", "redis-server", "redis-cli"):
        if not shutil.which(program) and not Path(f"/usr/sbin/{program}").exists():
            sys.exit(f"{program} is missing")
    args.workdir.mkdir(parents=True, exist_ok=True)
    speed.log(f"load average {os.getloadavg()}, {os.cpu_count()} CPUs")
    site = speed.build_site(args.workdir, args.scale)
    speed.PORT = free_port()  # speed.Server serves on this port
    results = []
    redis = Redis(args.workdir)
    try:
        with speed.Server(site, "loopback", use_netem=False) as server:
            urls = server.urls_file()
            if not args.no_embedded:
                results.append(run(args.workdir, urls, 1, None, args.timeout))
            for n in args.workers:
                results.append(run(args.workdir, urls, n, redis, args.timeout))
    finally:
        redis.stop()
    speed.log(f"load average {os.getloadavg()}")
    (args.workdir / "results.json").write_text(json.dumps(results, indent=1))
    print(table(results))


if __name__ == "__main__":
    main()
