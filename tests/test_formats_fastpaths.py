"""Faster paths give the same answers as the plain ones (issue 17)."""

from __future__ import annotations

from imgprint.formats import Spans, png, webp
from imgprint.formats.chunks import chain_back
from tests.helpers import CORPUS, PREFIX, crawled, whole

FILES = sorted(p for p in CORPUS.rglob("*") if p.is_file()
               and p.suffix.lower() in {".png", ".webp"} and "fuzzing" not in p.parts)
# A quarter of the fuzzed files (they are alike): broken lengths and types.
FILES += sorted(p for p in (CORPUS / "metadata-extractor" / "fuzzing").rglob("*")
                if p.is_file())[::4]


def test_backward_chunk_search_by_type_pattern_matches_the_byte_scan():
    compared = 0
    for path in FILES:
        data = path.read_bytes()
        tail = Spans(len(data))
        tail.add(0, data[:PREFIX])
        tail.add(max(0, len(data) - png.TAIL), data[-png.TAIL:])
        # Whole files only when small: the byte scan alone takes 0.1 s per MB.
        for spans in ([whole(data)] if len(data) < 65536 else []) + [crawled(data), tail]:
            size = spans.size or 0
            for floor in (0, min(size, PREFIX)):
                for args, fast in (
                        ((spans, size, floor, 12, png._ends_at, frozenset({b"IDAT"})),
                         (png._TYPE, 4)),
                        ((spans, size, floor, 8, webp._ends_at, frozenset(webp._IMAGE)),
                         (webp._FOURCC, 0))):
                    assert chain_back(*args, *fast) == chain_back(*args), path
                    compared += 1
    assert compared > 800
