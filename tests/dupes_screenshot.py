"""The screenshot in docs/dupes-report.png: ``scrapy dupes --html`` in Debian's
headless Chromium at 1400 px wide.

    .venv/bin/python -m tests.dupes_screenshot [--out docs/dupes-report.png] [--sites 30]

Crawls the copies site of ``tests/test_dupes_report.py`` (corpus JPEGs with GPS,
an author, a camera serial on 127.0.0.1; copies stripped by Pillow and by
ExifTool on localhost), adds ``--sites`` synthetic sites sharing images (a graph
worth drawing), runs the real command, opens the groups of the first section
(copies still carrying identifying metadata), checks that no graph label
overlaps a node or another label, and saves a screenshot of the page's top
(``--height``). Not part of CI.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.test_dupes_report import (
    OVERLAPS,
    crawl_copies,
    many_sites_feed,
    open_in_chromium,
)

PROJECT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=PROJECT / "docs" / "dupes-report.png")
    ap.add_argument("--sites", type=int, default=30, help="synthetic sites (default 30)")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=2000, help="of the screenshot (default 2000)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        feed = crawl_copies(work)["feed"]
        crowded = work / "sites.jsonl"
        many_sites_feed(crowded, sites=args.sites)
        html = work / "dupes.html"
        subprocess.run([sys.executable, "-m", "scrapy", "dupes", "--html", str(html), str(feed),
                        str(crowded)], cwd=PROJECT, check=True, stdout=subprocess.DEVNULL)

        def check(page):
            # Open the groups of the first section: copies still identifying.
            page.evaluate("""() => {
                for (let e = document.getElementById("identifying").nextElementSibling;
                     e && e.tagName !== "H2"; e = e.nextElementSibling)
                    if (e.tagName === "DETAILS") e.open = true; }""")
            return page.evaluate(OVERLAPS)

        graph = open_in_chromium(html, check, width=args.width, height=args.height,
                                 screenshot=args.out)
    print(f"{graph['nodes']} sites in the graph, {len(graph['bad'])} overlapping labels, "
          f"drawn at {graph['scale']:.2f}x; screenshot {args.out}")


if __name__ == "__main__":
    main()
