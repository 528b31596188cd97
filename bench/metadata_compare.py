"""Compare imgprint's records with ExifTool, exifread and exifr over the corpus (issue 13).

For every image under the corpus (fuzzing/ and the metadata/ dumps excluded):

* imgprint: the crawler's fetch replayed on the local file
  (``imgprint.fetch.replay``: the first request is bytes
  0..IMGPRINT_RANGE_BYTES-1, then the crawler's own ``fetch_image`` with the
  budget of the default settings, several ranges a follow-up answered as nginx
  does), then the record's fields from ``imgprint.pipelines.fingerprint_fields``.
  Bytes and requests (1 + follow-ups) are counted. Images under
  IMGPRINT_MIN_SIZE get their metadata follow-ups but none for the hash inputs,
  by the crawler's own rule.
* ExifTool over the whole file (one batch, cached under --cache): the key
  fields, each as ExifTool itself picks it among its groups (no ``-a``).
  found % = images where the record has the field / images where ExifTool
  has it; same % = record value equal after normalisation (text stripped and
  case-sensitive, numbers as numbers, lists as sets, dates as their
  ``YYYY-MM-DDTHH:MM:SS`` prefix, GPS within 1e-5 degrees, dimensions exact).
  "extra" = the record has a value ExifTool does not (e.g. a capture time
  taken from DateTime). A date of year 0000 counts as absent on both sides.
* exifread over the whole file (``details=False``, thumbnails and bytes values
  dropped): EXIF tag recall = tags whose ``str()`` value is in the record's
  ``exif`` dict unchanged, per format and overall.
* with --exifr: exifr 7.1.3 (npm, installed under --cache, never in the repo)
  parses each image by URL from a local HTTP server with Range support; the
  server counts requests and body bytes per image. exifr runs with its Node
  defaults (first chunk 512 bytes, then 64 KiB chunks, at most 5) unless
  --exifr-first-chunk is given (65536 = exifr's browser default).

Goals (issue 13): each key field found >= 99 % and same >= 99 % of what
ExifTool finds; EXIF recall >= 99.5 % overall and per format; total bytes
<= 1.5x the prefixes alone; no image with more than 4 requests.

    .venv/bin/python -m bench.metadata_compare [--corpus DIR] [--cache DIR]
        [--exifr [--exifr-first-chunk N]] [--json PATH] [-v]
"""

from __future__ import annotations

import argparse
import http.server
import json
import logging
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import warnings
from collections import Counter
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import exifread
from scrapy.settings import Settings

from imgprint.config import Config
from imgprint.fetch.loop import Budget
from imgprint.fetch.replay import replay, shipped_budget
from imgprint.formats import sniff
from imgprint.metadata.exif import tag_strings
from imgprint.pipelines import fingerprint_fields

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "imgprint-metadata-compare"
EXCLUDED_DIRS = {"fuzzing", "metadata"}
NOT_IMAGES = {".md", ".txt", ".json"}
EXIFR_VERSION = "7.1.3"

#: key field -> comparison kind
FIELDS = {
    "make": "text", "model": "text", "taken_at": "date", "gps": "gps",
    "dimensions": "dims", "xmp_title": "text", "xmp_creator": "list",
    "xmp_keywords": "list", "iptc_caption": "text", "iptc_keywords": "list",
    "iptc_byline": "list", "iptc_copyright": "text", "icc_description": "text",
}

#: ExifTool tags read (-G1 names in the output; '#' = numeric value)
EXIFTOOL_TAGS = [
    "-File:FileType", "-Make", "-Model", "-DateTimeOriginal", "-XMP-photoshop:DateCreated",
    "-Composite:DateTimeCreated", "-Composite:GPSLatitude#", "-Composite:GPSLongitude#",
    "-Composite:ImageSize#", "-XMP-dc:Title", "-XMP-dc:Creator", "-XMP-dc:Subject",
    "-IPTC:Caption-Abstract", "-IPTC:Keywords", "-IPTC:By-line", "-IPTC:CopyrightNotice",
    "-ICC_Profile:ProfileDescription",
]
EXIFTOOL_OPTS = ["-j", "-G1", "-q", "-q", "-m", "-charset", "filename=utf8"]

logging.getLogger("exifread").setLevel(logging.CRITICAL)
warnings.simplefilter("ignore")


# -- the corpus -----------------------------------------------------------------------

def corpus_files(corpus: Path) -> list[Path]:
    """Every file under ``corpus`` but fuzzing/, the metadata/ dumps and text files."""
    out = []
    for path in sorted(corpus.rglob("*")):
        rel = path.relative_to(corpus)
        if (path.is_file() and not EXCLUDED_DIRS & set(rel.parts[:-1])
                and path.suffix.lower() not in NOT_IMAGES):
            out.append(path)
    return out


