"""Benchmark imgprint against the floor, the script it replaces and full downloads
over emulated links (issues 17 and 22).

Not part of CI. One command, as root (nginx, and network namespaces if the
kernel has netem), run as a module so this checkout's imgprint is imported:

    .venv/bin/python -m bench.speed                          # 3 links, all tools, ~25 min
    .venv/bin/python -m bench.speed --links loopback --scale 4930   # images/s, all cores vs 1
    .venv/bin/python -m bench.speed --links wan --tools floor imgprint replaced --rounds 5
    .venv/bin/python -m bench.speed --before /tmp/old        # also an older checkout

What it does:

1. builds a static site over ``../shared/corpus`` with ``../shared/tools/site.py``
   (493 images, 25 pages; ``fuzzing/`` holds no image extension, so it is never
   referenced) and, for ``--scale N``, a site whose pages reference N image URLs:
   the corpus tree served again under ``/img/r0001/``, ``/img/r0002/``, ...
   (symlinks) with generated pages of the same markup;
2. serves it with Debian's nginx and an access log carrying ``$bytes_sent``;
3. puts it behind each link: ``loopback`` (none), ``wan`` (100 ms RTT, 20 Mbit/s),
   ``tor`` (1 s RTT, 2 Mbit/s, every Scrapy tool at ``--tor-concurrency`` in
   flight): ``../shared/tools/netsite.sh`` (nginx in a network namespace behind
   tc netem) when the kernel has netem, else ``../shared/tools/latency_proxy.py``;
4. on the same link, in alternating rounds (every tool once a round, the order
   reversed every other round): the floor, ``bench/floor_spider.py`` (one ranged
   GET + SHA-256 per image, nothing else; ``CONCURRENT_ITEMS = 1`` and imgprint's
   concurrency); imgprint, ``scrapy crawl images`` from the project with its
   defaults (worker processes on every core); ``imgprint-1p``, the same in one
   process (``IMGPRINT_PROCESSES=1``); the replaced script
   (``../shared/tools/replaced_tool.sh URLS WORKDIR``, its own virtualenv made
   once before the timed runs; its own thread pools, whatever the link); and the
   full download, ``scrapy runspider baseline_full.py``. The floor and the
   baseline run from outside the project (Scrapy's defaults plus their own
   settings); ``--before DIR`` adds another imgprint checkout;
5. with ``--scale N``, on loopback: the floor, imgprint and imgprint in one
   process over N image URLs (``--split-crawls``: also two crawls, each over
   half of the seed pages);
6. measures per run, with ``/usr/bin/time -v`` (else the child's rusage): wall
   time and CPU seconds (workers included); sampling /proc every 0.1 s
   (``bench.proctree``): the peak RSS summed over the whole process tree and the
   CPU of the crawl's own process; from the server's log: requests, bytes sent
   (headers included), images; then per tool the medians, images/s, the link's
   own time for the bytes that tool fetched (bytes / rate + 2 RTT), the ratios
   between the tools and the goals of issue 22;
7. with ``--startup N`` (default 10): the time to the first request
   (``bench.startup``), N alternating runs.

Every tool runs with the bytecode cache on (``PYTHONDONTWRITEBYTECODE`` taken
out, ``PYTHONPYCACHEPREFIX`` under WORKDIR), as on a user's machine.

Results also go to ``WORKDIR/results.json`` (every run) and ``results.md``. Every
child run has a timeout; nginx, proxies and namespaces are removed at exit (also
on Ctrl-C). The machine's load at the start is printed: other processes on it
slow every tool, which is why the rounds alternate and the ratios are taken
from one run.
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
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench import startup
from bench.proctree import TreeSampler

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
    round: int = 0
    wall: float = 0.0
    crawl: float | None = None  # Scrapy's elapsed_time_seconds (the longest, for several)
    bytes_sent: int = 0
    image_bytes: int = 0
    requests: int = 0
    image_requests: int = 0
    images: int = 0  # distinct image URLs the server was asked for
    records: int = 0
    cpu: float = 0.0  # every process of the run, workers included
    main_cpu: float = 0.0  # the crawl's own process (or processes) alone
    rss_mb: float = 0.0  # peak of the RSS summed over each command's process tree
    processes: int = 1
    exit: int | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def per_image(self) -> float:
        """All requests (pages included) per distinct image."""
        return self.requests / self.images if self.images else 0.0

    @property
    def ips(self) -> float:
        return self.images / self.wall if self.wall else 0.0

    def limit(self) -> float | None:
        """The link's own time for the bytes this run fetched: bytes / rate + 2 RTT
        (connection set-up and the page before its images); None on loopback."""
        spec = LINKS[self.link]
        if spec is None:
            return None
        delay, rate = spec
        return self.bytes_sent / rate + 4 * delay / 1000


@dataclass
class AccessLog:
    """What nginx's access log of one run says."""

    bytes: int = 0  # sent, headers included
    image_bytes: int = 0
    requests: int = 0
    image_requests: int = 0
    images: int = 0  # distinct image URLs
    first: float | None = None  # time of the first and the last request
    last: float | None = None
    statuses: dict[str, int] = field(default_factory=dict)


