"""Benchmark imgprint against full downloads over emulated links (issue 7).

Not part of CI. One command, as root (nginx, and network namespaces if the
kernel has netem):

    .venv/bin/python bench/speed.py                      # all links, corpus site
    .venv/bin/python bench/speed.py --links loopback --scale 10000 100000
    .venv/bin/python bench/speed.py --quick              # defaults + baseline only

What it does:

1. builds a static site over ``../shared/corpus`` with ``../shared/tools/site.py``
   (493 images, 25 pages; ``fuzzing/`` holds no image extension, so it is never
   referenced) and, for ``--scale N``, a site whose pages reference N image URLs:
   the corpus tree served again under ``/img/r0001/``, ``/img/r0002/``, ...
   (symlinks) with generated pages of the same markup;
2. serves it with Debian's nginx and an access log carrying ``$bytes_sent``;
3. puts it behind each link: ``loopback`` (none), ``wan`` (100 ms RTT, 20 Mbit/s),
   ``tor`` (1 s RTT, 2 Mbit/s, per-host concurrency ``--tor-concurrency``):
   ``../shared/tools/netsite.sh`` (nginx in a network namespace behind tc netem)
   when the kernel has netem, else ``../shared/tools/latency_proxy.py``;
4. on the same link, runs ``scrapy crawl images`` (imgprint, from the project
   directory, with its defaults; then the fetch-mode/follow-up variants) and
   ``scrapy runspider baseline_full.py`` (from outside the project, so it gets
   Scrapy's own defaults, not imgprint's settings);
5. prints, per run: wall time, crawl time (Scrapy's ``elapsed_time_seconds``),
   bytes sent by the server, HTTP requests per image, CPU seconds, peak RSS,
   images/s; then the imgprint/baseline ratios and the goals.

Results also go to ``WORKDIR/results.json``. Every child run has a timeout;
nginx, proxies and namespaces are removed at exit (also on Ctrl-C).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus"
TOOLS = SHARED / "tools"
PY = ROOT / ".venv" / "bin" / "python"
SCRAPY = ROOT / ".venv" / "bin" / "scrapy"
IMG_EXT = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".heic", ".heif", ".avif"}
GIF = "data:image/gif;base64,R0lGODlhAQABAAAAACw="
PREFIX = 10241
MIN_SIZE = 20480
PORT = 18431
PROXY_PORT = 18432

# name: (one-way delay ms, rate bytes/s, RTT s); None: no emulation.
LINKS = {
    "loopback": None,
    "wan": (50, 20_000_000 / 8),
    "tor": (500, 2_000_000 / 8),
}
LINK_TITLES = {"loopback": "loopback (no emulation)", "wan": "100 ms RTT / 20 Mbit/s",
               "tor": "Tor-like 1 s RTT / 2 Mbit/s"}
VARIANTS = {  # imgprint runs besides the defaults: fetch mode x follow-ups
    "range/f2": {"IMGPRINT_FETCH_MODE": "range", "IMGPRINT_FOLLOWUPS": "2"},
    "range/f0": {"IMGPRINT_FETCH_MODE": "range", "IMGPRINT_FOLLOWUPS": "0"},
    "head/f2": {"IMGPRINT_FETCH_MODE": "head", "IMGPRINT_FOLLOWUPS": "2"},
    "head/f0": {"IMGPRINT_FETCH_MODE": "head", "IMGPRINT_FOLLOWUPS": "0"},
}

NGINX_CONF = """
daemon on; worker_processes 1; pid {site}/nginx.pid; error_log {site}/error.log;
events {{ worker_connections 4096; }}
http {{
  log_format bench '$msec $status $request_method "$request_uri" $bytes_sent $request_length';
  access_log {site}/access.log bench;
  default_type application/octet-stream;
  types {{ text/html html; image/jpeg jpg jpeg; image/png png; image/webp webp; image/gif gif;
          image/tiff tif tiff; image/heic heic; image/heif heif; image/avif avif; }}
  client_body_temp_path {site}/tmp; proxy_temp_path {site}/tmp; fastcgi_temp_path {site}/tmp;
  uwsgi_temp_path {site}/tmp; scgi_temp_path {site}/tmp;
  sendfile on; keepalive_requests 100000; keepalive_timeout 300s;
  open_file_cache max=20000 inactive=60s;
  server {{ listen 127.0.0.1:{port}; root {site}; }}
}}
"""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- the site ------------------------------------------------------------------
def corpus_images() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.is_file()
                  and p.suffix.lower() in IMG_EXT and "fuzzing" not in p.relative_to(CORPUS).parts)


def link_limit(rate: float, rtt: float) -> tuple[int, float]:
    """Bytes any tool must fetch (the prefix of every image >= MIN_SIZE) and the
    link's own time for them: bytes / rate + two round trips."""
    need = sum(PREFIX for p in corpus_images() if p.stat().st_size >= MIN_SIZE)
    return need, need / rate + 2 * rtt