def crawler_config() -> Config:
    settings = Settings()
    settings.setmodule("imgprint.settings")
    return Config.from_settings(settings)


# -- imgprint -------------------------------------------------------------------------

def run_imgprint(data: bytes, config: Config, budget: Budget) -> dict[str, Any]:
    """The crawler's fetch of a local file (``imgprint.fetch.replay``), then the record.

    An image under IMGPRINT_MIN_SIZE is "small" (``fetch_image``'s rule: its
    metadata follow-ups, none for the hash inputs) and gets no fingerprint
    fields, as in FingerprintPipeline. A first answer the crawler refuses (an
    HTML page) holds no bytes: an empty record, as the crawler's has no fields
    from the pipeline."""
    image = replay(data, budget, min_size=config.min_size, prefix=config.range_bytes,
                   multi=config.multi_range)
    record = {} if image.spans is None else fingerprint_fields(
        image.spans, config.content_bytes, image.small, config.metadata_max_chars)
    return {"record": record, "requests": image.requests, "bytes": image.bytes,
            "prefix": min(len(data), config.range_bytes),
            "incomplete": image.error or image.incomplete}


def full_exif(path: Path) -> dict[str, str] | None:
    """exifread over the whole file (details=False, minus thumbnails); None on error."""
    try:
        with path.open("rb") as fh:
            return tag_strings(exifread.process_file(fh, details=False))
    except Exception:  # noqa: BLE001 - exifread fails on broken files; that's data
        return None


def imgprint_fields(record: dict[str, Any]) -> dict[str, Any]:
    """The key fields as the record holds them (missing fields are None)."""
    camera = record.get("camera") or {}
    gps = record.get("gps") or {}
    xmp = record.get("xmp") or {}
    iptc = record.get("iptc") or {}
    icc = record.get("icc") or {}
    dims = (record.get("width"), record.get("height"))
    return {
        "make": camera.get("make"), "model": camera.get("model"),
        "taken_at": record.get("taken_at"),
        "gps": (gps["lat"], gps["lon"]) if "lat" in gps and "lon" in gps else None,
        "dimensions": dims if None not in dims else None,
        "xmp_title": xmp.get("dc:title"), "xmp_creator": xmp.get("dc:creator"),
        "xmp_keywords": xmp.get("dc:subject"),
        "iptc_caption": iptc.get("Caption-Abstract"), "iptc_keywords": iptc.get("Keywords"),
        "iptc_byline": iptc.get("By-line"), "iptc_copyright": iptc.get("CopyrightNotice"),
        "icc_description": icc.get("description"),
    }


# -- ExifTool -------------------------------------------------------------------------

def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def exiftool_tags(paths: list[Path], corpus: Path, cache: Path) -> dict[str, dict]:
    """ExifTool's JSON per relative path; files unchanged since the cached run are not
    read again (the cache is keyed by ExifTool's version and options, size and mtime)."""
    version = subprocess.run(["exiftool", "-ver"], capture_output=True, text=True,
                             check=True).stdout.strip()
    key = json.dumps([version, EXIFTOOL_OPTS, EXIFTOOL_TAGS])
    cache_file = cache / "exiftool.json"
    cached = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    entries = cached.get("entries", {}) if cached.get("key") == key else {}
    todo = [p for p in paths
            if entries.get(str(p.relative_to(corpus)), {}).get("stamp") != _stamp(p)]
    if todo:
        with tempfile.NamedTemporaryFile("w", suffix=".args", delete=False) as argfile:
            argfile.write("".join(f"{p}\n" for p in todo))
        proc = subprocess.run(["exiftool", *EXIFTOOL_OPTS, *EXIFTOOL_TAGS, "-@", argfile.name],
                              capture_output=True, check=False)
        Path(argfile.name).unlink()
        for item in json.loads(proc.stdout.decode("utf-8", "replace") or "[]"):
            path = Path(item.pop("SourceFile"))
            entries[str(path.relative_to(corpus))] = {"stamp": _stamp(path), "tags": item}
        cache.mkdir(parents=True, exist_ok=True)
        cache_file.write_text(json.dumps({"key": key, "entries": entries}))
    return {str(p.relative_to(corpus)): entries.get(str(p.relative_to(corpus)), {})
            .get("tags", {}) for p in paths}