def parse_access_log(path: Path) -> AccessLog:
    line_re = re.compile(r'^(\S+) (\d+) (\S+) "([^"]*)" (\d+) (\d+)$')
    out = AccessLog()
    images: set[str] = set()
    times: list[float] = []
    for line in path.read_text(errors="replace").splitlines():
        m = line_re.match(line)
        if not m:
            continue
        t, status, _method, uri, sent, _ = m.groups()
        out.bytes += int(sent)
        out.requests += 1
        out.statuses[status] = out.statuses.get(status, 0) + 1
        times.append(float(t))
        if uri.startswith("/img/"):
            out.image_bytes += int(sent)
            out.image_requests += 1
            images.add(uri)
    out.images = len(images)
    if times:
        out.first, out.last = min(times), max(times)
    return out


TIME = shutil.which("time") and Path("/usr/bin/time")


def parse_time_v(path: Path) -> dict:
    """CPU seconds and peak RSS (MB) from a ``/usr/bin/time -v`` report."""
    text = path.read_text(errors="replace") if path.exists() else ""
    num = {k: float(m.group(1)) for k, pat in (
        ("user", r"User time \(seconds\): ([\d.]+)"), ("sys", r"System time \(seconds\): ([\d.]+)"),
        ("rss", r"Maximum resident set size \(kbytes\): (\d+)")) if (m := re.search(pat, text))}
    if "user" not in num:
        return {}
    return {"cpu": num["user"] + num.get("sys", 0.0), "rss_mb": num.get("rss", 0.0) / 1024}