def page_html(n: int, urls: list[str], last: bool) -> str:
    """Same markup as site.py: src, data-src and <picture> srcset variants."""
    tags = []
    for k, url in enumerate(urls):
        if k % 5 == 3:
            tags.append(f'<img data-src="{url}" src="{GIF}" alt="">')
        elif k % 5 == 4:
            tags.append(f'<picture><source srcset="{url} 1x"><img src="{url}" alt=""></picture>')
        else:
            tags.append(f'<img src="{url}" alt="">')
    nxt = "" if last else f'<a href="/pages/{n + 1:05d}.html">next</a>'
    return (f"<!doctype html><html><head><title>page {n}</title></head><body>\n"
            + "\n".join(tags) + f"\n{nxt}\n</body></html>\n")


def build_site(work: Path, scale: int | None) -> Path:
    """The corpus site (site.py) or one with `scale` image URLs; returns its dir."""
    site = work / ("site" if scale is None else f"site-{scale}")
    if (site / "urls.txt").exists():
        return site
    if scale is None:
        subprocess.run([sys.executable, str(TOOLS / "site.py"), "build", str(CORPUS), str(site)],
                       check=True, stdout=subprocess.DEVNULL)
        assert "fuzzing" not in "".join(p.read_text() for p in (site / "pages").iterdir())
        return site
    rels = ["/".join(html.escape(s, quote=True).replace(" ", "%20") for s in
                     p.relative_to(CORPUS).as_posix().split("/")) for p in corpus_images()]
    copies = -(-scale // len(rels))
    (site / "img").mkdir(parents=True, exist_ok=True)
    (site / "pages").mkdir(exist_ok=True)
    for r in range(1, copies + 1):
        link = site / "img" / f"r{r:04d}"
        if not link.exists():
            link.symlink_to(CORPUS)
    urls = [f"/img/r{r:04d}/{rel}" for r in range(1, copies + 1) for rel in rels][:scale]
    chunks = [urls[i:i + 20] for i in range(0, len(urls), 20)]
    for n, chunk in enumerate(chunks):
        (site / "pages" / f"{n:05d}.html").write_text(page_html(n, chunk, n + 1 == len(chunks)))
    seeds = "".join(f"PAGE/pages/{n:05d}.html\n" for n in range(len(chunks)))
    (site / "urls.txt").write_text(seeds)
    return site


class Server:
    """nginx over a site, optionally behind an emulated link. Use as a context."""

    def __init__(self, site: Path, link: str, use_netem: bool):
        self.site, self.link, self.use_netem = site, link, use_netem
        self.proxy: subprocess.Popen | None = None
        self.netns = False
        self.nginx = False  # a loopback nginx started here
        self.base = ""

    def __enter__(self) -> Server:
        site = self.site.resolve()
        (site / "tmp").mkdir(exist_ok=True)
        (site / "nginx.conf").write_text(NGINX_CONF.format(site=site, port=PORT))
        (site / "access.log").write_text("")
        spec = LINKS[self.link]
        if spec and self.use_netem:
            delay, rate = spec
            out = subprocess.run(
                ["bash", str(TOOLS / "netsite.sh"), "up", str(site), f"{delay}ms",
                 f"{int(rate * 8 / 1000)}kbit"], check=True, capture_output=True, text=True)
            self.netns = True
            self.base = out.stdout.strip().splitlines()[-1]
            return self
        subprocess.run(["nginx", "-c", str(site / "nginx.conf"), "-p", str(site)], check=True)
        self.nginx = True
        self.base = f"http://127.0.0.1:{PORT}"
        if spec:
            delay, rate = spec
            self.proxy = subprocess.Popen(
                [sys.executable, str(TOOLS / "latency_proxy.py"), str(PROXY_PORT),
                 f"127.0.0.1:{PORT}", str(delay), str(rate)])
            wait_port(PROXY_PORT)
            self.base = f"http://127.0.0.1:{PROXY_PORT}"
        return self

    def __exit__(self, *exc: object) -> None:
        site = self.site.resolve()
        if self.proxy:
            self.proxy.terminate()
            try:
                self.proxy.wait(10)
            except subprocess.TimeoutExpired:
                self.proxy.kill()
        if self.netns:
            subprocess.run(["bash", str(TOOLS / "netsite.sh"), "down", str(site)])
        pid = site / "nginx.pid"
        if self.nginx and pid.exists():
            try:
                os.kill(int(pid.read_text()), signal.SIGQUIT)
            except (ProcessLookupError, ValueError):
                pass
            for _ in range(50):
                if not pid.exists():
                    break
                time.sleep(0.1)

    def urls_file(self) -> Path:
        path = self.site / f"urls-{self.link}.txt"
        path.write_text((self.site / "urls.txt").read_text().replace("PAGE", self.base))
        return path


def wait_port(port: int, timeout: float = 10) -> None:
    import socket
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def netem_available() -> bool:
    if os.geteuid() != 0 or not shutil.which("tc") or not shutil.which("ip"):
        return False
    ns = "ipb-netem-probe"
    try:
        subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
        ok = subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "lo",
                             "root", "netem", "delay", "1ms"], capture_output=True).returncode == 0
    except (subprocess.CalledProcessError, OSError):
        return False
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    return ok