def _tag(tags: dict[str, Any], name: str, prefer: str = "") -> tuple[str, Any] | None:
    """(group, value) of ``name``: "Group:Tag" exactly, or a bare tag name in the
    ``prefer`` group, else in the first group ExifTool reported it in."""
    if ":" in name:
        return (name.split(":")[0], tags[name]) if name in tags else None
    if f"{prefer}:{name}" in tags:
        return prefer, tags[f"{prefer}:{name}"]
    for key, value in tags.items():
        group, _, tag = key.rpartition(":")
        if tag == name:
            return group, value
    return None


_ET_NAMES = {"make": ("Make", "IFD0"), "model": ("Model", "IFD0"),
             "xmp_title": ("XMP-dc:Title", ""), "xmp_creator": ("XMP-dc:Creator", ""),
             "xmp_keywords": ("XMP-dc:Subject", ""),
             "iptc_caption": ("IPTC:Caption-Abstract", ""),
             "iptc_keywords": ("IPTC:Keywords", ""), "iptc_byline": ("IPTC:By-line", ""),
             "iptc_copyright": ("IPTC:CopyrightNotice", ""),
             "icc_description": ("ICC_Profile:ProfileDescription", "")}
#: the capture time, first found, in imgprint's order: EXIF, XMP, IPTC
_ET_DATES = (("DateTimeOriginal", "ExifIFD"), ("XMP-photoshop:DateCreated", ""),
             ("Composite:DateTimeCreated", ""))


def exiftool_fields(tags: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The key fields from ExifTool's JSON, and the group each was read from."""
    out: dict[str, Any] = {}
    groups: dict[str, str] = {}
    for field, (name, prefer) in _ET_NAMES.items():
        found = _tag(tags, name, prefer)
        if found:
            groups[field], out[field] = found
    for name, prefer in _ET_DATES:
        found = _tag(tags, name, prefer)
        if found and norm_date(found[1]):
            groups["taken_at"], out["taken_at"] = found
            break
    lat, lon = tags.get("Composite:GPSLatitude"), tags.get("Composite:GPSLongitude")
    if isinstance(lat, (int, float)) and isinstance(lon, (int, float)):
        out["gps"], groups["gps"] = (lat, lon), "Composite"
    size = str(tags.get("Composite:ImageSize", "")).split()
    if len(size) == 2 and all(s.isdigit() for s in size):
        out["dimensions"], groups["dimensions"] = (int(size[0]), int(size[1])), "Composite"
    return out, groups


# -- normalisation and comparison -----------------------------------------------------

_DATE = re.compile(r"(\d{4})[:-](\d{2})[:-](\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?")
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


def _scalar(value: Any) -> str | None:
    """Stripped text; numbers (ExifTool writes "2012" as 2012) in one canonical form."""
    if isinstance(value, dict):  # exifr: {lang, value}
        value = value.get("value")
    if value is None:
        return None
    text = str(value).strip()
    if _NUMBER.fullmatch(text):
        try:
            return str(Decimal(text).normalize())
        except InvalidOperation:
            pass
    return text or None


def norm_text(value: Any) -> str | None:
    if isinstance(value, (list, tuple)):
        items = [s for s in map(_scalar, value) if s]
        return "; ".join(items) or None
    return _scalar(value)


def norm_list(value: Any) -> frozenset[str] | None:
    items = value if isinstance(value, (list, tuple)) else [value]
    out = frozenset(s for s in map(_scalar, items) if s)
    return out or None


def norm_date(value: Any) -> str | None:
    """``YYYY-MM-DDTHH:MM:SS`` (or the date alone when there is no time); None for
    year 0000 or no date."""
    m = _DATE.search(str(value or ""))
    if not m or m.group(1) == "0000":
        return None
    y, mo, d, h, mi, s = m.groups()
    return f"{y}-{mo}-{d}" + (f"T{h}:{mi}:{s or '00'}" if h else "")


def normalise(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "text":
        return norm_text(value)
    if kind == "list":
        return norm_list(value)
    if kind == "date":
        return norm_date(value)
    if kind == "gps":
        return tuple(float(v) for v in value)
    return tuple(int(v) for v in value)  # dims


def same(kind: str, ref: Any, got: Any) -> bool:
    if kind == "gps":
        return all(abs(a - b) <= 1e-5 for a, b in zip(ref, got, strict=True))
    if kind == "text" and isinstance(ref, str) and "?" in ref and isinstance(got, str):
        # ExifTool prints a non-ASCII byte of an ASCII-typed string (an ICC v2
        # desc, say) as "?", where imgprint decodes it ("linéaire").
        return len(ref) == len(got) and all(
            a == b or (a == "?" and ord(b) > 127) for a, b in zip(ref, got, strict=True))
    return ref == got


def compare(ref: dict[str, Any], got: dict[str, Any]) -> dict[str, str]:
    """Per key field: "same", "differs", "missing" (ExifTool only), "extra" (ours only)."""
    out = {}
    for field, kind in FIELDS.items():
        r, g = normalise(kind, ref.get(field)), normalise(kind, got.get(field))
        if r is not None:
            out[field] = "missing" if g is None else "same" if same(kind, r, g) else "differs"
        elif g is not None:
            out[field] = "extra"
    return out


# -- exifr ----------------------------------------------------------------------------

class RangeHandler(http.server.BaseHTTPRequestHandler):
    """GET with single-range support; counts requests and body bytes per path."""

    root: Path
    log: dict[str, list[int]]
    lock = threading.Lock()
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        rel = unquote(urlsplit(self.path).path).lstrip("/")
        path = (self.root / rel).resolve()
        if not path.is_file() or not path.is_relative_to(self.root):
            self.send_error(404)
            return
        data = path.read_bytes()
        status, body, headers = 200, data, {}
        m = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", "").strip())
        if m and m.group(1):
            start = int(m.group(1))
            end = min(int(m.group(2)) if m.group(2) else len(data) - 1, len(data) - 1)
            if start >= len(data):
                status, body = 416, b""
                headers["Content-Range"] = f"bytes */{len(data)}"
            else:
                status, body = 206, data[start:end + 1]
                headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body)),
                            "Accept-Ranges": "bytes"}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        with self.lock:
            counts = self.log.setdefault(rel, [0, 0])
            counts[0] += 1
            counts[1] += len(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


EXIFR_SCRIPT = r"""
const fs = require('fs');
const [, , mod, listFile, outFile, firstChunk] = process.argv;
const exifr = require(mod);
const urls = JSON.parse(fs.readFileSync(listFile, 'utf8'));
const opts = {tiff: true, xmp: true, iptc: true, icc: true, exif: true, gps: true,
              ihdr: true, mergeOutput: false, reviveValues: false};
if (+firstChunk) opts.firstChunkSize = +firstChunk;
const plain = (k, v) => (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) ? undefined
  : typeof v === 'bigint' ? String(v) : v;
const out = {};
let next = 0;
async function worker() {
  while (next < urls.length) {
    const url = urls[next++];
    try { out[url] = {out: (await exifr.parse(url, opts)) || {}}; }
    catch (e) { out[url] = {error: String((e && e.message) || e)}; }
  }
}
Promise.all([worker(), worker()]).then(() => fs.writeFileSync(outFile, JSON.stringify(out, plain)));
"""


def install_exifr(cache: Path) -> Path | None:
    """exifr under ``cache``/node (npm, not the repo); its directory, or None."""
    module = cache / "node" / "node_modules" / "exifr"
    if not shutil.which("node"):
        return None
    if (module / "package.json").exists() and \
            json.loads((module / "package.json").read_text())["version"] == EXIFR_VERSION:
        return module
    if not shutil.which("npm"):
        return None
    (cache / "node").mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent",
                           "--prefix", str(cache / "node"), f"exifr@{EXIFR_VERSION}"],
                          capture_output=True, text=True, check=False)
    return module if proc.returncode == 0 and module.exists() else None


