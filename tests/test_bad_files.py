"""Corrupt, fuzzed and truncated files through the whole metadata path: no exception
escapes, time and memory stay bounded."""

from __future__ import annotations

import time
import tracemalloc

from imgprint import formats
from imgprint.formats import Spans
from imgprint.pipelines import fingerprint_fields
from tests.conftest import CORPUS

FUZZING = CORPUS / "metadata-extractor" / "fuzzing"
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".heic", ".heif", ".avif"}
SECONDS_PER_FILE = 2.0
PEAK_BYTES_PER_FILE = 64 * 1024 * 1024


def process(data: bytes, size: int | None) -> dict:
    """What the crawler does with the bytes it holds of a file of ``size`` bytes."""
    spans = Spans(size)
    spans.add(0, data)
    formats.needed(spans)
    formats.next_fetch(spans, 262144)
    return fingerprint_fields(spans)


def run_all(cases, memory_every: int = 1) -> tuple[float, str, int]:
    """Slowest case (timed without tracing) and the peak traced memory of every
    ``memory_every``-th case (tracemalloc slows the code tenfold)."""
    slowest, slowest_name, worst_peak = 0.0, "", 0
    for number, (name, data, size) in enumerate(cases):
        started = time.perf_counter()
        fields = process(data, size)
        elapsed = time.perf_counter() - started
        assert isinstance(fields["exif"], dict), name
        if elapsed > slowest:
            slowest, slowest_name = elapsed, name
        if number % memory_every == 0:
            tracemalloc.start()
            process(data, size)
            worst_peak = max(worst_peak, tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
    return slowest, slowest_name, worst_peak


def test_fuzzed_files():
    files = sorted(p for p in FUZZING.iterdir() if p.is_file())
    cases = [(p.name, p.read_bytes(), p.stat().st_size) for p in files]
    slowest, name, peak = run_all(cases)
    print(f"\nfuzzed: {len(cases)} files, slowest {slowest * 1000:.0f} ms ({name}), "
          f"peak {peak / 1e6:.1f} MB")
    assert slowest < SECONDS_PER_FILE and peak < PEAK_BYTES_PER_FILE


def test_every_image_truncated_at_several_lengths():
    images = sorted(p for p in CORPUS.rglob("*")
                    if p.suffix.lower() in IMAGE_EXTS and "fuzzing" not in p.parts)
    cases = []
    for path in images:
        data = path.read_bytes()
        for cut in sorted({0, 1, 2, 16, 100, 1000, 4096, len(data) // 2, len(data) - 1}):
            if 0 <= cut < len(data):
                # The server said the full size, the body stopped early; and a
                # body whose size is unknown.
                cases.append((f"{path.name}[:{cut}]", data[:cut], len(data)))
                cases.append((f"{path.name}[:{cut}]?", data[:cut], None))
    slowest, name, peak = run_all(cases, memory_every=7)
    print(f"\ntruncated: {len(cases)} cases over {len(images)} images, slowest "
          f"{slowest * 1000:.0f} ms ({name}), peak {peak / 1e6:.1f} MB")
    assert slowest < SECONDS_PER_FILE and peak < PEAK_BYTES_PER_FILE
