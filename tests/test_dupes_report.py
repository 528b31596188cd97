"""The ``scrapy dupes`` report an investigator acts on (issue 24, item 6).

A real crawl of two loopback sites (``127.0.0.1`` and ``localhost``): corpus
JPEGs with GPS, an author and a camera serial on one, copies stripped of their
metadata on the other (re-encoded by Pillow: a near-duplicate; stripped by
ExifTool, coded data untouched: an identical image). The report must say, per
copy, its pages and sites and what metadata it carries, per group where the
copies differ, and flag the copies still carrying GPS, a serial or an author;
the values are checked against ExifTool's reading of the originals. The HTML
page is opened in Debian's headless Chromium at 1400 px: the graph's labels
overlap no node and no other label, and stay at a readable size.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from imgprint.dupes import build_report, load, render_html
from tests.conftest import Server, run_crawl
from tests.helpers import ME

PROJECT = Path(__file__).resolve().parents[1]
FUJI = ME / "jpg" / "FujiFilm FinePixS1Pro (5).jpg"  # GPS, Artist, Copyright, XMP, IPTC
NIKON = ME / "jpg" / "Nikon D5000.jpg"  # camera serial and position in XMP only


def run_dupes(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scrapy", "dupes", *map(str, args)],
                          cwd=PROJECT, capture_output=True, text=True, timeout=120)


def exiftool(path: Path) -> dict:
    """ExifTool's reading of the tags the report summarises, keyed by group:tag."""
    tags = ["-Composite:GPSLatitude", "-Composite:GPSLongitude", "-XMP-exif:GPSLatitude",
            "-XMP-exif:GPSLongitude", "-XMP-aux:SerialNumber", "-IFD0:Artist", "-IFD0:Copyright"]
    out = subprocess.run(["exiftool", "-j", "-n", "-G1", *tags, str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]


def pillow_stripped(src: Path, dst: Path) -> None:
    """The picture re-encoded by Pillow with no metadata at all (progressive, so
    that its first scan gives a perceptual hash)."""
    with Image.open(src) as im:
        im.save(dst, "JPEG", quality=90, progressive=True)


@pytest.fixture(scope="module")
def crawl(tmp_path_factory) -> dict:
    return crawl_copies(tmp_path_factory.mktemp("copies"))


def crawl_copies(tmp: Path) -> dict:
    """Originals on 127.0.0.1 (the Fuji on two pages), stripped copies on localhost,
    crawled into ``tmp/out.jsonl``."""
    root = tmp / "site"
    (root / "img").mkdir(parents=True)
    shutil.copy(FUJI, root / "img" / "fuji.jpg")
    shutil.copy(NIKON, root / "img" / "nikon.jpg")
    pillow_stripped(FUJI, root / "img" / "fuji-pillow.jpg")
    pillow_stripped(NIKON, root / "img" / "nikon-pillow.jpg")
    subprocess.run(["exiftool", "-q", "-all=", "-o", str(root / "img" / "fuji-exiftool.jpg"),
                    str(FUJI)], check=True)
    pages = {"a.html": ["fuji.jpg", "nikon.jpg"], "a2.html": ["fuji.jpg"],
             "b.html": ["fuji-pillow.jpg", "nikon-pillow.jpg", "fuji-exiftool.jpg"]}
    for name, images in pages.items():
        (root / name).write_text("".join(f'<img src="img/{i}">' for i in images))
    server = Server([sys.executable, "-m", "tests.servers.static_site", str(root), "--log",
                     str(tmp / "access.jsonl")], tmp / "access.jsonl")
    try:
        port = server.port
        base = {"a": f"http://127.0.0.1:{port}/", "b": f"http://localhost:{port}/"}
        seeds = tmp / "urls.txt"
        seeds.write_text(f"{base['a']}a.html\n{base['a']}a2.html\n{base['b']}b.html\n")
        result = run_crawl(tmp, "-a", f"urls={seeds}",
                           settings={"IMGPRINT_GUARD_PRIVATE": "False"})
    finally:
        server.stop()
    assert result.returncode == 0, result.log[-3000:]
    assert len(result.records) == 5
    return {"feed": result.output, "base": base, "tmp": tmp}


def copies(group: dict) -> dict[str, dict]:
    return {img["url"].rsplit("/", 1)[1]: img for img in group["images"]}


def group_with(groups: list[dict], name: str) -> dict:
    [g] = [g for g in groups if name in copies(g)]
    return g


@pytest.mark.crawl
def test_json_has_pages_metadata_diff_and_flags(crawl):
    proc = run_dupes("--json", crawl["feed"])
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    a, b = crawl["base"]["a"], crawl["base"]["b"]
    fuji_exif, nikon_exif = exiftool(FUJI), exiftool(NIKON)

    # Identical coded data (content_sha256): the original and ExifTool's stripped copy.
    g = group_with(report["exact"]["content_sha256"], "fuji.jpg")
    c = copies(g)
    assert set(c) == {"fuji.jpg", "fuji-exiftool.jpg"}
    orig, stripped = c["fuji.jpg"], c["fuji-exiftool.jpg"]
    assert orig["pages"] == [a + "a.html", a + "a2.html"]
    assert orig["pages_total"] == 2 and orig["sites"] == ["127.0.0.1"]
    assert stripped["pages"] == [b + "b.html"] and stripped["sites"] == ["localhost"]
    meta = orig["metadata"]
    assert meta["gps"] == (f"{fuji_exif['Composite:GPSLatitude']:.6f}, "
                           f"{fuji_exif['Composite:GPSLongitude']:.6f}")
    assert f"{fuji_exif['IFD0:Artist']} (Artist" in meta["author"]
    assert f"{fuji_exif['IFD0:Copyright']} (Copyright" in meta["author"]
    assert {"exif", "camera", "xmp", "iptc"} <= set(meta)
    assert orig["identifying"] == ["gps", "author"]
    assert stripped["metadata"] == {} and stripped["identifying"] == []
    diff = g["metadata_diff"]
    assert diff["copies"] == 2 and diff["identifying_copies"] == 1
    assert set(diff["differs"]) == set(meta)
    assert diff["fields"]["gps"] == {"copies": 1, "values": 1}

    # Re-encoded by Pillow: near-duplicates (phash), each with its own metadata.
    near = report["near"]
    c = copies(group_with(near, "fuji-pillow.jpg"))
    assert c["fuji-pillow.jpg"]["metadata"] == {} and "gps" in c["fuji.jpg"]["metadata"]
    ng = group_with(near, "nikon.jpg")
    c = copies(ng)
    assert set(c) == {"nikon.jpg", "nikon-pillow.jpg"}
    nikon = c["nikon.jpg"]["metadata"]
    assert nikon["serial"] == str(nikon_exif["XMP-aux:SerialNumber"])
    assert nikon["gps"] == (f"{nikon_exif['XMP-exif:GPSLatitude']:.6f}, "
                            f"{nikon_exif['XMP-exif:GPSLongitude']:.6f}, 324 m (XMP)")
    assert c["nikon.jpg"]["identifying"] == ["gps", "serial"]
    assert c["nikon-pillow.jpg"]["identifying"] == []
    assert "serial" in ng["metadata_diff"]["differs"]
    assert ng["metadata_diff"]["identifying_copies"] == 1
    assert report["summary"]["details"] is True


@pytest.mark.crawl
def test_text_labels_hashes_and_flags_copies(crawl):
    proc = run_dupes(crawl["feed"])
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    a = crawl["base"]["a"]
    block = out[out.index("== Identical images (content_sha256"):]
    block = block[:block.index("\n\n")]
    assert "] 2 URLs, content_sha256 " in block
    assert "metadata differs: " in block and "GPS on 1 of 2" in block
    assert "! 1 of 2 copies still carries GPS, a camera serial or an author" in block
    assert f"pages: {a}a" in block
    assert "! still carries GPS, author" in block
    assert "metadata: none" in block
    near = out[out.index("== Near-duplicates"):]
    assert "phash " in near and "! still carries GPS, serial" in near


def many_sites_feed(path: Path, sites: int = 120, seed: int = 7) -> None:
    """Images shared between random sets of 2-4 sites, some names long: a crowded graph."""
    rnd = random.Random(seed)
    names = [f"site{i}.com" if i % 7 else f"a-rather-long-site-name-number-{i}.co.uk"
             for i in range(sites)]
    with path.open("w") as f:
        for k in range(sites * 2):
            h = f"{k:064x}"
            for j, site in enumerate(rnd.sample(names, rnd.randint(2, 4))):
                f.write(json.dumps({"url": f"https://img.{site}/{k}-{j}.jpg",
                                    "pages": [f"https://www.{site}/p{k}"],
                                    "sha256_first_10240_bytes": h}) + "\n")


# Run in the page: every label's box against every node and every other label.
OVERLAPS = """() => {
  const svg = document.getElementById("graph");
  const circles = [...svg.querySelectorAll("circle")].map(c => ({
      x: +c.getAttribute("cx"), y: +c.getAttribute("cy"), r: +c.getAttribute("r")}));
  const boxes = [...svg.querySelectorAll("text")].map(t => t.getBBox());
  const bad = [];
  boxes.forEach((b, i) => {
    circles.forEach((c, j) => {
      const dx = c.x - Math.max(b.x, Math.min(c.x, b.x + b.width));
      const dy = c.y - Math.max(b.y, Math.min(c.y, b.y + b.height));
      if (dx * dx + dy * dy < (c.r - 0.5) ** 2) bad.push(["node", i, j]);
    });
    boxes.slice(i + 1).forEach((o, k) => {
      if (b.x < o.x + o.width - 0.5 && o.x < b.x + b.width - 0.5 &&
          b.y < o.y + o.height - 0.5 && o.y < b.y + b.height - 0.5)
        bad.push(["label", i, i + 1 + k]);
    });
  });
  const vb = svg.viewBox.baseVal;
  return {labels: boxes.length, nodes: circles.length, bad: bad.slice(0, 10),
          scale: svg.getBoundingClientRect().width / vb.width};
}"""


def open_in_chromium(page_path: Path, check, width: int = 1400, height: int = 1400,
                     screenshot: Path | None = None):
    """Open a page in Debian's headless Chromium (a ``width`` x ``height`` window), run
    ``check(page)``, and take a screenshot of the window if asked."""
    from playwright.sync_api import sync_playwright

    from imgprint.render.browser import launch_options

    with sync_playwright() as p:
        browser = p.chromium.launch(**launch_options(None))
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(page_path.as_uri())
            result = check(page)
            if screenshot:
                page.screenshot(path=str(screenshot))
            return result
        finally:
            browser.close()


@pytest.mark.crawl
def test_html_in_chromium(crawl, tmp_path):
    """The crawl's copies plus 120 sites sharing images, at 1400 px."""
    crowded = tmp_path / "many.jsonl"
    many_sites_feed(crowded)
    page_path = tmp_path / "dupes.html"
    proc = run_dupes("--html", page_path, crawl["feed"], crowded)
    assert proc.returncode == 0, proc.stderr

    def check(page):
        page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
        graph = page.evaluate(OVERLAPS)
        # The identical group of the Fuji: a table row per copy, flags on GPS and author.
        row = page.locator("table.copies tr", has_text="fuji.jpg").first
        flagged = row.locator("td.id").all_inner_texts()
        group = page.locator("#identical ~ details", has_text="fuji-exiftool.jpg")
        headers = group.locator("th.differs").all_inner_texts()
        summary = group.locator("summary").inner_text()
        # The first section: the groups with a copy still identifying, each flagged.
        first = page.evaluate("""() => {
            const rows = [];
            for (let e = document.getElementById("identifying").nextElementSibling;
                 e && e.tagName !== "H2"; e = e.nextElementSibling)
                if (e.tagName === "DETAILS")
                    rows.push(e.querySelector("summary .flag").textContent);
            return rows; }""")
        return graph, flagged, headers, summary, first

    graph, flagged, headers, summary, first = open_in_chromium(
        page_path, check, screenshot=tmp_path / "report.png")
    # The Fuji's near group holds its ExifTool-stripped copy too (linked by
    # content_sha256 beside the Pillow copy's phash): 3 copies.
    assert sorted(first) == sorted(["⚑ 1 of 2 still carries GPS, author",
                                    "⚑ 1 of 3 still carries GPS, author",
                                    "⚑ 1 of 2 still carries GPS, serial"])
    assert graph["nodes"] >= 100 and graph["labels"] == graph["nodes"]
    assert graph["bad"] == [], graph
    assert graph["scale"] >= 0.99  # drawn at its own size: 12 px labels
    assert len(flagged) == 2 and any("Ian Britton" in t for t in flagged)
    assert {h.rstrip(" ≠") for h in headers} >= {"EXIF", "GPS", "author", "XMP", "IPTC"}
    assert "content_sha256" in summary and "still carries GPS, author" in summary
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_by_label_and_no_details(tmp_path):
    """A group's ``by`` is shown as a label; a report built without the feeds
    (no ``sources``) lists URLs and sites only."""
    f = tmp_path / "f.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in [
        {"url": "https://a.org/x.jpg", "pages": ["https://a.org/"], "phash": "ff00ff00ff00ff00",
         "gps": {"lat": 1.5, "lon": 2.5},
         "exif": {"Image Artist": '<script>alert("x")</script>\u202e', "k": "v"}},
        {"url": "https://b.org/y.jpg", "pages": ["https://b.org/"], "phash": "ff00ff00ff00ff01"},
    ]))
    cat = load([f], pytest.fail)
    report = build_report(cat, sources=[f])
    report["near"] = [dict(g, by="pdq") for g in report["near"]]
    html = render_html(report)
    assert "<span class=by>by pdq</span>" in html
    assert "&#9873; 1 of 2 still carries GPS, author" in html
    # Metadata values are hostile too: escaped, bidi overrides shown.
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert "\u202e" not in html and "\\u202e" in html
    bare = render_html(build_report(load([f], pytest.fail)))
    assert "<table class=copies" in html
    assert "<table class=copies" not in bare and "https://b.org/y.jpg" in bare