def run_exifr(rels: list[str], corpus: Path, cache: Path,
              first_chunk: int) -> tuple[dict[str, dict] | None, str]:
    """exifr.parse on each image by URL from a local Range server: per relative path
    {out | error, requests, bytes}; or None and why not."""
    module = install_exifr(cache)
    if module is None:
        return None, "exifr skipped: node/npm missing or `npm install exifr` failed"
    class Handler(RangeHandler):  # a class a run: its own root and counts
        root = corpus.resolve()
        log: dict[str, list[int]] = {}

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    urls = {base + quote(rel): rel for rel in rels}
    work = Path(tempfile.mkdtemp(dir=cache))
    try:
        (work / "run.js").write_text(EXIFR_SCRIPT)
        (work / "urls.json").write_text(json.dumps(list(urls)))
        proc = subprocess.run(["node", str(work / "run.js"), str(module),
                               str(work / "urls.json"), str(work / "out.json"),
                               str(first_chunk)], capture_output=True, text=True,
                              timeout=900, check=False)
        if proc.returncode != 0 or not (work / "out.json").exists():
            return None, f"exifr skipped: node failed: {proc.stderr.strip()[-300:]}"
        results = json.loads((work / "out.json").read_text())
    finally:
        server.shutdown()
        server.server_close()
        shutil.rmtree(work, ignore_errors=True)
    out = {}
    for url, rel in urls.items():
        requests, sent = Handler.log.get(rel, [0, 0])
        out[rel] = {**results.get(url, {"error": "no result"}),
                    "requests": requests, "bytes": sent}
    return out, f"exifr {EXIFR_VERSION} on node, first chunk " \
                f"{first_chunk or 'default (Node: 512)'} bytes"


