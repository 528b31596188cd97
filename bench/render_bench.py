"""What rendering costs: ``-a render=off|on|auto`` on the corpus site (issue 15).

Not part of CI. Run from the project directory (needs Debian's chromium):

    .venv/bin/python -m bench.render_bench [--runs 1] [--workdir DIR] [--corpus DIR]

Two sites, both built with ``../shared/tools/site.py`` over ``../shared/corpus``
(493 images on 25 pages) and served on loopback by ``bench.harness``'s static
server (Twisted's ``static.File``):

* ``corpus``: the site as built: static pages, no script;
* ``mixed``: the same pages, but on every fourth one the images are inserted by
  a script after load (the markup of the others unchanged): what a static
  crawl misses and ``auto`` should render alone.

Per site and mode it runs ``scrapy crawl images`` and reports wall time, pages
per second, peak memory of the whole process tree (PSS, so Chromium's shared
pages count once; sampled every 0.1 s from /proc), images recorded, pages
rendered and the browser time per rendered page (``imgprint/render/page_ms``:
page set-up to the end of scrolling and waiting, not the wait for a page slot).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.harness import CORPUS, PROJECT, StaticServer, build_site

IMG = re.compile(r"<img [^>]*>|<picture>.*?</picture>")


def build(workdir: Path, corpus: Path) -> dict[str, Path]:
    sites = {}
    for name in ("corpus", "mixed"):
        sites[name] = workdir / name
        build_site(corpus, sites[name])
    for n, page in enumerate(sorted((sites["mixed"] / "pages").glob("*.html"))):
        if n % 4:
            continue
        text = page.read_text()
        tags = IMG.findall(text)
        body = IMG.sub("", text)
        script = ("<script>setTimeout(() => document.body.insertAdjacentHTML('beforeend', "
                  + json.dumps("".join(tags)) + "), 300);</script>")
        page.write_text(body.replace("</body>", script + "</body>"))
    return sites


def tree_pss(pid: int) -> int:
    """PSS in bytes of ``pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text()
        except OSError:
            continue
        m = re.search(r"^Pss:\s+(\d+) kB", rollup, re.M)
        total += int(m.group(1)) * 1024 if m else 0
    return total


def crawl(seeds: Path, mode: str, out: Path) -> dict[str, Any]:
    argv = [sys.executable, "-m", "scrapy", "crawl", "images", "-a", f"urls={seeds}",
            "-a", f"render={mode}", "-O", str(out), "-s", "LOG_LEVEL=INFO"]
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=PROJECT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_pss(proc.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    log = proc.communicate()[1]
    wall = time.monotonic() - started
    sampler.join()

    def stat(key: str) -> int:
        m = re.search(rf"'{re.escape(key)}': (\d+)", log)
        return int(m.group(1)) if m else 0

    records = [json.loads(x) for x in out.read_text().splitlines() if x.strip()]
    rendered = stat("imgprint/render/pages")
    return {"mode": mode, "exit": proc.returncode, "wall_s": round(wall, 2),
            "pages": stat("imgprint/pages"), "pages_per_s": round(stat("imgprint/pages") / wall, 2),
            "peak_pss_mb": round(peak[0] / 2**20), "images": len(
                [r for r in records if not r.get("seen_before")]),
            "rendered": rendered, "render_ms_per_page": round(
                stat("imgprint/render/page_ms") / rendered) if rendered else 0,
            "only_after_render": stat("imgprint/render/images/dom")
            + stat("imgprint/render/images/requests")}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--corpus", type=Path, default=CORPUS,
                    help="image folder the sites are built over (default: %(default)s)")
    args = ap.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="render-bench-"))
    sites = build(workdir, args.corpus)
    results = []
    for name, root in sites.items():
        with StaticServer(root) as server:
            seeds = workdir / f"{name}-urls.txt"
            seeds.write_text("".join(server.url(f"/pages/{p.name}") + "\n"
                                     for p in sorted((root / "pages").glob("*.html"))))
            for mode in ("off", "on", "auto"):
                for run in range(args.runs):
                    result = {"site": name, "run": run,
                              **crawl(seeds, mode, workdir / f"{name}-{mode}.jsonl")}
                    print(json.dumps(result), flush=True)
                    results.append(result)
    (workdir / "results.json").write_text(json.dumps(results, indent=1))
    print("| site | render | wall s | pages/s | peak PSS MB | images | rendered |"
          " ms/rendered page | found only after rendering |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['site']} | {r['mode']} | {r['wall_s']} | {r['pages_per_s']} |"
              f" {r['peak_pss_mb']} | {r['images']} | {r['rendered']} |"
              f" {r['render_ms_per_page']} | {r['only_after_render']} |")


if __name__ == "__main__":
    main()
