"""Known images: an analyst's list of fingerprints, matched against the crawl.

``scrapy dupes --known FILE``. FILE is CSV with a header row, or JSON lines;
each row (entry) has the analyst's ``label`` and any of
``sha256_first_10240_bytes`` and ``content_sha256`` (matched exactly), ``pdq``
(64 hex digits) and ``phash`` (16 hex digits), matched within the distances
near-duplicates use. As there, a crawled image and an entry that both carry a
PDQ hash match by PDQ only (the crawled one only at ``pdq_quality`` >= 50, or
none given); the phash is used otherwise. Other columns are ignored. A bad
row is an :class:`~imgprint.dupes.reading.InputError` naming the file and line;
the row is left out whole, the others are used.

:func:`load_known` reads the list, :func:`match_known` finds every crawled URL
matching each entry (exact hashes by dictionary, PDQ and phash by multi-index
hashing), :func:`known_section` puts them in the report with the pages and
sites of each URL (:func:`matched_pages` reads the pages again from the
feeds), and the entries never seen.
"""

from __future__ import annotations

import csv
import re
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any

from imgprint.dupes.catalogue import HASH_FIELDS, Catalog
from imgprint.dupes.mih import cross_pairs, words_of_digests, words_of_ints
from imgprint.dupes.near import PDQ_BITS, PDQ_MIN_QUALITY, PHASH_BITS
from imgprint.dupes.reading import InputError, OnError, expand_paths, iter_file
from imgprint.dupes.report import Lazy, safe

KNOWN_FIELDS = (*HASH_FIELDS, "pdq", "phash")
_HEX = {"content_sha256": re.compile(r"[0-9a-fA-F]{64}\Z"),
        "sha256_first_10240_bytes": re.compile(r"[0-9a-fA-F]{64}\Z"),
        "pdq": re.compile(r"[0-9a-fA-F]{64}\Z"), "phash": re.compile(r"[0-9a-fA-F]{16}\Z")}
# Longest label kept: labels are printed in every report.
MAX_LABEL = 500
# Longest CSV field read (csv's own default is 128 KiB).
MAX_FIELD = 4096
# Pages listed per matching URL.
MAX_PAGES = 50