def _exifr_gps(gps: dict[str, Any]) -> tuple[float, float] | None:
    if isinstance(gps.get("latitude"), (int, float)) and \
            isinstance(gps.get("longitude"), (int, float)):
        return gps["latitude"], gps["longitude"]
    coords = []
    for tag, neg in (("GPSLatitude", "S"), ("GPSLongitude", "W")):
        parts = gps.get(tag)
        if not isinstance(parts, list) or not parts or \
                not all(isinstance(p, (int, float)) for p in parts):
            return None
        value = sum(p / 60**i for i, p in enumerate(parts))
        coords.append(-value if str(gps.get(tag + "Ref", "")).upper() == neg else value)
    return coords[0], coords[1]


def exifr_fields(out: dict[str, Any]) -> dict[str, Any]:
    """The key fields from exifr's output (mergeOutput: false, reviveValues: false)."""
    ifd0, exif, gps = out.get("ifd0") or {}, out.get("exif") or {}, out.get("gps") or {}
    dc, iptc, icc = out.get("dc") or {}, out.get("iptc") or {}, out.get("icc") or {}
    photoshop, ihdr = out.get("photoshop") or {}, out.get("ihdr") or {}
    iptc_date = " ".join(str(iptc[k]) for k in ("DateCreated", "TimeCreated") if k in iptc)
    taken = next((d for d in (exif.get("DateTimeOriginal"), photoshop.get("DateCreated"),
                              iptc_date) if norm_date(d)), None)
    # exifr reads no SOF/ispe/VP8 header: the image's size only from PNG's IHDR or
    # TIFF's IFD0 (EXIF's ExifImageWidth/Height is what the camera wrote, not the file).
    dims = next(((d["ImageWidth"], d["ImageHeight"]) for d in (ihdr, ifd0)
                 if isinstance(d.get("ImageWidth"), int)
                 and isinstance(d.get("ImageHeight"), int)), None)
    return {
        "make": ifd0.get("Make"), "model": ifd0.get("Model"), "taken_at": taken,
        "gps": _exifr_gps(gps), "dimensions": dims,
        "xmp_title": dc.get("title"), "xmp_creator": dc.get("creator"),
        "xmp_keywords": dc.get("subject"), "iptc_caption": iptc.get("Caption"),
        "iptc_keywords": iptc.get("Keywords"), "iptc_byline": iptc.get("Byline"),
        "iptc_copyright": iptc.get("CopyrightNotice"),
        "icc_description": icc.get("ProfileDescription"),
    }


# -- per image ------------------------------------------------------------------------

def _shown(value: Any) -> Any:
    return sorted(value) if isinstance(value, (set, frozenset)) else value


def _differences(statuses: dict[str, str], ref: dict, got: dict,
                 groups: dict[str, str]) -> dict[str, dict]:
    return {f: {"exiftool": _shown(ref.get(f)), "group": groups.get(f),
                "got": _shown(got.get(f))}
            for f, status in statuses.items() if status != "same"}


def measure(path: Path, rel: str, config: Config, budget: Budget,
            et_tags: dict[str, Any]) -> dict[str, Any]:
    """One image: imgprint's fetch and record against ExifTool and exifread."""
    data = path.read_bytes()
    row: dict[str, Any] = {"file": rel, "format": sniff(data[:64]) or "other",
                           "size": len(data)}
    try:
        ours = run_imgprint(data, config, budget)
    except Exception as exc:  # noqa: BLE001 - a crash is a finding, not the end of the run
        ours = {"record": {}, "requests": 1, "bytes": min(len(data), config.range_bytes),
                "prefix": min(len(data), config.range_bytes),
                "incomplete": f"crashed: {type(exc).__name__}: {exc}"}
    record = ours.pop("record")
    row.update(ours)
    got = imgprint_fields(record)
    ref, groups = exiftool_fields(et_tags)
    row["fields"] = compare(ref, got)
    row["differences"] = _differences(row["fields"], ref, got, groups)
    row["taken_at_source"] = record.get("taken_at_source")
    full = full_exif(path)
    exif = record.get("exif") or {}
    missed = [k for k, v in (full or {}).items() if exif.get(k) != v]
    row["exif_tags"], row["exif_hit"] = len(full or {}), len(full or {}) - len(missed)
    row["exif_missed"] = missed[:8]
    row["exif_found_none"] = bool(full) and not exif
    row["_ref"], row["_groups"] = ref, groups
    return row