# -- one run -----------------------------------------------------------------------
@dataclass
class Run:
    link: str
    tool: str
    site_images: int
    wall: float = 0.0
    crawl: float | None = None  # Scrapy's elapsed_time_seconds
    bytes_sent: int = 0
    image_bytes: int = 0
    requests: int = 0
    image_requests: int = 0
    images: int = 0  # distinct image URLs the server was asked for
    records: int = 0
    cpu: float = 0.0
    rss_mb: float = 0.0
    exit: int | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def per_image(self) -> float:
        return self.image_requests / self.images if self.images else 0.0

    @property
    def ips(self) -> float:
        return self.images / self.wall if self.wall else 0.0


def parse_access_log(path: Path) -> dict:
    line_re = re.compile(r'^(\S+) (\d+) (\S+) "([^"]*)" (\d+) (\d+)$')
    out = {"bytes": 0, "image_bytes": 0, "requests": 0, "image_requests": 0, "first": None,
           "last": None, "statuses": {}}
    images: set[str] = set()
    for line in path.read_text(errors="replace").splitlines():
        m = line_re.match(line)
        if not m:
            continue
        t, status, _method, uri, sent, _ = m.groups()
        t, sent = float(t), int(sent)
        out["bytes"] += sent
        out["requests"] += 1
        out["statuses"][status] = out["statuses"].get(status, 0) + 1
        out["first"] = t if out["first"] is None else min(out["first"], t)
        out["last"] = t if out["last"] is None else max(out["last"], t)
        if uri.startswith("/img/"):
            out["image_bytes"] += sent
            out["image_requests"] += 1
            images.add(uri)
    out["images"] = len(images)
    return out


def run_child(cmd: list[str], cwd: Path, logfile: Path, timeout: float,
              env: dict | None = None) -> tuple[float, int | None, resource.struct_rusage | None]:
    """Run cmd; wall time, exit status (None: timed out) and the child's own rusage."""
    with logfile.open("wb") as out:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            return _watch(proc, start, timeout)
        except BaseException:  # Ctrl-C, SIGTERM: no orphaned crawl
            proc.kill()
            proc.wait()
            raise


