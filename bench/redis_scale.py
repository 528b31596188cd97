"""Throughput of workers on one shared frontier (issue 16): 1, 2 and 4 ``scrapy crawl
images`` processes on one Redis, over loopback.

Not part of CI. One command (Debian's nginx and redis-server):

    .venv/bin/python -m bench.redis_scale                  # 20,000 image URLs, 1/2/4 workers
    .venv/bin/python -m bench.redis_scale --scale 5000 --workers 1 2
    .venv/bin/python -m bench.redis_scale --scale 6000 --kill-after 4   # SIGKILL one of 2 workers

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
   worker, each worker's CPU seconds and peak RSS, images per worker CPU second,
   Redis's CPU seconds (from ``/proc``), the workers' round trips to it (stat
   ``imgprint/redis/round_trips``), the commands it ran (``INFO stats``: the
   commands inside scripts included) and its memory growth per image; nginx's
   CPU seconds; the cores the whole machine kept busy (``/proc/stat``) and the
   part of them no process of this run used (other jobs on the machine).

From Redis's CPU seconds per image follows where one Redis saturates (one core),
the basis of docs/scaling.md's projection. Results go to ``WORKDIR/results.json``
and a Markdown table on stdout. The machine's load is printed: other processes
slow the workers, not Redis's share per image.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench import speed  # the site builder, nginx and the child runner

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_cpu(pid: int) -> float:
    """CPU seconds of a process and its waited-for children (``/proc/PID/stat``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / TICKS


def nginx_cpu(site: Path) -> float:
    """CPU seconds of the site's nginx master and workers."""
    master = int((site / "nginx.pid").read_text())
    pids = [master] + [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                       and _ppid(int(p.name)) == master]
    return sum(process_cpu(p) for p in pids)


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy so far (``/proc/stat``)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / TICKS


def stat_total(logs: list[Path], key: str) -> int:
    """A stats key summed over the workers' closing stats dumps."""
    pattern = re.compile(rf"'{re.escape(key)}': (\d+)")
    return sum(int(m.group(1)) for log in logs if log.exists()
               for m in pattern.finditer(log.read_text()))


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
        return process_cpu(self.proc.pid)

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


def run(work: Path, site: Path, urls: Path, workers: int, redis: Redis | None,
        timeout: float) -> dict:
    name = f"w{workers}" if redis else "embedded"
    crawl = f"bench-{name}-{int(time.time())}"
    feeds = [work / f"{name}-{i}.jsonl" for i in range(workers)]
    sets = ["-s", "IMGPRINT_PROGRESS_BAR=false", "-s", "LOG_LEVEL=INFO"]
    if redis:
        sets += ["-s", f"IMGPRINT_REDIS_URL={redis.url}", "-s", f"IMGPRINT_REDIS_CRAWL={crawl}"]
    cmds = [[sys.executable, "-m", "scrapy", "crawl", "images", "-a", f"urls={urls}", "-O",
             str(feed), *sets] for feed in feeds]
    before = (redis.cpu(), int(redis.info()["total_commands_processed"]),
              int(redis.info()["used_memory"])) if redis else None
    speed.log(f"{name}: {workers} process(es)")
    logs = [f.with_suffix(".log") for f in feeds]
    machine, web = machine_busy(), nginx_cpu(site)
    wall, codes, usage = speed.run_children(cmds, ROOT, logs, timeout,
                                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    machine, web = machine_busy() - machine, nginx_cpu(site) - web
    images, twice, per = read_feeds(feeds)
    result = {"run": name, "workers": workers, "wall_s": round(wall, 2), "images": images,
              "twice": twice, "per_worker": per, "exit": codes,
              "images_per_s": round(images / wall, 1),
              "worker_cpu_s": [round(u.get("cpu", 0), 1) for u in usage],
              "worker_rss_mb": [round(u.get("rss_mb", 0)) for u in usage],
              "images_per_worker_cpu_s": round(images / max(sum(u.get("cpu", 0) for u in usage),
                                                            0.1), 1),
              "machine_cores_busy": round(machine / wall, 2), "nginx_cpu_s": round(web, 1)}
    ours = sum(u.get("cpu", 0) for u in usage) + web
    if redis and before:
        info = redis.info()
        cpu = redis.cpu() - before[0]
        ours += cpu
        commands = int(info["total_commands_processed"]) - before[1]
        trips = stat_total(logs, "imgprint/redis/round_trips")
        result.update(redis_cpu_s=round(cpu, 2), redis_cpu_share=round(cpu / wall, 3),
                      redis_cpu_ms_per_image=round(1000 * cpu / max(images, 1), 4),
                      redis_commands_per_image=round(commands / max(images, 1), 2),
                      round_trips_per_image=round(trips / max(images, 1), 2),
                      redis_memory_bytes_per_image=round(
                          (int(info["used_memory"]) - before[2]) / max(images, 1)))
    # Other processes on the machine (other users' jobs) took the rest.
    result["others_cores_busy"] = round(max(machine - ours, 0) / wall, 2)
    speed.log(json.dumps(result))
    return result


def kill_run(work: Path, urls: Path, workers: int, redis: Redis, after: float,
             expected: int) -> dict:
    """``workers`` workers; the first SIGKILLed ``after`` seconds after it opened
    its spider: are all ``expected`` images recorded once?"""
    crawl = f"bench-kill-{int(time.time())}"
    feeds = [work / f"kill-{i}.jsonl" for i in range(workers)]
    logs = [f.with_suffix(".log") for f in feeds]
    procs = []
    for feed, log in zip(feeds, logs, strict=True):
        cmd = [sys.executable, "-m", "scrapy", "crawl", "images", "-a", f"urls={urls}", "-O",
               str(feed), "-s", "IMGPRINT_PROGRESS_BAR=false", "-s",
               f"IMGPRINT_REDIS_URL={redis.url}", "-s", f"IMGPRINT_REDIS_CRAWL={crawl}",
               "-s", "IMGPRINT_REDIS_LEASE=6", "-s", "IMGPRINT_REDIS_RETRY=2"]
        procs.append(subprocess.Popen(cmd, cwd=ROOT, stdout=log.open("w"),
                                      stderr=subprocess.STDOUT,
                                      env={**os.environ, "PYTHONPATH": str(ROOT)}))
    while "Spider opened" not in logs[0].read_text():
        time.sleep(0.05)
    time.sleep(after)
    queued = int(redis.cli("ZCARD", f"imgprint:{{{crawl}}}:queue").strip())
    leased = int(redis.cli("ZCARD", f"imgprint:{{{crawl}}}:leases").strip())
    procs[0].kill()
    codes = [p.wait(3600) for p in procs]
    images, twice, per = read_feeds(feeds)
    result = {"run": "kill", "workers": workers, "killed_after_s": after,
              "queued_at_kill": queued, "leased_at_kill": leased, "images": images,
              "expected": expected, "lost": expected - images, "twice": twice,
              "per_worker": per, "exit": codes,
              "requeued": stat_total(logs[1:], "imgprint/redis/requeued")}
    speed.log(json.dumps(result))
    return result


def table(results: list[dict]) -> str:
    base = next((r for r in results if r["workers"] == 1 and r["run"] != "embedded"), None)
    rows = ["| run | workers | images | wall s | images/s | vs 1 worker | records per worker"
            " | images per worker CPU s | worker peak RSS MB | Redis CPU (share of wall)"
            " | Redis CPU ms/image | round trips/image | Redis commands/image"
            " | Redis bytes/image | nginx CPU s | cores busy: machine / others |",
            "|" + "---|" * 16]
    for r in results:
        ratio = f"{r['images_per_s'] / base['images_per_s']:.2f}x" if base else ""
        redis_cpu = (f"{r['redis_cpu_s']} s ({100 * r['redis_cpu_share']:.1f} %)"
                     if "redis_cpu_s" in r else "-")
        rows.append(
            f"| {r['run']} | {r['workers']} | {r['images']} | {r['wall_s']} |"
            f" {r['images_per_s']} | {ratio if r['run'] != 'embedded' else ''} |"
            f" {' / '.join(map(str, r['per_worker']))} | {r['images_per_worker_cpu_s']} |"
            f" {' / '.join(map(str, r['worker_rss_mb']))} | {redis_cpu} |"
            f" {r.get('redis_cpu_ms_per_image', '-')} | {r.get('round_trips_per_image', '-')} |"
            f" {r.get('redis_commands_per_image', '-')} |"
            f" {r.get('redis_memory_bytes_per_image', '-')} | {r['nginx_cpu_s']} |"
            f" {r['machine_cores_busy']} / {r['others_cores_busy']} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=20000, help="image URLs on the site")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/imgprint-redis-scale"))
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--no-embedded", action="store_true", help="skip the Redis-less run")
    parser.add_argument("--kill-after", type=float, default=0,
                        help="only a kill run: 2 workers, the first SIGKILLed after this many s")
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
            if args.kill_after:
                kill_run(args.workdir, urls, 2, redis, args.kill_after, args.scale)
                return
            if not args.no_embedded:
                results.append(run(args.workdir, site, urls, 1, None, args.timeout))
            for n in args.workers:
                results.append(run(args.workdir, site, urls, n, redis, args.timeout))
    finally:
        redis.stop()
    speed.log(f"load average {os.getloadavg()}")
    (args.workdir / "results.json").write_text(json.dumps(results, indent=1))
    print(table(results))


if __name__ == "__main__":
    main()