def add_exifr(row: dict[str, Any], result: dict[str, Any]) -> None:
    """exifr's requests, bytes and key fields against ExifTool, into ``row``."""
    ref, groups = row["_ref"], row["_groups"]
    got = exifr_fields(result.get("out") or {})
    statuses = compare(ref, got)
    row["exifr"] = {"requests": result["requests"], "bytes": result["bytes"],
                    "error": result.get("error"), "fields": statuses,
                    "differences": _differences(statuses, ref, got, groups)}


# -- tables ---------------------------------------------------------------------------

def pct(a: int, b: int) -> str:
    return f"{100 * a / b:.2f} %" if b else "–"


def p95(values: list[int]) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else 0


def table(title: str, headers: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table, padded so it also reads in a terminal."""
    cells = [[str(c) for c in r] for r in [headers, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([f"\n{title}\n", line(cells[0]), rule, *map(line, cells[1:])])


def formats_of(rows: list[dict]) -> list[str]:
    return sorted({r["format"] for r in rows})


def field_counts(rows: list[dict], side: str = "") -> dict[str, Counter]:
    """Per key field, how many images are same/differs/missing/extra."""
    counts: dict[str, Counter] = {f: Counter() for f in FIELDS}
    for row in rows:
        statuses = row.get(side, {}).get("fields", {}) if side else row["fields"]
        for field, status in statuses.items():
            counts[field][status] += 1
    return counts


def key_field_table(rows: list[dict], with_exifr: bool) -> str:
    ours = field_counts(rows)
    theirs = field_counts(rows, "exifr") if with_exifr else {}
    headers = ["field", "ExifTool has", "imgprint found", "found", "same", "same %",
               "differs", "extra"]
    if with_exifr:
        headers += ["exifr found", "exifr same", "exifr extra"]
    out = []
    for field, c in ours.items():
        n, found = c["same"] + c["differs"] + c["missing"], c["same"] + c["differs"]
        line = [field, n, found, pct(found, n), c["same"], pct(c["same"], n), c["differs"],
                c["extra"]]
        if with_exifr:
            t = theirs[field]
            line += [pct(t["same"] + t["differs"], n), pct(t["same"], n), t["extra"]]
        out.append(line)
    return table("Key fields against ExifTool over the whole file (found, same = % of the"
                 " images where ExifTool has the field)", headers, out)


def per_format_table(rows: list[dict]) -> str:
    fmts = formats_of(rows)
    counts = {fmt: field_counts([r for r in rows if r["format"] == fmt]) for fmt in fmts}
    out = []
    for field in FIELDS:
        cells = []
        for fmt in fmts:
            c = counts[fmt][field]
            n = c["same"] + c["differs"] + c["missing"]
            cells.append(f"{c['same'] + c['differs']}/{c['same']}/{n}" if n or c["extra"]
                         else "")
            cells[-1] += f" +{c['extra']}" if c["extra"] else ""
        if any(cells):
            out.append([field, *cells])
    return table("Key fields per format: found/same/ExifTool has (+extra)",
                 ["field", *fmts], out)


def _groups(rows: list[dict]) -> list[tuple[str, list[dict]]]:
    return [(fmt, [r for r in rows if r["format"] == fmt]) for fmt in formats_of(rows)] \
        + [("total", rows)]


def exif_recall_table(rows: list[dict]) -> str:
    out = []
    for name, group in _groups(rows):
        tags, hit = sum(r["exif_tags"] for r in group), sum(r["exif_hit"] for r in group)
        with_exif = [r for r in group if r["exif_tags"]]
        out.append([name, len(group), len(with_exif), tags, hit, pct(hit, tags),
                    sum(r["exif_hit"] == r["exif_tags"] for r in with_exif),
                    sum(r["exif_found_none"] for r in group)])
    return table("EXIF tag recall against exifread over the whole file",
                 ["format", "images", "with EXIF", "tags", "recalled", "recall",
                  "images all recalled", "images none found"], out)


def _requests(counts: Counter) -> str:
    return " ".join(f"{k}:{counts[k]}" for k in sorted(counts))


def bytes_table(rows: list[dict]) -> str:
    out = []
    for name, group in _groups(rows):
        fetched = [r["bytes"] for r in group]
        prefix = sum(r["prefix"] for r in group)
        requests = Counter(r["requests"] for r in group)
        out.append([name, len(group), f"{prefix:,}", f"{sum(fetched):,}",
                    f"{sum(fetched) / prefix:.3f}x" if prefix else "–",
                    f"{int(statistics.median(fetched)):,}", f"{p95(fetched):,}",
                    f"{sum(requests.elements()) / len(group):.2f}", max(requests),
                    _requests(requests), sum(r["incomplete"] is not None for r in group)])
    return table("Bytes and requests per image: imgprint (first 10,241 bytes + follow-ups)"
                 " against the prefix alone",
                 ["format", "images", "prefix bytes", "imgprint bytes", "vs prefix",
                  "median", "p95", "req/img", "max req", "requests: images",
                  "incomplete"], out)


def exifr_bytes_table(rows: list[dict]) -> str:
    out = []
    for name, group in _groups(rows):
        sent = [r["exifr"]["bytes"] for r in group]
        reqs = [r["exifr"]["requests"] for r in group]
        ours, prefix = sum(r["bytes"] for r in group), sum(r["prefix"] for r in group)
        out.append([name, len(group), f"{sum(sent):,}",
                    f"{sum(sent) / prefix:.3f}x" if prefix else "–",
                    f"{ours / sum(sent):.3f}x" if sum(sent) else "–",
                    f"{int(statistics.median(sent)):,}", f"{p95(sent):,}",
                    f"{sum(reqs) / len(group):.2f}", p95(reqs), max(reqs),
                    sum(bool(r["exifr"]["error"]) for r in group)])
    return table("exifr by URL (its chunked reads), same images",
                 ["format", "images", "exifr bytes", "vs prefix", "imgprint/exifr",
                  "median", "p95", "req/img", "p95 req", "max req", "errors"], out)


def overview(rows: list[dict]) -> dict[str, dict[str, Any]]:
    """Bytes and requests per image: the prefix alone, imgprint, exifr (if run)."""
    sides = {"prefix alone": ([r["prefix"] for r in rows], [1] * len(rows)),
             "imgprint": ([r["bytes"] for r in rows], [r["requests"] for r in rows])}
    if rows and all("exifr" in r for r in rows):
        sides["exifr"] = ([r["exifr"]["bytes"] for r in rows],
                          [r["exifr"]["requests"] for r in rows])
    return {name: {"total": sum(b), "median": int(statistics.median(b)), "p95": p95(b),
                   "max": max(b), "requests_per_image": round(sum(q) / len(q), 2),
                   "max_requests": max(q)}
            for name, (b, q) in sides.items() if b}


def overview_table(rows: list[dict]) -> str:
    stats = overview(rows)
    base = stats["prefix alone"]["total"]
    return table("Bytes and requests per image, all formats",
                 ["reader", "total bytes", "vs prefix", "median", "p95", "max", "req/img",
                  "max req"],
                 [[name, f"{s['total']:,}", f"{s['total'] / base:.3f}x", f"{s['median']:,}",
                   f"{s['p95']:,}", f"{s['max']:,}", f"{s['requests_per_image']:.2f}",
                   s["max_requests"]] for name, s in stats.items()])


def goals(rows: list[dict]) -> list[tuple[str, bool, str]]:
    """The issue's goals: (goal, met, detail)."""
    out = []
    for field, c in field_counts(rows).items():
        n = c["same"] + c["differs"] + c["missing"]
        found, ok = c["same"] + c["differs"], c["same"]
        out.append((f"{field}: found and same >= 99 %",
                    bool(n) and found >= 0.99 * n and ok >= 0.99 * n,
                    f"found {pct(found, n)}, same {pct(ok, n)} of {n}; extra {c['extra']}"))
    for name, group in _groups(rows):
        tags, hit = sum(r["exif_tags"] for r in group), sum(r["exif_hit"] for r in group)
        if tags:
            out.append((f"EXIF recall {name} >= 99.5 %", hit >= 0.995 * tags,
                        f"{pct(hit, tags)} of {tags}"))
    fetched, prefix = sum(r["bytes"] for r in rows), sum(r["prefix"] for r in rows)
    out.append(("total bytes <= 1.5x the prefixes", fetched <= 1.5 * prefix,
                f"{fetched:,} / {prefix:,} = {fetched / max(prefix, 1):.3f}x"))
    over = [r["file"] for r in rows if r["requests"] > 4]
    out.append(("no image with more than 4 requests", not over,
                f"max {max(r['requests'] for r in rows)}; over 4: {len(over)}"))
    return out


def notes(rows: list[dict], per_field: int, side: str = "") -> list[str]:
    """The first mismatching images per field, with both values."""
    lines = []
    for field in FIELDS:
        shown = 0
        for row in rows:
            part = row.get(side) or {} if side else row
            diff = part.get("differences", {}).get(field)
            if diff and shown < per_field:
                status = part["fields"][field]
                extra = f" (source {row['taken_at_source']})" if field == "taken_at" \
                    and not side else ""
                lines.append(f"{field} {status}: {row['file']}: ExifTool"
                             f" {diff['group'] or ''} {diff['exiftool']!r}, got"
                             f" {diff['got']!r}{extra}")
                shown += 1
    return lines


def exif_notes(rows: list[dict], limit: int) -> list[str]:
    missed = sorted((r for r in rows if r["exif_hit"] < r["exif_tags"]),
                    key=lambda r: r["exif_hit"] - r["exif_tags"])
    return [f"EXIF {r['exif_tags'] - r['exif_hit']} of {r['exif_tags']} tags missed"
            f" ({r['format']}, {r['bytes']:,} bytes, {r['requests']} req,"
            f" incomplete: {r['incomplete']}): {r['file']}: {r['exif_missed'][:4]}"
            for r in missed[:limit]]


# -- main -----------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                    help="ExifTool results and exifr's npm install (default: %(default)s)")
    ap.add_argument("--exifr", action="store_true",
                    help=f"also run exifr {EXIFR_VERSION} by URL (needs node and npm)")
    ap.add_argument("--exifr-first-chunk", type=int, default=0,
                    help="exifr's firstChunkSize (default: its Node default, 512)")
    ap.add_argument("--json", type=Path, help="write the figures and per-image rows here")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="list the first mismatching images per field")
    return ap.parse_args(argv)