def _watch(proc: subprocess.Popen, start: float,
           timeout: float) -> tuple[float, int | None, resource.struct_rusage | None]:
    timed_out = False
    deadline = start + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not reap it
            wall = time.monotonic() - start
            return wall, None if timed_out else proc.returncode, usage
        now = time.monotonic()
        if now > deadline and not timed_out:
            timed_out = True
            proc.send_signal(signal.SIGINT)  # Scrapy closes the feed on the first one
            deadline = now + 20
        elif now > deadline:
            proc.kill()
            deadline = now + 3600
        time.sleep(0.02)


def measure(server: Server, tool: str, work: Path, n_images: int, timeout: float,
            settings: dict[str, str], project: Path = ROOT) -> Run:
    site = server.site
    access = site / "access.log"
    access.write_text("")  # nginx appends (O_APPEND): truncating in place is safe
    urls = server.urls_file()
    tag = re.sub(r"[^\w.-]+", "_", f"{server.link}-{site.name}-{tool}")
    out = work / "out" / f"{tag}.jsonl"
    out.parent.mkdir(exist_ok=True)
    logfile = work / "out" / f"{tag}.log"
    sets = [a for k, v in settings.items() for a in ("-s", f"{k}={v}")]
    if tool == "baseline":
        # From outside the project: Scrapy's defaults plus the script's own settings.
        cmd = [str(SCRAPY), "runspider", str(TOOLS / "baseline_full.py"), "-a", f"urls={urls}",
               "-O", str(out), *sets]
        cwd = work
    else:
        cmd = [str(SCRAPY), "crawl", "images", "-a", f"urls={urls}", "-O", str(out), *sets]
        cwd = project
    log(f"{server.link} {site.name} {tool}: {' '.join(cmd[1:3])} {' '.join(sets)}")
    load = os.getloadavg()[0]
    wall, code, usage = run_child(cmd, cwd, logfile, timeout)
    time.sleep(0.3)  # let nginx flush its last log lines
    acc = parse_access_log(access)
    run = Run(server.link, tool, n_images, wall=wall, bytes_sent=acc["bytes"],
              image_bytes=acc["image_bytes"], requests=acc["requests"],
              image_requests=acc["image_requests"], images=acc["images"], exit=code)
    run.extra["statuses"] = acc["statuses"]
    run.extra["load_before"] = round(load, 2)
    if acc["first"] is not None:
        run.extra["server_span"] = round(acc["last"] - acc["first"], 3)
    if usage:
        run.cpu = usage.ru_utime + usage.ru_stime
        run.rss_mb = usage.ru_maxrss / 1024
    text = logfile.read_text(errors="replace")
    m = re.search(r"'elapsed_time_seconds': ([\d.]+)", text)
    run.crawl = float(m.group(1)) if m else None
    for key in ("imgprint/followup/requests", "imgprint/followup/bytes", "retry/count",
                "downloader/exception_count", "imgprint/images/failed"):
        m = re.search(rf"'{re.escape(key)}': (\d+)", text)
        if m:
            run.extra[key] = int(m.group(1))
    run.records = sum(1 for _ in out.open()) if out.exists() else 0
    if code is None:
        run.note = f"TIMEOUT after {timeout:.0f} s"
    elif code != 0:
        run.note = f"exit {code}"
    log(f"  wall {run.wall:.2f} s, crawl {run.crawl} s, {run.bytes_sent:,} B, "
        f"{run.per_image:.2f} req/img, {run.images} images, cpu {run.cpu:.2f} s, "
        f"rss {run.rss_mb:.0f} MB {run.note} {run.extra}")
    return run


# -- report ----------------------------------------------------------------------------
def best_of(n: int, *args, **kw) -> Run:
    """The fastest of n runs (other processes on a shared machine only slow runs down)."""
    runs = [measure(*args, **kw) for _ in range(n)]
    best = min(runs, key=lambda r: (r.note != "", r.wall))
    if n > 1:
        best.extra["walls"] = [round(r.wall, 2) for r in runs]
    return best


