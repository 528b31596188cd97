"""Property tests: random, mutated and truncated bytes never break the parsers.

For every format: `needed` stays inside the file and under the span cap,
`next_fetch` stays inside the budget, `exif_tags` raises only FormatError,
`facts` returns a dict; the fetch loop ends.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imgprint import formats
from imgprint.formats import FormatError, Spans, exif_tags, facts, needed, next_fetch

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
logging.getLogger("exifread").setLevel(logging.CRITICAL)

MAGICS = [
    b"\xff\xd8\xff\xe1\x00\x40Exif\0\0II*\0\x08\0\0\0",
    b"\xff\xd8\xff\xe1\x00\x40Exif\0\0MM\0*\0\0\0\x08",
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
    b"GIF89a",
    b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\x2c\0\0\0",
    b"II*\0\x08\0\0\0",
    b"MM\0*\0\0\0\x08",
    b"II+\0\x08\0\0\0\x10\0\0\0\0\0\0\0",
    b"\0\0\0\x18ftypheic\0\0\0\0mif1heic",
    b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf",
]

# A few real headers to mutate: structure is where the bugs hide.
SAMPLES = [
    "exif-samples/jpg/Canon_40D.jpg",
    "exif-samples/tiff/Arbitro.tiff",
    "metadata-extractor/png/sampleWithExifData.png",
    "metadata-extractor/webp/Nikon D1X.webp",
    "metadata-extractor/heic/exif-at-eof.heic",
    "metadata-extractor/avif/32Bit-72dpi-sRGB-800x600.avif",
    "metadata-extractor/gif/mspaint-10x10.gif",
]
REAL = [(CORPUS / s).read_bytes()[:4096] for s in SAMPLES if (CORPUS / s).is_file()]

FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(autouse=True)
def strict(monkeypatch):
    monkeypatch.setattr(formats, "STRICT", True)


def check_all(spans: Spans, budget: int = 100_000) -> None:
    size = spans.size
    for start, end in needed(spans):
        assert 0 <= start < end
        assert end - start <= formats.MAX_SPAN
        if size is not None:
            assert end <= size
        assert not spans.has(start, end)
    rng = next_fetch(spans, budget)
    if rng is not None:
        assert 0 <= rng[0] < rng[1] and rng[1] - rng[0] <= budget
        if size is not None:
            assert rng[1] <= size
    try:
        tags = exif_tags(spans)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items())
    except FormatError:
        pass
    assert isinstance(facts(spans), dict)


def crawl_loop(data: bytes, prefix: int, budget: int) -> None:
    """The crawler's loop over `data` must end and stay in bounds."""
    spans = Spans(len(data))
    spans.add(0, data[:prefix])
    for _ in range(5):
        check_all(spans, budget)
        rng = next_fetch(spans, budget)
        if rng is None:
            break
        budget -= rng[1] - rng[0]
        spans.add(rng[0], data[rng[0] : rng[1]])


@FAST
@given(magic=st.sampled_from(MAGICS), tail=st.binary(max_size=600),
       extra=st.integers(0, 1 << 20), prefix=st.integers(0, 700))
def test_random_bytes_after_magic(magic, tail, extra, prefix):
    data = magic + tail
    spans = Spans(len(data) + extra)
    spans.add(0, data[: max(prefix, 1)])
    check_all(spans)


@FAST
@given(data=st.data())
def test_mutated_real_headers(data):
    assert REAL, "the corpus (../shared/corpus) is missing"
    raw = bytearray(data.draw(st.sampled_from(REAL)))
    for _ in range(data.draw(st.integers(1, 12))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(raw)))
    crawl_loop(bytes(raw[:cut]) + bytes(data.draw(st.binary(max_size=64))),
               prefix=data.draw(st.integers(1, cut)), budget=data.draw(st.integers(0, 1 << 16)))


@FAST
@given(data=st.data())
def test_sparse_pieces_unknown_size(data):
    """Scattered ranges, size unknown: needed() must still make sense."""
    assert REAL, "the corpus (../shared/corpus) is missing"
    raw = data.draw(st.sampled_from(REAL))
    spans = Spans(None)
    for _ in range(data.draw(st.integers(1, 4))):
        a = data.draw(st.integers(0, len(raw) - 1))
        b = data.draw(st.integers(a + 1, len(raw)))
        spans.add(a, raw[a:b])
    check_all(spans)


@FAST
@given(ops=st.lists(st.tuples(st.integers(0, 300), st.binary(min_size=1, max_size=80)),
                    max_size=12),
       size=st.one_of(st.none(), st.integers(0, 400)))
def test_spans_model(ops, size):
    """Spans against a plain bytearray model."""
    spans = Spans(size)
    model: dict[int, int] = {}
    for off, blob in ops:
        spans.add(off, blob)
        for i, b in enumerate(blob):
            if size is None or off + i < size:
                model[off + i] = b
    assert spans.held() == len(model)
    extent = spans.extent()
    assert spans.reader().read() == bytes(model.get(i, 0) for i in range(extent))
    for start in range(0, 420, 37):
        end = start + 29
        want = all(i in model for i in range(start, end))
        assert spans.has(start, end) == want
        missing = {i for s, e in spans.missing(start, end) for i in range(s, e)}
        limit = end if size is None else min(end, size)
        assert missing == {i for i in range(start, limit) if i not in model}
