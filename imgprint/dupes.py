"""Duplicate images across crawl feeds: records in, groups out.

``scrapy dupes`` (``imgprint/commands/dupes.py``) is a thin shell around these
functions:

- :func:`iter_file` streams records out of imgprint feeds (JSON lines, a JSON
  list as ``-O x.json`` writes it, gzip'd or not) and out of the seed tool's
  files (an indented JSON list, or a single object);
- :class:`Catalog` keeps, per image URL, only what grouping needs (hashes as
  bytes, the perceptual hash as an int, the sites of its pages), so a million
  records fit in a few hundred MB;
- :func:`exact_groups`, :func:`near_groups` and :func:`site_sharing` compute
  the three reports; :func:`build_report` puts them in one JSON-ready dict.

Near-duplicate search is multi-index hashing: the 64-bit perceptual hash is
split into ``m`` blocks; two hashes within Hamming distance ``d`` have, by the
pigeonhole principle, at least one block within distance ``d // m`` of each
other, so only items whose block lies in that small ball are compared.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import re
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain, combinations, product
from pathlib import Path
from typing import IO, Any

# Default Hamming threshold for 64-bit perceptual hashes; the usual pHash
# guidance is "<= 10 similar", kept a little stricter until an evaluation on
# real crawls says otherwise.
DEFAULT_DISTANCE = 8
PHASH_BITS = 64
HASH_FIELDS = ("content_sha256", "sha256_first_10240_bytes")
# Suffixes taken when a directory is given instead of a file.
FEED_SUFFIXES = (".jsonl", ".jl", ".json", ".ndjson")
# How many domains the site graph keeps: edges are counted pairwise, so an image
# found on thousands of sites must not make that quadratic.
GRAPH_MAX_SITES = 150

_CHUNK = 1 << 20
# A single JSON value larger than this is reported as an error, not buffered on.
_MAX_VALUE = 64 << 20
_NETLOC = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#\\]*)")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}\Z")
_PHASH = re.compile(r"[0-9a-fA-F]{16}\Z")
# A line that opens an array element: where parsing resumes after a bad element.
_RESYNC = re.compile(r"\n[ \t]*\{")


@dataclass(frozen=True)
class InputError:
    """A file or a line that could not be used."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "message": self.message}


OnError = Callable[[InputError], None]


# --- Reading -------------------------------------------------------------------


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; a directory stands for the feed files under it (recursively)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and _is_feed_name(f.name)))
        else:
            out.append(p)
    return out


def _is_feed_name(name: str) -> bool:
    name = name.lower().removesuffix(".gz")
    return name.endswith(FEED_SUFFIXES)


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def iter_file(path: str | Path, on_error: OnError) -> Iterator[tuple[int, dict]]:
    """Yield ``(line, record)`` for every record in a feed file, whatever its format.

    JSON lines are parsed one line at a time (a bad line costs only itself);
    anything else (a JSON list, the seed tool's indented list, a single object)
    goes through a streaming decoder, so no file is ever read whole.
    """
    path = Path(path)
    name = str(path)
    try:
        with _open(path) as f:
            head = f.read(4096)
            start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
            if not start:
                return
            # Read the whole first line (a record can be longer than the peek).
            f.seek(len(head) - len(start))
            first_line = f.readline(_MAX_VALUE)
            f.seek(0)
            if start[:1] == b"{" and _is_object(first_line):
                yield from _iter_lines(f, name, on_error)
            elif start[:1] in (b"[", b"{"):
                text = io.TextIOWrapper(f, encoding="utf-8-sig", errors="replace")
                yield from _iter_document(text, name, on_error)
            else:
                on_error(InputError(name, 1, "not JSON: expected a JSON object, list or lines"))
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        on_error(InputError(name, None, f"cannot read: {exc}"))