def run_children(cmds: list[list[str]], cwd: Path, logs: list[Path], timeout: float,
                 env: dict | None = None, main_name: str = "",
                 ) -> tuple[float, list[int | None], list[dict]]:
    """Run the commands at once, each under ``/usr/bin/time -v`` when there is one;
    wall time (the last to end), exit statuses (None: timed out), and per command
    CPU seconds (time -v, else the child's own rusage), the peak RSS summed over
    its process tree and the CPU of its process whose command line holds
    ``main_name`` (``bench.proctree``)."""
    procs, outs, timefiles = [], [], []
    samplers: list[TreeSampler] = []
    start = time.monotonic()
    try:
        for cmd, logfile in zip(cmds, logs, strict=True):
            timefile = logfile.with_suffix(".time")
            timefile.unlink(missing_ok=True)
            full = [str(TIME), "-v", "-o", str(timefile), *cmd] if TIME else cmd
            out = logfile.open("wb")
            outs.append(out)
            timefiles.append(timefile)
            procs.append(subprocess.Popen(full, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                          env=env))
            samplers.append(TreeSampler(procs[-1].pid, main_name, skip_root=bool(TIME)))
        walls, codes, usages = _watch(procs, start, timeout, samplers)
    except BaseException:  # Ctrl-C, SIGTERM: no orphaned crawl
        for proc in procs:
            proc.kill()
            proc.wait()
        raise
    finally:
        for out in outs:
            out.close()
    stats = []
    for timefile, usage, sampler in zip(timefiles, usages, samplers, strict=True):
        found = parse_time_v(timefile)
        if not found and usage is not None:
            found = {"cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024}
        if sampler.peak_kb:
            found["rss_mb"] = max(found.get("rss_mb", 0.0), sampler.peak_mb)
        found["main_cpu"] = sampler.main_cpu or found.get("cpu", 0.0)
        stats.append(found)
    return max(walls), codes, stats


def _watch(procs: list[subprocess.Popen], start: float, timeout: float,
           samplers: list[TreeSampler],
           ) -> tuple[list[float], list[int | None], list[resource.struct_rusage | None]]:
    n = len(procs)
    walls: list[float] = [0.0] * n
    codes: list[int | None] = [None] * n
    usages: list[resource.struct_rusage | None] = [None] * n
    done = [False] * n
    timed_out = False
    deadline = start + timeout
    next_sample = 0.0
    while not all(done):
        if time.monotonic() >= next_sample:
            for i, sampler in enumerate(samplers):
                if not done[i]:
                    sampler.sample()
            next_sample = time.monotonic() + 0.1
        for i, proc in enumerate(procs):
            if done[i]:
                continue
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not reap it
                walls[i] = time.monotonic() - start
                codes[i] = None if timed_out else proc.returncode
                usages[i] = usage
                done[i] = True
        now = time.monotonic()
        if now > deadline and not timed_out:
            timed_out = True
            for i, proc in enumerate(procs):
                if not done[i]:
                    # /usr/bin/time passes signals on; Scrapy closes the feed on the first.
                    proc.send_signal(signal.SIGINT)
            deadline = now + 20
        elif now > deadline:
            for i, proc in enumerate(procs):
                if not done[i]:
                    proc.kill()
            deadline = now + 3600
        time.sleep(0.01)
    return walls, codes, usages


#: The tool imgprint replaces: ../shared/tools/replaced_tool.sh URLS WORKDIR (a
#: virtualenv of its own, made on first use; never copied into the project).
REPLACED = TOOLS / "replaced_tool.sh"
#: Tool names: what runs (the first word picks the command) and the table's label.
TOOL_LABELS = {"floor": "floor (bare Scrapy spider)", "imgprint": "imgprint (default: all cores)",
               "imgprint-1p": "imgprint, 1 process (IMGPRINT_PROCESSES=1)",
               "imgprint-noband": "imgprint, no top band (IMGPRINT_PHASH_BAND=0)",
               "imgprint before": "imgprint before", "replaced": "replaced script",
               "baseline": "full download"}
#: What an imgprint variant adds to the defaults.
TOOL_SETTINGS = {"imgprint-1p": ["-s", "IMGPRINT_PROCESSES=1"],
                 "imgprint-noband": ["-s", "IMGPRINT_PHASH_BAND=0"]}


def tool_command(tool: str, urls: Path, out: Path, sets: list[str]) -> tuple[list[str], bool]:
    """The command line of a tool, and whether it runs from the project directory."""
    if tool == "replaced":
        return ["bash", str(REPLACED), str(urls), str(out.with_suffix(".replaced"))], False
    if tool == "baseline":
        # From outside the project: Scrapy's defaults plus the script's own settings.
        return [str(SCRAPY), "runspider", str(TOOLS / "baseline_full.py"), "-a", f"urls={urls}",
                "-O", str(out), *sets], False
    if tool == "floor":
        return [str(SCRAPY), "runspider", str(ROOT / "bench" / "floor_spider.py"), "-a",
                f"urls={urls}", "-O", str(out), *sets], False
    sets = [*sets, *TOOL_SETTINGS.get(tool, [])]
    return [str(SCRAPY), "crawl", "images", "-a", f"urls={urls}", "-O", str(out), *sets], True


def prepare_replaced(work: Path) -> None:
    """Make the replaced script's virtualenv before any timed run (its first run
    installs its requirements from PyPI)."""
    urls = work / "replaced-warmup.txt"
    urls.write_text("")
    log("replaced script: preparing its virtualenv (first time: pip install)")
    subprocess.run(["bash", str(REPLACED), str(urls), str(work / "replaced-warmup")],
                   check=True, capture_output=True, env=tool_env(work, None), timeout=900)


def tool_env(work: Path, project: Path | None) -> dict[str, str]:
    """Every tool's environment: the bytecode cache on (in WORKDIR, not in the
    checkouts), as on a user's machine; for imgprint, its checkout first on the
    path (an editable install of another checkout would win otherwise)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    if project is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(project), env.get("PYTHONPATH")]))
    return env


def split_urls(urls: Path, parts: int) -> list[Path]:
    """The seed file cut into `parts` files of whole pages (one crawl each)."""
    lines = urls.read_text().splitlines()
    out = []
    for k in range(parts):
        path = urls.with_name(f"{urls.stem}-part{k + 1}of{parts}.txt")
        path.write_text("".join(line + "\n" for line in lines[k::parts]))
        out.append(path)
    return out


def measure(server: Server, tool: str, work: Path, n_images: int, timeout: float,
            settings: dict[str, str], project: Path = ROOT, processes: int = 1,
            round_: int = 0) -> Run:
    """One run of `tool` ("floor", "baseline", "imgprint", "imgprint ...": imgprint
    from `project`) as `processes` crawls at once, each over its share of the seeds."""
    site = server.site
    access = site / "access.log"
    access.write_text("")  # nginx appends (O_APPEND): truncating in place is safe
    urls = server.urls_file()
    kind = tool.split()[0]
    imgprint = kind.startswith("imgprint")
    tag = re.sub(r"[^\w.-]+", "_", f"{server.link}-{site.name}-{tool}-p{processes}")
    (work / "out").mkdir(exist_ok=True)
    sets = [a for k, v in settings.items() for a in ("-s", f"{k}={v}")]
    parts = split_urls(urls, processes) if processes > 1 else [urls]
    cmds, logs, outs = [], [], []
    for k, part in enumerate(parts):
        out = work / "out" / f"{tag}-{k}.jsonl"
        cmd, in_project = tool_command(kind, part, out, sets)
        cmds.append(cmd)
        outs.append(out)
        logs.append(work / "out" / f"{tag}-{k}.log")
    cwd = project if imgprint else work
    env = tool_env(work, project if imgprint else None)
    log(f"{server.link} {site.name} {tool} x{processes} (round {round_}): {' '.join(sets)}")
    load = os.getloadavg()[0]
    wall, codes, stats = run_children(cmds, cwd, logs, timeout, env,
                                      "metadata_fetcher" if kind == "replaced" else "scrapy")
    time.sleep(0.3)  # let nginx flush its last log lines
    acc = parse_access_log(access)
    run = Run(server.link, tool, n_images, round=round_, wall=wall, bytes_sent=acc.bytes,
              image_bytes=acc.image_bytes, requests=acc.requests,
              image_requests=acc.image_requests, images=acc.images, processes=processes,
              exit=max((c for c in codes if c is not None), default=None)
              if all(c is not None for c in codes) else None)
    run.cpu = sum(s.get("cpu", 0.0) for s in stats)
    run.main_cpu = sum(s.get("main_cpu", 0.0) for s in stats)
    run.rss_mb = sum(s.get("rss_mb", 0.0) for s in stats)  # crawls at once: their sum
    run.extra["statuses"] = acc.statuses
    run.extra["load_before"] = round(load, 2)
    if acc.first is not None and acc.last is not None:
        run.extra["server_span"] = round(acc.last - acc.first, 3)
    crawls = []
    for logfile in logs:
        text = logfile.read_text(errors="replace")
        m = re.search(r"'elapsed_time_seconds': ([\d.]+)", text)
        if m:
            crawls.append(float(m.group(1)))
        for key in ("imgprint/followup/requests", "imgprint/followup/bytes", "retry/count",
                    "downloader/exception_count", "imgprint/images/failed",
                    "imgprint/content_hash", "imgprint/exif/found"):
            m = re.search(rf"'{re.escape(key)}': (\d+)", text)
            if m:
                run.extra[key] = run.extra.get(key, 0) + int(m.group(1))
    run.crawl = max(crawls) if crawls else None
    run.records = sum(sum(1 for _ in out.open()) for out in outs if out.exists())
    if run.exit is None:
        run.note = f"TIMEOUT after {timeout:.0f} s"
    elif run.exit != 0:
        run.note = f"exit {run.exit}"
    log(f"  wall {run.wall:.2f} s, crawl {run.crawl} s, {run.bytes_sent:,} B, "
        f"{run.requests} requests ({run.per_image:.2f}/image), {run.images} images, "
        f"cpu {run.cpu:.2f} s, rss {run.rss_mb:.0f} MB {run.note}")
    return run


# -- report ----------------------------------------------------------------------------
def median_run(runs: list[Run]) -> Run:
    """A Run of the medians of several (alternating) runs of one tool on one link."""
    ok = [r for r in runs if not r.note] or runs
    med = Run(ok[0].link, ok[0].tool, ok[0].site_images, processes=ok[0].processes)
    for name in ("wall", "bytes_sent", "image_bytes", "requests", "image_requests", "images",
                 "records", "cpu", "main_cpu", "rss_mb"):
        setattr(med, name, statistics.median(getattr(r, name) for r in ok))
    crawls = [r.crawl for r in ok if r.crawl is not None]
    med.crawl = statistics.median(crawls) if crawls else None
    med.note = "; ".join(sorted({r.note for r in runs if r.note}))
    med.extra = {"rounds": len(runs), "walls": [round(r.wall, 2) for r in runs],
                 "cpus": [round(r.cpu, 2) for r in runs]}
    for key in ("imgprint/followup/requests", "imgprint/content_hash", "imgprint/exif/found"):
        vals = [r.extra[key] for r in ok if key in r.extra]
        if vals:
            med.extra[key] = statistics.median(vals)
    return med


def table(meds: list[Run]) -> str:
    head = ("| link | tool | runs | wall s (median) | walls | CPU s (all) | CPU s (main) "
            "| server bytes | requests | req/image | images/s | link limit s | wall / limit "
            "| peak RSS MB (tree) |\n"
            "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = [head]
    for r in meds:
        lim = r.limit()
        walls = ", ".join(f"{w:.2f}" for w in r.extra.get("walls", []))
        tool = TOOL_LABELS.get(r.tool, r.tool)
        tool = tool if r.processes == 1 else f"{tool}, {r.processes} crawls"
        size = "" if r.site_images == CORPUS_SITE else f", {r.site_images:,} URLs"
        rows.append(f"| {r.link} | {tool}{size} | {r.extra.get('rounds', 1)} | {r.wall:.2f} | "
                    f"{walls} | {r.cpu:.2f} | {r.main_cpu:.2f} | {r.bytes_sent:,.0f} | "
                    f"{r.requests:.0f} | {r.per_image:.2f} | {r.ips:.0f} | "
                    f"{'–' if lim is None else f'{lim:.2f}'} | "
                    f"{'–' if lim is None else f'{r.wall / lim:.2f}'} | {r.rss_mb:.0f} |")
    return "\n".join(rows)


def prefix_bytes() -> int:
    """The 10,241-byte prefixes of every image of the corpus site (smaller images whole)."""
    return sum(min(p.stat().st_size, PREFIX) for p in corpus_images())


def _verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def ratios(meds: list[Run]) -> list[str]:
    """Per link: imgprint against the floor, the replaced script, the full
    download and the release before, from the same run."""
    by = {(r.link, r.tool, r.processes, r.site_images): r for r in meds}
    lines = []
    for link in LINKS:
        imp = by.get((link, "imgprint", 1, CORPUS_SITE))
        if not imp or not imp.wall:
            continue
        parts = [f"- {link}: imgprint {imp.wall:.2f} s wall, {imp.cpu:.2f} s CPU "
                 f"({imp.main_cpu:.2f} s in the crawl's process)"]
        for tool, word in (("floor", "floor"), ("replaced", "replaced script"),
                           ("baseline", "full download"), ("imgprint-1p", "one process"),
                           ("imgprint-noband", "no band"), ("imgprint before", "before")):
            other = by.get((link, tool, 1, CORPUS_SITE))
            if other and other.wall:
                parts.append(f"{word} {other.wall:.2f} s (imgprint/{word}: wall "
                             f"{imp.wall / other.wall:.2f}x, CPU "
                             f"{imp.cpu / max(other.cpu, 1e-9):.2f}x, bytes "
                             f"{imp.bytes_sent / max(other.bytes_sent, 1):.3f}x)")
        lines.append(", ".join(parts))
    return lines


def goals(meds: list[Run]) -> str:
    """The goals of issue 22, each with its figure from this run."""
    by = {(r.link, r.tool, r.processes, r.site_images): r for r in meds}

    def get(link: str, tool: str, n: int | None = None) -> Run | None:
        return by.get((link, tool, 1, CORPUS_SITE if n is None else n))

    lines = ratios(meds) + ["", "Goals (issue 22):"]
    lines += link_goals(get, "imgprint", "")
    if any(r.tool == "imgprint-noband" for r in meds):
        lines += ["", "The same without the top band (IMGPRINT_PHASH_BAND=0, all cores):"]
        lines += link_goals(get, "imgprint-noband", "no band: ")
        lines += ["", "CPU and memory (the defaults):"]
    lines += speed_goals(meds, get)
    return "\n".join(lines)


def link_goals(get: Callable[..., Run | None], tool: str, tag: str) -> list[str]:
    """The goals of the emulated links and of bytes and requests, for `tool`."""
    lines: list[str] = []
    wan, wan_rep, wan_full = get("wan", tool), get("wan", "replaced"), get("wan", "baseline")
    if wan and wan_rep:
        q = wan.wall / wan_rep.wall
        lines.append(f"100 ms link: <= 0.65x the replaced script's time: {q:.2f}x "
                     f"{_verdict(q <= 0.65)}")
    if wan and wan_full:
        q = wan_full.wall / wan.wall
        lines.append(f"100 ms link: <= 1/20 of the full download: 1/{q:.1f} {_verdict(q >= 20)}")
    if wan and wan.limit():
        lim = wan.limit() or 1.0
        lines.append(f"100 ms link: wall <= 1.3x the link limit of its own bytes "
                     f"({wan.bytes_sent:,.0f} B: {lim:.2f} s): {wan.wall / lim:.2f}x "
                     f"{_verdict(wan.wall <= 1.3 * lim)}")
    tor, tor_rep, tor_full = get("tor", tool), get("tor", "replaced"), get("tor", "baseline")
    if tor and tor_full:
        q = tor_full.wall / tor.wall
        lines.append(f"Tor-like: <= 1/10 of the full download: 1/{q:.1f} {_verdict(q >= 10)}")
    if tor and tor_rep:
        q = tor.wall / tor_rep.wall
        lines.append(f"Tor-like: <= 0.8x the replaced script's time: {q:.2f}x "
                     f"{_verdict(q <= 0.8)}")
    some = get("wan", tool) or get("loopback", tool)
    if some:
        prefixes = prefix_bytes()
        q = some.bytes_sent / prefixes
        lines.append(f"bytes <= 1.4x the 10,241-byte prefixes alone ({prefixes:,} B): "
                     f"{some.bytes_sent:,.0f} B = {q:.2f}x {_verdict(q <= 1.4)}")
        lines.append(f"requests <= 1.45 per image: {some.requests:.0f} / {some.images:.0f} = "
                     f"{some.per_image:.2f} {_verdict(some.per_image <= 1.45)}")
    return [f"- {tag}{line}" for line in lines]


def speed_goals(meds: list[Run], get: Callable[..., Run | None]) -> list[str]:
    """The goals of images/s, CPU and memory on loopback."""
    lines: list[str] = []
    for n in sorted({r.site_images for r in meds if r.link == "loopback"}):
        floor, imp, one = (get("loopback", t, n) for t in ("floor", "imgprint", "imgprint-1p"))
        if not (floor and floor.images):
            continue
        what = "the corpus site" if n == CORPUS_SITE else f"{n:,} image URLs"
        noband = get("loopback", "imgprint-noband", n)
        for run, goal, word in ((one, 0.45, "one process"), (imp, 0.9, "default (all cores)"),
                                (noband, 0.9, "default without the top band")):
            if run and run.images:
                q = run.ips / floor.ips
                lines.append(f"- loopback, {what}: {word} {run.ips:.0f} images/s, floor "
                             f"{floor.ips:.0f} (same run): {q:.2f}x (goal >= {goal}x) "
                             f"{_verdict(q >= goal)}; CPU per image "
                             f"{1000 * run.cpu / run.images:.2f} ms (crawl's process "
                             f"{1000 * run.main_cpu / run.images:.2f} ms), floor "
                             f"{1000 * floor.cpu / floor.images:.2f} ms")
        if imp and one and one.rss_mb:
            q = imp.rss_mb / one.rss_mb
            lines.append(f"- loopback, {what}: peak RSS of the default run <= 2x one process: "
                         f"{imp.rss_mb:.0f} / {one.rss_mb:.0f} MB = {q:.2f}x {_verdict(q <= 2)}")
    return lines


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    mem = next((int(ln.split()[1]) // 1024 // 1024 for ln in Path("/proc/meminfo").read_text()
                .splitlines() if ln.startswith("MemTotal")), 0)
    try:
        import scrapy
        scrapy_version = scrapy.__version__
    except ImportError:
        scrapy_version = "?"
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    return (f"{os.cpu_count()} CPUs ({cpu}), {mem} GB, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, Scrapy {scrapy_version}, {nginx}, load "
            f"{os.getloadavg()[0]:.1f} at the start (other processes share the machine), "
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; CPU and RSS from "
            f"{'/usr/bin/time -v' if TIME else 'wait4 rusage'}")


CORPUS_SITE = 0  # site_images of the corpus site, set in main


def rounds_of(tools: list[str], rounds: int) -> list[tuple[int, str]]:
    """Alternating order: every tool once per round, the order reversed every other
    round, so drifts in the machine's load fall on every tool alike."""
    out = []
    for r in range(rounds):
        order = tools if r % 2 == 0 else tools[::-1]
        out += [(r + 1, t) for t in order]
    return out


def main() -> int:
    global PORT, PROXY_PORT, CORPUS_SITE
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--links", nargs="*", default=list(LINKS), choices=list(LINKS))
    ap.add_argument("--tools", nargs="*", default=["floor", "imgprint", "replaced", "baseline"],
                    choices=["floor", "imgprint", "imgprint-1p", "imgprint-noband", "replaced",
                             "baseline"],
                    help="imgprint-1p: imgprint in one process (IMGPRINT_PROCESSES=1);"
                         " imgprint-noband: without the perceptual hash's top band"
                         " (IMGPRINT_PHASH_BAND=0: issue 21's bytes apart);"
                         " replaced: the script imgprint replaces (replaced_tool.sh)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternating rounds per link (medians are reported)")
    ap.add_argument("--tor-rounds", type=int, default=1,
                    help="rounds on the tor link (its full download alone takes ~6 min)")
    ap.add_argument("--scale", nargs="*", type=int, default=[],
                    help="also crawl sites of N image URLs on loopback: the floor, imgprint"
                         " (all cores) and imgprint in one process, alternating")
    ap.add_argument("--split-crawls", action="store_true",
                    help="with --scale, also imgprint as two crawls (each half of the pages)")
    ap.add_argument("--startup", type=int, default=10, metavar="N",
                    help="time to the first request, N alternating runs (0: not measured)")
    ap.add_argument("--variants", action="store_true",
                    help="also run imgprint's fetch-mode x follow-up variants")
    ap.add_argument("--no-baseline", action="store_true", help="same as leaving it out of --tools")
    ap.add_argument("--tor-concurrency", type=int, default=16,
                    help="CONCURRENT_REQUESTS(_PER_DOMAIN) of every tool on the tor link")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per run")
    ap.add_argument("--port", type=int, default=PORT,
                    help="nginx port on 127.0.0.1 (the proxy uses the next one)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/imgprint-bench"))
    ap.add_argument("--emulation", choices=("auto", "netem", "proxy"), default="auto")
    ap.add_argument("--project", type=Path, default=ROOT,
                    help="imgprint checkout to run (default: this one), e.g. a `git archive` copy")
    ap.add_argument("--before", type=Path, default=None,
                    help="another imgprint checkout run alongside as tool 'imgprint before'"
                         " (e.g. `git archive` of an older commit), for before/after figures")
    ap.add_argument("-s", "--set", action="append", default=[], metavar="NAME=VALUE",
                    help="extra setting for the imgprint runs")
    args = ap.parse_args()
    PORT, PROXY_PORT = args.port, args.port + 1
    if not shutil.which("nginx"):
        print("nginx not found: apt-get install -y nginx-light (as root)", file=sys.stderr)
        return 2
    tools = [t for t in args.tools if not (args.no_baseline and t == "baseline")]
    if "replaced" in tools and not REPLACED.exists():
        print(f"{REPLACED} not found: leave 'replaced' out of --tools", file=sys.stderr)
        return 2
    if args.before:
        tools.insert(tools.index("imgprint") + 1 if "imgprint" in tools else 0, "imgprint before")
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    use_netem = {"auto": None, "netem": True, "proxy": False}[args.emulation]
    if use_netem is None:
        use_netem = netem_available()
    log(f"link emulation: {'netsite.sh (netns + netem)' if use_netem else 'latency_proxy.py'}")
    extra = dict(kv.split("=", 1) for kv in args.set)
    project = args.project.resolve()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally/__exit__ code
    started = machine()

    runs: list[Run] = []
    starts: dict[str, list[float]] = {}
    CORPUS_SITE = len(corpus_images())
    try:
        site = build_site(work, None)
        if "replaced" in tools:
            prepare_replaced(work)
        for link in args.links:
            link_set: dict[str, str] = {}
            if link == "tor":
                # One host: the global limit is the per-host one, for every tool.
                conc = str(args.tor_concurrency)
                link_set = {"CONCURRENT_REQUESTS": conc, "CONCURRENT_REQUESTS_PER_DOMAIN": conc,
                            "DOWNLOAD_TIMEOUT": "180"}
            with Server(site, link, use_netem) as server:
                rounds = args.tor_rounds if link == "tor" else args.rounds
                for r, tool in rounds_of(tools, rounds):
                    sets = link_set | extra if tool.startswith("imgprint") else dict(link_set)
                    runs.append(measure(server, tool, work, CORPUS_SITE, args.timeout, sets,
                                        args.before.resolve() if tool == "imgprint before"
                                        else project, round_=r))
                if args.variants:
                    for name, vsets in VARIANTS.items():
                        runs.append(measure(server, f"imgprint {name}", work, CORPUS_SITE,
                                            args.timeout, link_set | extra | vsets, project))
        for n in args.scale:
            with Server(build_site(work, n), "loopback", use_netem) as server:
                scale_tools = ["floor", "imgprint", "imgprint-1p"] + [
                    t for t in ("imgprint-noband", "imgprint before") if t in tools]
                plan = [(r, t, 1) for r, t in rounds_of(scale_tools, args.rounds)]
                if args.split_crawls:
                    plan += [(r, "imgprint", 2) for r in range(1, args.rounds + 1)]
                for r, tool, procs in plan:
                    runs.append(measure(server, tool, work, n, args.timeout,
                                        extra if tool.startswith("imgprint") else {},
                                        args.before.resolve() if tool == "imgprint before"
                                        else project, procs, r))
        if args.startup:
            log(f"start-up: {args.startup} alternating runs")
            checkouts = {"imgprint": project} | (
                {"imgprint before": args.before.resolve()} if args.before else {})
            starts = startup.measure(checkouts, args.startup,
                                     [a for k, v in extra.items() for a in ("-s", f"{k}={v}")])
    finally:
        groups: dict[tuple, list[Run]] = {}
        for run in runs:
            groups.setdefault((run.link, run.tool, run.processes, run.site_images), []).append(run)
        meds = [median_run(g) for g in groups.values()]
        text = (f"Machine: {started}\nimgprint: {project}"
                f" {' '.join(f'-s {k}={v}' for k, v in extra.items())}\nEmulation: "
                f"{'netsite.sh (netem)' if use_netem else 'latency_proxy.py'}; links: "
                + "; ".join(f"{k} = {LINK_TITLES[k]}" for k in args.links)
                + f"\nCorpus site: {CORPUS_SITE} images, 10,241-byte prefixes "
                f"{prefix_bytes():,} B\n\n"
                + table(meds) + "\n\n" + goals(meds) + "\n"
                + (startup.report(starts) + "\n" if starts else ""))
        print(text)
        (work / "results.json").write_text(json.dumps(
            [asdict(r) | {"per_image": r.per_image, "images_per_s": r.ips} for r in runs]
            + [{"startup": name, "first_request_s": times} for name, times in starts.items()],
            indent=1))
        (work / "results.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