@dataclass
class KnownList:
    """The entries of a known-image list, one index each."""

    file: str
    labels: list[str] = field(default_factory=list)
    lines: array[int] = field(default_factory=lambda: array("I"))
    values: list[dict[str, str]] = field(default_factory=list)  # field -> lower-case hex
    exact: dict[str, dict[bytes, list[int]]] = field(
        default_factory=lambda: {name: {} for name in HASH_FIELDS})
    pdq: dict[bytes, list[int]] = field(default_factory=dict)
    phash: dict[int, list[int]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    def add(self, line: int, label: str, values: dict[str, str]) -> None:
        k = len(self.labels)
        self.labels.append(label)
        self.lines.append(line)
        self.values.append(values)
        for name, value in values.items():
            if name in HASH_FIELDS:
                self.exact[name].setdefault(bytes.fromhex(value), []).append(k)
            elif name == "pdq":
                self.pdq.setdefault(bytes.fromhex(value), []).append(k)
            else:
                self.phash.setdefault(int(value, 16), []).append(k)


def load_known(path: str | Path, on_error: OnError) -> KnownList:
    """Read a known list (CSV or JSON lines); bad rows go to ``on_error``."""
    name = str(path)
    known = KnownList(name)
    for line, row in _rows(Path(path), on_error):
        entry = _entry(row)
        if isinstance(entry, str):
            on_error(InputError(name, line, entry))
        else:
            known.add(line, *entry)
    return known


def _rows(path: Path, on_error: OnError) -> Iterator[tuple[int, dict[str, Any]]]:
    name = str(path)
    try:
        with path.open("rb") as f:
            start = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    except OSError as exc:
        on_error(InputError(name, None, f"cannot read: {exc}"))
        return
    if start in (b"{", b"["):
        yield from iter_file(path, on_error)
        return
    try:
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as f:
            yield from _csv_rows(f, name, on_error)
    except OSError as exc:
        on_error(InputError(name, None, f"cannot read: {exc}"))


def _csv_rows(f: IO[str], name: str, on_error: OnError) -> Iterator[tuple[int, dict[str, Any]]]:
    old_limit = csv.field_size_limit(MAX_FIELD)  # process-wide: put back when done
    try:
        yield from _csv_body(csv.reader(f), name, on_error)
    finally:
        csv.field_size_limit(old_limit)


def _csv_body(reader: Any, name: str, on_error: OnError) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        header = [h.strip().lower() for h in next(reader, [])]
    except csv.Error as exc:
        on_error(InputError(name, 1, f"bad CSV header: {exc}"))
        return
    if "label" not in header or not set(header) & set(KNOWN_FIELDS):
        on_error(InputError(name, 1, "the header row must name label and any of "
                                     + ", ".join(KNOWN_FIELDS)))
        return
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            on_error(InputError(name, reader.line_num, f"bad CSV: {exc}"))
            continue
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            on_error(InputError(name, reader.line_num,
                                f"{len(cells)} fields where the header has {len(header)}"))
            continue
        yield reader.line_num, dict(zip(header, cells, strict=True))


def _entry(row: dict[str, Any]) -> tuple[str, dict[str, str]] | str:
    """(label, fingerprints) of a row, or what is wrong with it."""
    label = row.get("label")
    if type(label) is not str or not label.strip():
        return "no label"
    label = label.strip()
    if len(label) > MAX_LABEL:
        return f"label longer than {MAX_LABEL} characters"
    values: dict[str, str] = {}
    for name in KNOWN_FIELDS:
        value = row.get(name)
        if value is None or value == "":
            continue
        if type(value) is not str or not _HEX[name].match(value.strip()):
            digits = 16 if name == "phash" else 64
            return f"{name}: not {digits} hex digits"
        values[name] = value.strip().lower()
    if not values:
        return "no fingerprint: give any of " + ", ".join(KNOWN_FIELDS)
    return label, values


@dataclass
class KnownMatches:
    """Per entry, the crawled rows matching it: row -> (by, distance)."""

    rows: dict[int, dict[int, tuple[str, int]]] = field(default_factory=dict)

    def add(self, k: int, i: int, by: str, distance: int) -> None:
        found = self.rows.setdefault(k, {})
        if i not in found:  # the first way found stands: exact, then PDQ, then phash
            found[i] = (by, distance)


def match_known(cat: Catalog, known: KnownList, distance: int, pdq_distance: int,
                min_quality: int = PDQ_MIN_QUALITY) -> KnownMatches:
    """Every crawled row matching each entry, exactly or within the distances."""
    matches = KnownMatches()
    for name in HASH_FIELDS:
        table, col = known.exact[name], cat.hashes[name]
        if table:
            for i in range(len(cat)):
                if col.present[i]:
                    for k in table.get(col.digest(i), ()):
                        matches.add(k, i, name, 0)
    usable = bytearray(cat.pdq_usable(i, min_quality) for i in range(len(cat)))
    if known.pdq and pdq_distance >= 0:
        crawled: dict[bytes, list[int]] = {}
        for i in range(len(cat)):
            if usable[i]:
                crawled.setdefault(cat.pdq.digest(i), []).append(i)
        _cross(crawled, known.pdq, words_of_digests(b"".join(crawled), 32),
               words_of_digests(b"".join(known.pdq), 32), pdq_distance, PDQ_BITS,
               lambda i, k, d: matches.add(k, i, "pdq", d))
    if known.phash and distance >= 0:
        by_value: dict[int, list[int]] = {}
        for i in range(len(cat)):
            if cat.has_phash[i]:
                by_value.setdefault(cat.phash[i], []).append(i)

        def by_phash(i: int, k: int, d: int) -> None:
            if not (usable[i] and "pdq" in known.values[k]):  # PDQ decides then
                matches.add(k, i, "phash", d)

        _cross(by_value, known.phash, words_of_ints(list(by_value)),
               words_of_ints(list(known.phash)), distance, PHASH_BITS, by_phash)
    return matches


def _cross(crawled: dict[Any, list[int]], entries: dict[Any, list[int]], queries: Any,
           table: Any, distance: int, bits: int, found: Callable[[int, int, int], None]) -> None:
    if not crawled:
        return
    rows, ks = list(crawled.values()), list(entries.values())
    pairs, dists = cross_pairs(queries, table, distance, bits)
    for q, t, d in zip(pairs[0].tolist(), pairs[1].tolist(), dists.tolist(), strict=True):
        for i in rows[q]:
            for k in ks[t]:
                found(i, k, d)


def matched_pages(paths: Iterable[str | Path], cat: Catalog,
                  matches: KnownMatches) -> dict[str, list[str]]:
    """The pages of every matching URL (at most MAX_PAGES each), by reading the
    feeds again: the catalogue keeps only the sites of a URL's pages, and keeping
    every page of a million records for the few that match would cost more
    than this second pass (measured: reading 1,000,000 records took 13.6 s, and
    50 s with every URL's pages interned). Bad lines were reported by the first
    pass and are skipped silently."""
    wanted = {cat.urls[i] for found in matches.rows.values() for i in found}
    pages: dict[str, list[str]] = {url: [] for url in wanted}
    if not wanted:
        return pages
    for path in expand_paths(paths):
        for _, rec in iter_file(path, lambda err: None):
            url, more = rec.get("url"), rec.get("pages")
            kept = pages.get(url) if type(url) is str else None
            if kept is None or not isinstance(more, list) or len(kept) >= MAX_PAGES:
                continue
            for page in more:
                if type(page) is str and page not in kept and len(kept) < MAX_PAGES:
                    kept.append(page)
    return {url: sorted(p) for url, p in pages.items()}


def known_section(cat: Catalog, known: KnownList, matches: KnownMatches, distance: int,
                  pdq_distance: int, pages: dict[str, list[str]] | None = None
                  ) -> dict[str, Any]:
    """The ``known`` part of the report: matched entries (most URLs first) and
    the entries never seen (in file order); ``pages`` from :func:`matched_pages`."""
    matched = sorted(matches.rows, key=lambda k: (-len(matches.rows[k]), known.labels[k], k))
    never = [k for k in range(len(known)) if k not in matches.rows]
    return {"file": known.file, "entries": len(known), "matched": len(matched),
            "never_seen_count": len(never), "distance": distance, "pdq_distance": pdq_distance,
            "matches": Lazy(matched, partial(_match_out, cat, known, matches, pages or {})),
            "never_seen": Lazy(never, partial(_entry_out, known))}


def _entry_out(known: KnownList, k: int) -> dict[str, Any]:
    return {"label": known.labels[k], "line": known.lines[k], **known.values[k]}


def _match_out(cat: Catalog, known: KnownList, matches: KnownMatches,
               pages: dict[str, list[str]], k: int) -> dict[str, Any]:
    found = matches.rows[k]
    rows = sorted(found, key=lambda i: (found[i][1], cat.urls[i]))
    sites = sorted(set().union(*(cat.sites(i) for i in rows)))
    return {**_entry_out(known, k), "count": len(rows), "sites": sites,
            "images": [{"url": cat.urls[i], "by": found[i][0], "distance": found[i][1],
                        "pages": pages.get(cat.urls[i], []), "sites": sorted(cat.sites(i))}
                       for i in rows]}


def render_known_text(section: dict[str, Any], out: IO[str]) -> None:
    """The known-image part of the text report."""
    def w(line: str) -> None:
        out.write(line + "\n")

    w("")
    w(f"== Known images ({safe(section['file'])}: {section['entries']:,} entries, "
      f"{section['matched']:,} seen, {section['never_seen_count']:,} never seen; "
      f"PDQ within {section['pdq_distance']}, phash within {section['distance']}) ==")
    for n, m in enumerate(section["matches"], 1):
        w(f"[{n}] {safe(m['label'])} (line {m['line']}): {m['count']} URLs on "
          f"{len(m['sites'])} sites: {safe(', '.join(m['sites']))}")
        for img in m["images"]:
            w(f"    {img['by']} d={img['distance']:<3} {safe(img['url'])}")
            for page in img["pages"]:
                w(f"        on {safe(page)}")
    if section["never_seen_count"]:
        w(f"-- never seen ({section['never_seen_count']:,}):")
        for e in section["never_seen"]:
            kinds = ", ".join(k for k in KNOWN_FIELDS if k in e)
            w(f"    {safe(e['label'])} (line {e['line']}; {kinds})")