def _is_object(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return False


def _iter_lines(f: IO[bytes], name: str, on_error: OnError) -> Iterator[tuple[int, dict]]:
    loads = json.loads
    for lineno, line in enumerate(f, 1):
        try:
            value = loads(line)
        except (ValueError, RecursionError) as exc:
            if line.strip():
                on_error(InputError(name, lineno, f"bad JSON: {_short(exc)}"))
            continue
        if type(value) is dict:
            yield lineno, value
        else:
            yield from _records_in(value, name, lineno, on_error)


def _records_in(value: Any, name: str, lineno: int,
                on_error: OnError) -> Iterator[tuple[int, dict]]:
    if isinstance(value, dict):
        yield lineno, value
    elif isinstance(value, list):
        for item in value:
            yield from _records_in(item, name, lineno, on_error)
    else:
        on_error(InputError(name, lineno, f"not a record: {type(value).__name__}"))


def _iter_document(f: IO[str], name: str, on_error: OnError) -> Iterator[tuple[int, dict]]:
    """Stream the values of a JSON document: a list of records, one object or several."""
    decode = json.JSONDecoder().raw_decode
    buf = ""
    pos = 0
    eof = False
    # Line numbers are counted forward only, from a mark, so that naming the
    # line of each record stays linear in the file size.
    mark, mark_line = 0, 1
    depth = 0  # 1 inside the top-level list

    def refill() -> bool:
        """Drop buf[:pos], append a chunk; False at end of file."""
        nonlocal buf, pos, eof, mark, mark_line
        if eof:
            return False
        mark_line = line_at(pos)
        chunk = f.read(_CHUNK)
        buf = buf[pos:] + chunk
        pos = mark = 0
        eof = not chunk
        return bool(chunk)

    def line_at(i: int) -> int:
        nonlocal mark, mark_line
        if i < mark:
            return mark_line - buf.count("\n", i, mark)
        mark_line += buf.count("\n", mark, i)
        mark = i
        return mark_line

    while True:
        while pos < len(buf) and buf[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(buf):
            if not refill():
                if depth:
                    on_error(InputError(name, line_at(pos), "bad JSON: unterminated list"))
                return
            continue
        c = buf[pos]
        if c == "[" and not depth:
            depth = 1
            pos += 1
            continue
        if c == "]" and depth:
            depth = 0
            pos += 1
            continue
        try:
            value, end = decode(buf, pos)
        except (ValueError, RecursionError) as exc:
            epos = getattr(exc, "pos", None) or pos
            # A value cut by the chunk boundary fails at (or, for a string, before)
            # the end of the buffer: read on before calling it bad.
            truncated = len(buf) - epos <= 16 or str(exc).startswith("Unterminated string")
            if truncated and not eof and len(buf) - pos < _MAX_VALUE:
                refill()
                continue
            on_error(InputError(name, line_at(max(epos, pos)), f"bad JSON: {_short(exc)}"))
            # Resume at the next line that opens an object: the next list element
            # in both Scrapy's and the seed tool's layout.
            start = pos + 1
            while (m := _RESYNC.search(buf, start)) is None:
                pos = max(pos, len(buf) - 1)  # keep a last newline: it may start a match
                if not refill():
                    return
                start = 0
            pos = m.end() - 1
            continue
        yield from _records_in(value, name, line_at(pos), on_error)
        pos = end


def _short(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        # json's own "line 1 column 5 (char 4)" counts within the chunk or line it
        # was given, not the file: the caller names the line.
        text = f"{exc.msg} (column {exc.colno})"
    else:
        text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."


# --- Sites -------------------------------------------------------------------------


class SiteNamer:
    """Maps URLs to the site they belong to: the registrable domain of their host.

    ``www.example.co.uk`` and ``img.example.co.uk`` are one site
    (``example.co.uk``); ``a.github.io`` and ``b.github.io`` are two (private
    suffixes count, as they are run by different people). IP addresses,
    ``localhost`` and unknown suffixes stay whole hosts. Uses tldextract's
    bundled Public Suffix List: no network.
    """

    def __init__(self) -> None:
        import tldextract

        self._extract = tldextract.TLDExtract(
            suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True
        )
        self._by_netloc: dict[str, str] = {}

    def __call__(self, url: str) -> str | None:
        m = _NETLOC.match(url)
        if m is None:
            # The seed tool also fingerprints local files: their folder is the "site".
            if "/" in url and "://" not in url:
                return "file:" + url.rsplit("/", 1)[0]
            return None
        netloc = m.group(1)
        site = self._by_netloc.get(netloc)
        if site is None:
            site = self._by_netloc[netloc] = self._site(netloc)
        return site or None

    def _site(self, netloc: str) -> str:
        host = netloc.rpartition("@")[2]
        if host.startswith("["):
            host = host[: host.find("]") + 1]
        else:
            host = host.partition(":")[0]
        host = host.lower().rstrip(".")
        if not host or host.startswith("["):
            return host
        ext = self._extract(host)
        return ext.top_domain_under_public_suffix or host


# --- The catalogue ------------------------------------------------------------------


class _HashColumn:
    """One SHA-256 per URL: 32 bytes in a flat bytearray plus a presence flag."""

    def __init__(self) -> None:
        self.digests = bytearray()
        self.present = bytearray()

    def grow(self) -> None:
        self.digests += bytes(32)
        self.present.append(0)

    def set(self, i: int, digest: bytes) -> None:
        self.digests[i * 32 : i * 32 + 32] = digest
        self.present[i] = 1

    def get(self, i: int) -> bytes | None:
        return bytes(self.digests[i * 32 : i * 32 + 32]) if self.present[i] else None

    def prefix(self, i: int) -> int:
        return int.from_bytes(self.digests[i * 32 : i * 32 + 8], "big")


class Catalog:
    """What the reports need from the records, one row per distinct image URL.

    A URL seen in several records is one row: later fingerprints replace earlier
    ones (a recrawl reflects the current file), pages accumulate, and
    ``seen_before`` records only add pages.
    """

    def __init__(self, site_namer: Callable[[str], str | None] | None = None) -> None:
        self.site_of = site_namer or SiteNamer()
        self.urls: list[str] = []
        self._row: dict[str, int] = {}
        self.hashes = {name: _HashColumn() for name in HASH_FIELDS}
        self.phash = array("Q")
        self.has_phash = bytearray()
        self.size = array("q")  # -1: unknown
        # Site sets are interned: most images share the set of their neighbours.
        self.site_set = array("I")
        self.site_sets: list[frozenset[str]] = [frozenset()]
        self._site_set_id: dict[frozenset[str], int] = {frozenset(): 0}
        self.records = 0
        self.files = 0

    def __len__(self) -> int:
        return len(self.urls)

    def add(self, rec: dict) -> list[str]:
        """Fold one record in; returns what was wrong with it (usually nothing)."""
        problems: list[str] = []
        where = problems.append
        url = rec.get("url")
        if not isinstance(url, str) or not url:
            return ["record without a url"]
        self.records += 1
        i = self._row.get(url)
        if i is None:
            i = self._row[url] = len(self.urls)
            self.urls.append(url)
            for col in self.hashes.values():
                col.grow()
            self.phash.append(0)
            self.has_phash.append(0)
            self.size.append(-1)
            self.site_set.append(0)
        pages = rec.get("pages")
        if pages:
            self._add_pages(i, pages, where)
        if rec.get("seen_before") is True:
            return problems
        for name, col in self.hashes.items():
            value = rec.get(name)
            if value is None:
                continue
            if type(value) is str and _SHA256.match(value):
                col.set(i, bytes.fromhex(value))
            else:
                where(f"{name}: not 64 hex digits")
        ph = rec.get("phash")
        if ph is not None:
            if type(ph) is str and _PHASH.match(ph):
                self.phash[i] = int(ph, 16)
                self.has_phash[i] = 1
            else:
                where("phash: not 16 hex digits")
        size = rec.get("image_size")
        if type(size) is int and size >= 0:
            self.size[i] = size
        return problems

    def _add_pages(self, i: int, pages: Any, where: Callable[[str], None]) -> None:
        if not isinstance(pages, list):
            where("pages: not a list")
            return
        sites = {s for p in pages if type(p) is str and (s := self.site_of(p))}
        old = self.site_sets[self.site_set[i]]
        if sites <= old:
            return
        new = frozenset(old | sites)
        sid = self._site_set_id.get(new)
        if sid is None:
            sid = self._site_set_id[new] = len(self.site_sets)
            self.site_sets.append(new)
        self.site_set[i] = sid

    def sites(self, i: int) -> frozenset[str]:
        """Sites of the pages an image was found on, else the site of the image itself."""
        s = self.site_sets[self.site_set[i]]
        if s:
            return s
        own = self.site_of(self.urls[i])
        return frozenset((own,)) if own else s

    def hash_hex(self, name: str, i: int) -> str | None:
        d = self.hashes[name].get(i)
        return d.hex() if d is not None else None

    def phash_hex(self, i: int) -> str | None:
        return f"{self.phash[i]:016x}" if self.has_phash[i] else None

    def image_size(self, i: int) -> int | None:
        s = self.size[i]
        return s if s >= 0 else None


def load(paths: Iterable[str | Path], on_error: OnError,
         catalog: Catalog | None = None) -> Catalog:
    """Read every file into a catalogue; bad files and lines go to ``on_error``."""
    cat = catalog if catalog is not None else Catalog()
    for path in expand_paths(paths):
        name = str(path)
        if not path.exists():
            on_error(InputError(name, None, "no such file"))
            continue
        cat.files += 1
        add = cat.add
        for lineno, rec in iter_file(path, on_error):
            for problem in add(rec):
                on_error(InputError(name, lineno, problem))
    return cat


# --- Exact duplicates --------------------------------------------------------------


def exact_groups(cat: Catalog, name: str) -> list[list[int]]:
    """Rows sharing the hash ``name``, as lists of >= 2 rows, biggest group first."""
    col = cat.hashes[name]
    present = col.present
    prefix = col.prefix
    # Keyed by a 64-bit prefix (small dict keys); equal prefixes are split by the
    # full digest below, so a prefix collision cannot merge different files.
    first: dict[int, int] = {}
    shared: dict[int, list[int]] = {}
    for i in range(len(present)):
        if not present[i]:
            continue
        k = prefix(i)
        j = first.setdefault(k, i)
        if j != i:
            rows = shared.get(k)
            if rows is None:
                shared[k] = [j, i]
            else:
                rows.append(i)
    del first
    groups: list[list[int]] = []
    for rows in shared.values():
        by_digest: dict[bytes, list[int]] = defaultdict(list)
        for i in rows:
            by_digest[col.get(i)].append(i)  # type: ignore[index]
        groups.extend(g for g in by_digest.values() if len(g) > 1)
    groups.sort(key=lambda g: (-len(g), cat.urls[g[0]]))
    return groups


class UnionFind:
    """Disjoint sets over 0..n-1 (path halving, union by size)."""

    def __init__(self, n: int) -> None:
        self.parent = array("I", range(n)) if n else array("I")
        self.size = array("I", [1]) * n

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        return True


def identities(cat: Catalog, groups: Iterable[list[int]]) -> UnionFind:
    """Rows that are the same image: linked by any exact group (either hash)."""
    uf = UnionFind(len(cat))
    for g in groups:
        for i in g[1:]:
            uf.union(g[0], i)
    return uf


# --- Near duplicates -----------------------------------------------------------------


def _ball(bits: int, radius: int) -> list[int]:
    """Every XOR mask of at most ``radius`` set bits within ``bits`` bits."""
    masks = [0]
    for r in range(1, radius + 1):
        for pos in combinations(range(bits), r):
            m = 0
            for p in pos:
                m |= 1 << p
            masks.append(m)
    return masks


def _blocks(m: int, bits: int = PHASH_BITS) -> list[tuple[int, int]]:
    """``m`` contiguous blocks as (shift, width), widths differing by at most one."""
    out = []
    shift = 0
    for k in range(m):
        width = bits // m + (1 if k < bits % m else 0)
        out.append((shift, width))
        shift += width
    return out


def plan(n: int, distance: int, vectorised: bool = True) -> tuple[int, int]:
    """Number of blocks ``m`` and per-block radius ``distance // m`` for ``n`` hashes.

    Picks the cheapest m of 3..16 (narrower blocks keep the bucket offsets a
    dense array) under a simple cost model for uniform hashes, per block of
    width w with a radius ball of V masks: the n²V/2^(w+1) candidate pairs
    the probes hit, plus the probing itself: n per mask when vectorised
    (numpy gathers over all values), one per occupied key and mask in pure
    Python. Measured on this machine, both terms cost about the same.
    """
    best: tuple[float, int] = (math.inf, 3)
    for m in range(3, 17):
        r = distance // m
        cost = 0.0
        for _, width in _blocks(m):
            if r >= width:
                cost = math.inf
                break
            v = sum(math.comb(width, k) for k in range(r + 1))
            probes = n / 2 if vectorised else min(n, 2**width)
            cost += v * (probes + n * n / 2 ** (width + 1))
        best = min(best, (cost, m))
    m = best[1]
    return m, distance // m


def near_pairs(values: Sequence[int], distance: int,
               blocks: int | None = None) -> Iterator[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, with ``popcount(values[i] ^ values[j]) <= distance``.

    Each pair once, in no particular order. Uses numpy when it is installed
    (:func:`near_pairs_numpy`), else :func:`near_pairs_python`: same
    algorithm, same answer.
    """
    try:
        import numpy  # noqa: F401
    except ImportError:
        return near_pairs_python(values, distance, blocks)
    return near_pairs_numpy(values, distance, blocks)


# Candidate pairs expanded at once by the numpy search: bounds its memory.
_BATCH = 1 << 22


def near_pairs_numpy(values: Sequence[int], distance: int,
                     blocks: int | None = None) -> Iterator[tuple[int, int]]:
    """Multi-index hashing, vectorised: one pass over all values per ball mask.

    For each block, values are sorted by their block key and a dense table
    gives each key's range in that order. For each mask ``e`` of the radius
    ball, every value whose key lacks ``e``'s top bit looks up the bucket
    ``key ^ e`` (so each pair of buckets is joined once; ``e = 0`` pairs a
    value with the later values of its own bucket), and the candidates are
    checked with a vectorised popcount.
    """
    import numpy as np

    n = len(values)
    if distance < 0 or n < 2:
        return
    m, r = plan(n, distance) if blocks is None else (blocks, distance // blocks)
    vals = np.fromiter(values, dtype=np.uint64, count=n)
    found = []
    for shift, width in _blocks(m):
        keys = ((vals >> np.uint64(shift)) & np.uint64((1 << width) - 1)).astype(np.int64)
        order = np.argsort(keys, kind="stable")
        off = np.zeros((1 << width) + 1, dtype=np.int64)
        np.cumsum(np.bincount(keys, minlength=1 << width), out=off[1:])
        everyone = np.arange(n, dtype=np.int64)
        for e in _ball(width, r):
            if e == 0:
                pos = np.empty(n, dtype=np.int64)
                pos[order] = everyone
                src, lo, hi = everyone, pos + 1, off[keys + 1]
            else:
                src = np.flatnonzero((keys & (1 << (e.bit_length() - 1))) == 0)
                q = keys[src] ^ e
                lo, hi = off[q], off[q + 1]
            cnt = hi - lo
            hit = cnt > 0
            src, lo, cnt = src[hit], lo[hit], cnt[hit]
            if not len(src):
                continue
            ends = np.cumsum(cnt)
            # Batches of about _BATCH candidates: a crowded bucket (many images
            # of one colour share a block) cannot blow the memory up.
            cuts = np.searchsorted(ends, np.arange(_BATCH, int(ends[-1]), _BATCH))
            for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(src)], strict=True):
                if a == b:
                    continue
                c = cnt[a:b]
                total = int(c.sum())
                first = np.repeat(lo[a:b] - (np.cumsum(c) - c), c)
                dst = order[first + np.arange(total)]
                s = np.repeat(src[a:b], c)
                ok = np.bitwise_count(vals[s] ^ vals[dst]) <= distance
                found.append(np.stack((np.minimum(s[ok], dst[ok]), np.maximum(s[ok], dst[ok]))))
    if not found:
        return
    pairs = np.concatenate(found, axis=1)
    # A pair close in several blocks is found once per block.
    codes = np.unique(pairs[0] * n + pairs[1])
    for code in codes.tolist():
        yield divmod(code, n)


def near_pairs_python(values: Sequence[int], distance: int,
                      blocks: int | None = None) -> Iterator[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, with ``popcount(values[i] ^ values[j]) <= distance``.

    Multi-index hashing as a self-join: for each block, values are bucketed by
    that block; a bucket is compared with itself and with the occupied buckets
    whose key lies within the radius ball of its own (each pair of buckets
    once). Work is the number of occupied keys times the ball size, plus the
    candidates found; never a scan of all pairs. Each pair is yielded once.
    ``blocks`` overrides :func:`plan` (tests, benchmarks).
    """
    if distance < 0 or len(values) < 2:
        return
    m, r = (plan(len(values), distance, vectorised=False) if blocks is None
            else (blocks, distance // blocks))
    found: set[tuple[int, int]] = set()
    for shift, width in _blocks(m):
        mask = (1 << width) - 1
        ball = _ball(width, r)[1:]
        buckets: dict[int, list[int]] = {}
        for i, v in enumerate(values):
            k = (v >> shift) & mask
            rows = buckets.get(k)
            if rows is None:
                buckets[k] = [i]
            else:
                rows.append(i)
        has = buckets.__contains__
        for key, rows in buckets.items():
            # filter/map run in C: the ball is probed without a Python-level loop.
            near = [product(rows, buckets[o]) for o in filter(has, map(key.__xor__, ball))
                    if o > key]
            if len(rows) > 1:
                near.append(combinations(rows, 2))
            for a, b in chain.from_iterable(near):
                if (values[a] ^ values[b]).bit_count() <= distance:
                    pair = (a, b) if a < b else (b, a)
                    if pair not in found:
                        found.add(pair)
                        yield pair


def near_pairs_brute(values: Sequence[int], distance: int) -> Iterator[tuple[int, int]]:
    """Reference for :func:`near_pairs`: every pair compared (tests only)."""
    for j in range(len(values)):
        vj = values[j]
        for i in range(j):
            if (vj ^ values[i]).bit_count() <= distance:
                yield i, j


@dataclass
class NearGroup:
    """Rows whose perceptual hashes chain within the threshold (single linkage)."""

    rows: list[int]
    center: int  # the phash most rows carry: distances are measured from it
    distances: list[int] = field(default_factory=list)


def near_groups(cat: Catalog, distance: int, same: UnionFind | None = None) -> list[NearGroup]:
    """Clusters of rows with near phashes, spanning >= 2 different images.

    ``same`` (from :func:`identities`) tells which rows are already known to
    be one image; a cluster made only of those adds nothing and is left out.
    """
    by_value: dict[int, list[int]] = {}
    for i in range(len(cat)):
        if cat.has_phash[i]:
            by_value.setdefault(cat.phash[i], []).append(i)
    values = list(by_value)
    uf = UnionFind(len(values))
    for a, b in near_pairs(values, distance):
        uf.union(a, b)
    clusters: dict[int, list[int]] = defaultdict(list)
    for k in range(len(values)):
        clusters[uf.find(k)].append(k)
    out: list[NearGroup] = []
    for members in clusters.values():
        rows = [i for k in members for i in by_value[values[k]]]
        if len(rows) < 2:
            continue
        if same is not None and len({same.find(i) for i in rows}) < 2:
            continue
        center = max(members, key=lambda k: (len(by_value[values[k]]), -values[k]))
        cv = values[center]
        rows.sort(key=lambda i: ((cat.phash[i] ^ cv).bit_count(), cat.urls[i]))
        out.append(NearGroup(rows, by_value[cv][0],
                             [(cat.phash[i] ^ cv).bit_count() for i in rows]))
    out.sort(key=lambda g: (-len(g.rows), cat.urls[g.rows[0]]))
    return out


# --- Sites sharing images -------------------------------------------------------------


@dataclass
class SharedImage:
    rows: list[int]
    sites: frozenset[str]


@dataclass
class SiteSharing:
    """Images found on more than one site, grouped by the exact set of sites.

    As in the seed tool's ``detect_websites_sharing_same_images``: one entry per
    set of sites, with the images all of them carry.
    """

    groups: list[tuple[frozenset[str], list[SharedImage]]]
    per_site: Counter  # site -> shared images it carries
    edges: list[tuple[str, str, int]]  # between the GRAPH_MAX_SITES busiest sites


def site_sharing(cat: Catalog, same: UnionFind) -> SiteSharing:
    """Which sites carry the same images (one image = one URL or one exact group).

    Only fingerprinted images count, as in the seed tool: small images (icons,
    spacers) get no hash and would otherwise link every site using a CDN.
    """
    fingerprinted = [col.present for col in cat.hashes.values()]
    shared: list[SharedImage] = []
    # Only rows in an exact group need gathering; the rest are images on their own.
    members: dict[int, list[int]] = defaultdict(list)
    for i in range(len(cat)):
        if not any(p[i] for p in fingerprinted):
            continue
        if same.size[i] == 1 and same.parent[i] == i:
            sites = cat.sites(i)
            if len(sites) > 1:
                shared.append(SharedImage([i], sites))
        else:
            members[same.find(i)].append(i)
    for rows in members.values():
        sites = frozenset().union(*(cat.sites(i) for i in rows))
        if len(sites) > 1:
            shared.append(SharedImage(sorted(rows, key=cat.urls.__getitem__), sites))
    by_set: dict[frozenset[str], list[SharedImage]] = defaultdict(list)
    per_site: Counter = Counter()
    for img in shared:
        by_set[img.sites].append(img)
        per_site.update(img.sites)
    top = {s for s, _ in per_site.most_common(GRAPH_MAX_SITES)}
    pair_count: Counter = Counter()
    for img in shared:
        pair_count.update(combinations(sorted(img.sites & top), 2))
    groups = sorted(by_set.items(), key=lambda kv: (-len(kv[1]), -len(kv[0]), sorted(kv[0])))
    for _, imgs in groups:
        imgs.sort(key=lambda img: cat.urls[img.rows[0]])
    edges = sorted(((a, b, n) for (a, b), n in pair_count.items()), key=lambda e: (-e[2], e[:2]))
    return SiteSharing(groups, per_site, edges)


# --- The report -------------------------------------------------------------------------


class Lazy:
    """A list whose JSON-ready items are made when iterated, one at a time.

    The report of a million records has hundreds of thousands of group
    entries; building them all as dicts would cost more memory than the
    catalogue itself, so writers stream them instead (see
    ``imgprint.dupes_render.write_json``).
    """

    def __init__(self, items: Sequence[Any], make: Callable[[Any], dict[str, Any]]) -> None:
        self.items = items
        self.make = make

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return map(self.make, self.items)



def build_report(cat: Catalog, distance: int = DEFAULT_DISTANCE, near: bool = True,
                 timings: dict[str, float] | None = None) -> dict[str, Any]:
    """All three reports as one dict (the ``--json`` document); group lists are :class:`Lazy`."""
    import time

    t0 = time.perf_counter()
    exact = {name: exact_groups(cat, name) for name in HASH_FIELDS}
    same = identities(cat, (g for gs in exact.values() for g in gs))
    t1 = time.perf_counter()
    near_list = near_groups(cat, distance, same) if near else []
    t2 = time.perf_counter()
    sharing = site_sharing(cat, same)
    t3 = time.perf_counter()
    if timings is not None:
        timings.update(exact=t1 - t0, near=t2 - t1, sites=t3 - t2)

    def image(i: int) -> dict[str, Any]:
        return {"url": cat.urls[i], "sites": sorted(cat.sites(i))}

    def exact_out(name: str, g: list[int]) -> dict[str, Any]:
        sizes = sorted({s for i in g if (s := cat.image_size(i)) is not None})
        return {"hash": cat.hash_hex(name, g[0]), "count": len(g), "image_sizes": sizes,
                "images": [image(i) for i in sorted(g, key=cat.urls.__getitem__)]}

    def near_out(g: NearGroup) -> dict[str, Any]:
        return {"count": len(g.rows), "center": cat.phash_hex(g.center),
                "max_distance": max(g.distances),
                "images": [{**image(i), "phash": cat.phash_hex(i), "distance": d,
                            "content_sha256": cat.hash_hex("content_sha256", i),
                            "sha256_first_10240_bytes": cat.hash_hex(HASH_FIELDS[1], i)}
                           for i, d in zip(g.rows, g.distances, strict=True)]}

    def shared_out(img: SharedImage) -> dict[str, Any]:
        i = img.rows[0]
        return {"content_sha256": cat.hash_hex("content_sha256", i),
                "sha256_first_10240_bytes": cat.hash_hex(HASH_FIELDS[1], i),
                "images": [image(j) for j in img.rows]}

    return {
        "summary": {
            "files": cat.files,
            "records": cat.records,
            "images": len(cat),
            "with_content_sha256": sum(cat.hashes["content_sha256"].present),
            "with_sha256_first_10240_bytes": sum(cat.hashes[HASH_FIELDS[1]].present),
            "with_phash": sum(cat.has_phash),
            "urls_in_exact_groups": {name: sum(map(len, groups)) for name, groups in exact.items()},
            "distance": distance if near else None,
        },
        "exact": {name: Lazy(groups, lambda g, name=name: exact_out(name, g))
                  for name, groups in exact.items()},
        "near": Lazy(near_list, near_out),
        "sites": {
            "groups": Lazy(sharing.groups, lambda kv: {
                "sites": sorted(kv[0]), "count": len(kv[1]),
                "images": [shared_out(img) for img in kv[1]]}),
            "per_site": dict(sorted(sharing.per_site.items(), key=lambda kv: (-kv[1], kv[0]))),
            "edges": [{"a": a, "b": b, "images": n} for a, b, n in sharing.edges],
        },
    }
