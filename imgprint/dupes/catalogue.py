"""The catalogue: per image URL, only what grouping needs.

:class:`Catalog` keeps hashes as bytes (the SHA-256s and PDQ), the phash and
the top band's pHash (``phash_band``) as ints, PDQ's quality and the phash's
source as small ints and the sites of an image's pages as an interned set, in
flat arrays, so a million records fit in a few hundred MB. :class:`SiteNamer`
turns a URL into its site (registrable domain); :func:`load` reads files into a
catalogue.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from imgprint.dupes.reading import InputError, OnError, expand_paths, iter_file

HASH_FIELDS = ("content_sha256", "sha256_first_10240_bytes")

_NETLOC = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#\\]*)")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}\Z")
_PHASH = re.compile(r"[0-9a-fA-F]{16}\Z")
# Sources a phash may name: anything else is kept as "other" (the field is
# crawler output, but a feed is input: its strings are not interned unbounded).
PHASH_SOURCES = 32


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

    def digest(self, i: int) -> bytes:
        """The stored digest of a row known to have one."""
        return bytes(self.digests[i * 32 : i * 32 + 32])

    def get(self, i: int) -> bytes | None:
        return self.digest(i) if self.present[i] else None

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
        self.phash_band = array("Q")  # pHash of the picture's top band
        self.has_phash_band = bytearray()
        self.pdq = _HashColumn()
        self.pdq_quality = array("b")  # -1: not given
        self.phash_source = bytearray()  # index into phash_sources; 0: none
        self.phash_sources: list[str | None] = [None]
        self.size = array("q")  # -1: unknown
        # Site sets are interned: most images share the set of their neighbours.
        self.site_set = array("I")
        self.site_sets: list[frozenset[str]] = [frozenset()]
        self._site_set_id: dict[frozenset[str], int] = {frozenset(): 0}
        self.records = 0
        self.files = 0

    def __len__(self) -> int:
        return len(self.urls)

    def add(self, rec: dict[str, Any]) -> list[str]:
        """Fold one record in; returns what was wrong with it (usually nothing)."""
        problems: list[str] = []
        url = rec.get("url")
        if not isinstance(url, str) or not url:
            return ["record without a url"]
        self.records += 1
        i = self._row.get(url)
        if i is None:
            i = self._new_row(url)
        pages = rec.get("pages")
        if pages:
            self._add_pages(i, pages, problems.append)
        if rec.get("seen_before") is not True:
            self._add_fingerprints(i, rec, problems.append)
        return problems

    def _new_row(self, url: str) -> int:
        i = self._row[url] = len(self.urls)
        self.urls.append(url)
        for col in self.hashes.values():
            col.grow()
        self.phash.append(0)
        self.has_phash.append(0)
        self.phash_band.append(0)
        self.has_phash_band.append(0)
        self.pdq.grow()
        self.pdq_quality.append(-1)
        self.phash_source.append(0)
        self.size.append(-1)
        self.site_set.append(0)
        return i

    def _add_fingerprints(self, i: int, rec: dict[str, Any],
                          where: Callable[[str], None]) -> None:
        for name, col in self.hashes.items():
            value = rec.get(name)
            if value is None:
                continue
            if type(value) is str and _SHA256.match(value):
                col.set(i, bytes.fromhex(value))
            else:
                where(f"{name}: not 64 hex digits")
        for name, values, present in (("phash", self.phash, self.has_phash),
                                      ("phash_band", self.phash_band, self.has_phash_band)):
            ph = rec.get(name)
            if ph is None:
                continue
            if type(ph) is str and _PHASH.match(ph):
                values[i] = int(ph, 16)
                present[i] = 1
            else:
                where(f"{name}: not 16 hex digits")
        self._add_pdq(i, rec, where)
        source = rec.get("phash_source")
        if type(source) is str:
            self.phash_source[i] = self._source_id(source)
        size = rec.get("image_size")
        if type(size) is int and size >= 0:
            self.size[i] = size

    def _add_pdq(self, i: int, rec: dict[str, Any], where: Callable[[str], None]) -> None:
        value, quality = rec.get("pdq"), rec.get("pdq_quality")
        if value is None:
            return
        if type(value) is not str or not _SHA256.match(value):
            where("pdq: not 64 hex digits")
            return
        self.pdq.set(i, bytes.fromhex(value))
        self.pdq_quality[i] = -1  # a later hash replaces the quality with it
        if type(quality) is int and 0 <= quality <= 100:
            self.pdq_quality[i] = quality
        elif quality is not None:
            where("pdq_quality: not an integer from 0 to 100")

    def _source_id(self, source: str) -> int:
        try:
            return self.phash_sources.index(source)
        except ValueError:
            if len(self.phash_sources) >= PHASH_SOURCES:
                source = "other"
                if source in self.phash_sources:
                    return self.phash_sources.index(source)
            self.phash_sources.append(source)
            return len(self.phash_sources) - 1

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

    def band_values(self) -> list[int | None]:
        """Each row's band pHash, None where it has none (for ``band_links``)."""
        return [v if p else None for v, p in zip(self.phash_band, self.has_phash_band,
                                                 strict=True)]

    def band_hex(self, i: int) -> str | None:
        return f"{self.phash_band[i]:016x}" if self.has_phash_band[i] else None

    def pdq_hex(self, i: int) -> str | None:
        d = self.pdq.get(i)
        return d.hex() if d is not None else None

    def quality(self, i: int) -> int | None:
        q = self.pdq_quality[i]
        return q if q >= 0 else None

    def source(self, i: int) -> str | None:
        return self.phash_sources[self.phash_source[i]]

    def pdq_usable(self, i: int, min_quality: int) -> bool:
        """Has a PDQ hash to group by: quality not given, or at least ``min_quality``."""
        if not self.pdq.present[i]:
            return False
        q = self.pdq_quality[i]
        return q < 0 or q >= min_quality

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