def test_summary_of_hostile_records_is_short_and_typed():
    """Fields of the wrong type count as absent; long values are clipped; a block
    json cannot encode still gets an id."""
    from imgprint.dupes.details import VALUE_CHARS, summarise

    deep: object = []
    for _ in range(5000):
        deep = [deep]
    assert summarise({"exif": "x", "gps": [1, 2], "camera": {"serial": 7}, "xmp": None,
                      "iptc": [], "png_text": {"Author": ["", 3]}}) == {}
    assert summarise({"gps": {"lat": float("nan"), "lon": 1.0}}) == {}
    assert summarise({"gps": {"lat": 91.0, "lon": 1.0}}) == {}
    got = summarise({"exif": {"Image Artist": "A" * 10_000, "k": deep},
                     "camera": {"make": "Canon", "model": "Canon EOS\x1b[31m 5D", "serial": "\n"},
                     "xmp": {"exif:GPSLatitude": "48,53.323582N",
                             "exif:GPSLongitude": "21,2,35.7W"}, "has_xmp": True})
    assert got["exif"] == "2 tags #?"
    assert len(got["author"]) <= VALUE_CHARS and "A…" in got["author"]
    assert got["camera"] == "Canon EOS\x1b[31m 5D"  # escaped by each writer, not here
    assert "serial" not in got
    assert got["gps"] == "48.888726, -21.043250 (XMP)"
    assert summarise({"has_xmp": True}) == {"xmp": "present, not read"}


def test_copy_pages_do_not_depend_on_reading_order():
    """The pages kept are the first PAGES_KEPT in sorted order, the count is of
    distinct pages: a crawl split over workers reports what a single crawl does."""
    from imgprint.dupes.details import PAGES_KEPT, Copy

    pages = [f"https://s.org/p{i:03d}" for i in range(60)]
    one, other = Copy(), Copy()
    one.add_pages(pages)
    rnd = random.Random(1)
    shuffled = pages * 2
    rnd.shuffle(shuffled)
    for k in range(0, len(shuffled), 7):
        other.add_pages(shuffled[k:k + 7] + [None, 5])
    assert one.as_dict() == other.as_dict()
    assert one.pages == pages[:PAGES_KEPT] and one.as_dict()["pages_total"] == 60