def table(runs: list[Run]) -> str:
    head = ("| link | tool | wall s | crawl s | server bytes | req/image | CPU s | peak RSS MB "
            "| images/s | images | notes |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    rows = [head]
    for r in runs:
        crawl = f"{r.crawl:.2f}" if r.crawl is not None else "–"
        fu = r.extra.get("imgprint/followup/requests")
        load = r.extra.get("load_before")
        note = "; ".join(x for x in (r.note, f"{fu} follow-ups" if fu else "",
                                      f"load {load:.1f}" if load is not None else "",
                                      f"walls {r.extra['walls']}" if "walls" in r.extra else "")
                        if x)
        rows.append(f"| {r.link} | {r.tool} | {r.wall:.2f} | {crawl} | {r.bytes_sent:,} | "
                    f"{r.per_image:.2f} | {r.cpu:.2f} | {r.rss_mb:.0f} | {r.ips:.0f} | "
                    f"{r.images:,} | {note} |")
    return "\n".join(rows)


def ratios(runs: list[Run], tor_conc: int) -> str:
    lines = []
    by = {(r.link, r.tool): r for r in runs if r.site_images == 493}
    for link in LINKS:
        imp, base = by.get((link, "imgprint")), by.get((link, "baseline"))
        if not (imp and base):
            continue
        lines.append(
            f"- {link}: wall {imp.wall / base.wall:.3f} (1/{base.wall / imp.wall:.1f}), "
            f"bytes {imp.bytes_sent / base.bytes_sent:.4f}, CPU {imp.cpu / base.cpu:.3f}, "
            f"peak RSS {imp.rss_mb / base.rss_mb:.2f}, requests/image "
            f"{imp.per_image / base.per_image:.2f}")
    lines.append("")
    lines.append("Goals:")
    wan_i, wan_b = by.get(("wan", "imgprint")), by.get(("wan", "baseline"))
    if wan_i and wan_b:
        need, limit = link_limit(LINKS["wan"][1], 0.1)
        lines.append(
            f"- wan: wall {wan_i.wall:.2f} s vs baseline {wan_b.wall:.2f} s: "
            f"1/{wan_b.wall / wan_i.wall:.1f} (goal >= 1/20) "
            f"{'MET' if wan_i.wall * 20 <= wan_b.wall else 'MISSED'}")
        lines.append(
            f"- wan: link limit {need:,} B / 2.5 MB/s + 2 RTT = {limit:.2f} s; imgprint wall "
            f"{wan_i.wall:.2f} s = {wan_i.wall / limit:.2f}x, crawl {wan_i.crawl or 0:.2f} s = "
            f"{(wan_i.crawl or 0) / limit:.2f}x (goal <= 1.5x)")
    tor_i, tor_b = by.get(("tor", "imgprint")), by.get(("tor", "baseline"))
    if tor_i and tor_b:
        need, limit = link_limit(LINKS["tor"][1], 1.0)
        lines.append(
            f"- tor (per-host concurrency {tor_conc}): wall 1/{tor_b.wall / tor_i.wall:.1f} of "
            f"baseline (goal >= 1/10) {'MET' if tor_i.wall * 10 <= tor_b.wall else 'MISSED'}; "
            f"link limit {limit:.2f} s, imgprint {tor_i.wall / limit:.2f}x")
    for r in runs:
        if r.link == "loopback" and r.tool == "imgprint":
            by_crawl = r.images / r.crawl if r.crawl else 0
            lines.append(f"- loopback, {r.site_images:,} image URLs: {r.ips:.0f} images/s by wall"
                         f", {by_crawl:.0f} by crawl time (goal >= 500);"
                         f" peak RSS {r.rss_mb:.0f} MB")
    scale = {r.site_images: r for r in runs if r.link == "loopback" and r.tool == "imgprint"}
    if 10000 in scale and 100000 in scale:
        q = scale[100000].rss_mb / scale[10000].rss_mb
        lines.append(f"- peak RSS 100,000 / 10,000 URLs: {q:.2f} (goal <= 1.5) "
                     f"{'MET' if q <= 1.5 else 'MISSED'}")
    return "\n".join(lines)


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    return (f"{os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")


def main() -> int:
    global PORT, PROXY_PORT
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--links", nargs="*", default=list(LINKS), choices=list(LINKS))
    ap.add_argument("--scale", nargs="*", type=int, default=[],
                    help="also crawl sites of N image URLs on loopback (imgprint only)")
    ap.add_argument("--quick", action="store_true", help="no fetch-mode/follow-up variants")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--tor-concurrency", type=int, default=16,
                    help="CONCURRENT_REQUESTS_PER_DOMAIN of both tools on the tor link")
    ap.add_argument("--repeat", type=int, default=1,
                    help="best of N runs on loopback and wan (a shared machine is noisy)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per run")
    ap.add_argument("--port", type=int, default=PORT,
                    help="nginx port on 127.0.0.1 (the proxy uses the next one)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/imgprint-bench"))
    ap.add_argument("--emulation", choices=("auto", "netem", "proxy"), default="auto")
    ap.add_argument("--project", type=Path, default=ROOT,
                    help="imgprint checkout to run (default: this one), e.g. a `git archive` copy")
    ap.add_argument("-s", "--set", action="append", default=[], metavar="NAME=VALUE",
                    help="extra setting for the imgprint runs")
    args = ap.parse_args()
    PORT, PROXY_PORT = args.port, args.port + 1
    if not shutil.which("nginx"):
        print("nginx not found: apt-get install -y nginx-light (as root)", file=sys.stderr)
        return 2
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    use_netem = {"auto": None, "netem": True, "proxy": False}[args.emulation]
    if use_netem is None:
        use_netem = netem_available()
    log(f"link emulation: {'netsite.sh (netns + netem)' if use_netem else 'latency_proxy.py'}")
    extra = dict(kv.split("=", 1) for kv in args.set)
    project = args.project.resolve()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally/__exit__ code

    runs: list[Run] = []
    n_corpus = len(corpus_images())
    try:
        site = build_site(work, None)
        for link in args.links:
            link_set = dict(extra)
            if link == "tor":
                # One host: the global limit is the per-host one. Both are set because
                # Scrapy 2.19 on the asyncio reactor does not enforce the per-domain
                # limit when several requests are queued at once .
                conc = str(args.tor_concurrency)
                link_set |= {"CONCURRENT_REQUESTS": conc, "CONCURRENT_REQUESTS_PER_DOMAIN": conc,
                             "DOWNLOAD_TIMEOUT": "180"}
            with Server(site, link, use_netem) as server:
                rep = 1 if link == "tor" else args.repeat
                runs.append(best_of(rep, server, "imgprint", work, n_corpus, args.timeout,
                                    link_set, project))
                if not args.quick:
                    for name, sets in VARIANTS.items():
                        runs.append(best_of(rep, server, f"imgprint {name}", work, n_corpus,
                                            args.timeout, link_set | sets, project))
                if not args.no_baseline:
                    base_set = {k: v for k, v in link_set.items() if not k.startswith("IMGPRINT")}
                    runs.append(best_of(rep, server, "baseline", work, n_corpus, args.timeout,
                                        base_set))
        for n in args.scale:
            with Server(build_site(work, n), "loopback", use_netem) as server:
                runs.append(measure(server, "imgprint", work, n, args.timeout, extra, project))
    finally:
        text = (f"Machine: {machine()}\nimgprint: {project}"
                f" {' '.join(f'-s {k}={v}' for k, v in extra.items())}\nEmulation: "
                f"{'netsite.sh (netem)' if use_netem else 'latency_proxy.py'}\n\n"
                + table(runs) + "\n\nimgprint / baseline (defaults, corpus site):\n"
                + ratios(runs, args.tor_concurrency) + "\n")
        print(text)
        (work / "results.json").write_text(json.dumps(
            [asdict(r) | {"per_image": r.per_image, "images_per_s": r.ips} for r in runs],
            indent=1))
        (work / "results.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