def describe_run(config: Config, corpus: Path, rows: list[dict]) -> str:
    def git(*cmd: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *cmd], capture_output=True,
                              text=True, check=False).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    if git("status", "--porcelain", "--", "imgprint"):
        commit += " + uncommitted changes under imgprint/"
    small = sum(r["size"] < config.min_size for r in rows)
    fmts = Counter(r["format"] for r in rows)
    return (f"imgprint {commit or '?'}: {len(rows)} images under {corpus}"
            f" ({', '.join(f'{k} {v}' for k, v in sorted(fmts.items()))});"
            f" first request {config.range_bytes:,} bytes, follow-ups {config.followups}"
            f" (+{config.hash_followups} for the hashes) within {config.followup_bytes:,}"
            f" bytes; {small} images under IMGPRINT_MIN_SIZE ({config.min_size:,}):"
            f" metadata follow-ups only")


def report(rows: list[dict], exifr_note: str | None, args: argparse.Namespace,
           header: str) -> dict[str, Any]:
    with_exifr = all("exifr" in r for r in rows) and bool(rows)
    print(header)
    if exifr_note:
        print(exifr_note)
    print(key_field_table(rows, with_exifr))
    print(per_format_table(rows))
    print(exif_recall_table(rows))
    print(overview_table(rows))
    print(bytes_table(rows))
    if with_exifr:
        print(exifr_bytes_table(rows))
    met = goals(rows)
    print("\nGoals:")
    for goal, ok, detail in met:
        print(f"  [{'met' if ok else 'NOT met'}] {goal}: {detail}")
    if args.verbose:
        print("\nimgprint against ExifTool (first 5 per field):")
        print("\n".join("  " + line for line in notes(rows, 5)))
        print("\nEXIF tags missed (worst 15):")
        print("\n".join("  " + line for line in exif_notes(rows, 15)))
        if with_exifr:
            print("\nexifr against ExifTool (first 3 per field):")
            print("\n".join("  " + line for line in notes(rows, 3, "exifr")))
    return {"header": header, "exifr": exifr_note,
            "key_fields": {f: dict(c) for f, c in field_counts(rows).items()},
            "exifr_key_fields": {f: dict(c) for f, c in field_counts(rows, "exifr").items()}
            if with_exifr else None,
            "bytes": overview(rows),
            "goals": [{"goal": g, "met": ok, "detail": d} for g, ok, d in met],
            "images": [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not shutil.which("exiftool"):
        print("exiftool not found (apt-get install libimage-exiftool-perl)", file=sys.stderr)
        return 2
    config = crawler_config()
    budget = shipped_budget()
    paths = corpus_files(args.corpus)
    if not paths:
        print(f"no images under {args.corpus} (--corpus)", file=sys.stderr)
        return 2
    args.cache.mkdir(parents=True, exist_ok=True)
    et = exiftool_tags(paths, args.corpus, args.cache)
    rows = []
    for path in paths:
        rel = str(path.relative_to(args.corpus))
        rows.append(measure(path, rel, config, budget, et[rel]))
    exifr_note = None
    if args.exifr:
        results, exifr_note = run_exifr([r["file"] for r in rows], args.corpus, args.cache,
                                        args.exifr_first_chunk)
        if results is not None:
            for row in rows:
                add_exifr(row, results[row["file"]])
    summary = report(rows, exifr_note, args, describe_run(config, args.corpus, rows))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1, default=_shown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
