"""The structural EXIF planner (`formats.exif_plan`) against exifread itself.

Planning never runs exifread; these tests check that what it plans is what
exifread reads: followed until it asks for nothing more, the tags exifread
then finds over the spans held equal its tags over the whole file, for every
corpus image; and it survives every fuzzed file.
"""

from __future__ import annotations

import io
import logging
import time

import exifread
import pytest

from imgprint import formats
from imgprint.formats import Spans, needed
from imgprint.formats.dispatch import exif_offset
from imgprint.formats.exif_plan import exif_needed
from imgprint.formats.exif_walk import exif_tags_at
from imgprint.metadata.exif import tag_strings
from tests.helpers import CORPUS, PREFIX, whole

logging.getLogger("exifread").setLevel(logging.CRITICAL)

IMAGES = sorted(p for p in CORPUS.rglob("*") if p.is_file()
                and p.suffix.lower() in {".jpg", ".jpeg", ".tif", ".tiff", ".png", ".webp",
                                         ".heic", ".heif", ".avif"}
                and not {"fuzzing", "metadata"} & set(p.relative_to(CORPUS).parts[:-1]))
FUZZED = sorted(p for p in (CORPUS / "metadata-extractor" / "fuzzing").rglob("*") if p.is_file())


@pytest.fixture(autouse=True)
def strict(monkeypatch):
    monkeypatch.setattr(formats, "STRICT", True)


def full_tags(data: bytes) -> dict[str, str] | None:
    try:
        return tag_strings(exifread.process_file(io.BytesIO(data), details=False))
    except Exception:  # noqa: BLE001 - exifread fails on broken files
        return None


def plan_until_done(data: bytes, rounds: int = 64) -> Spans:
    """Prefix, then every range `needed` asks for, with no budget, until it asks for none."""
    spans = Spans(len(data))
    spans.add(0, data[:PREFIX])
    for _ in range(rounds):
        todo = needed(spans)
        if not todo:
            break
        for start, end in todo:
            spans.add(start, data[start:end])
    return spans


def test_corpus_has_exif_images():
    assert len(IMAGES) > 400


def test_planned_spans_give_full_file_tags():
    """Over every corpus image: the planner's spans, followed to the end, give
    exifread's full-file tags (same keys, same strings), except where the
    format's own segment walk leaves EXIF out on purpose."""
    checked = differ = bounded = 0
    problems = []
    for path in IMAGES:
        data = path.read_bytes()
        full = full_tags(data)
        if not full:
            continue
        spans = plan_until_done(data)
        off = exif_offset(spans)
        try:
            # exifread over the spans held, as the pipeline runs it (before any
            # filtering of the strings).
            ours = exif_tags_at(spans, off) if off is not None else {}
        except formats.FormatError:
            # Over the read bound of one exifread run (a TIFF of many pages with
            # long arrays): refused whatever is held, by design.
            bounded += 1
            continue
        checked += 1
        wrong = [k for k, v in full.items() if ours.get(k) != v]
        if wrong:
            differ += 1
            problems.append(f"{path.relative_to(CORPUS)}: {wrong[:3]}")
    assert checked > 150 and bounded <= 6
    assert not problems, problems


def test_whole_file_needs_nothing():
    for path in IMAGES:
        data = path.read_bytes()
        spans = whole(data)
        off = exif_offset(spans)
        if off is not None:
            assert exif_needed(spans, off) == [], path


def test_window_at_an_unheld_ifd_and_exact_values():
    # A little-endian TIFF: IFD0 at 8 with one ASCII entry (20 bytes at 100)
    # and an ExifOffset pointing at 4000, which is not held.
    ifd = (b"II*\0" + (8).to_bytes(4, "little") + (2).to_bytes(2, "little")
           + (0x010F).to_bytes(2, "little") + (2).to_bytes(2, "little")
           + (20).to_bytes(4, "little") + (100).to_bytes(4, "little")
           + (0x8769).to_bytes(2, "little") + (4).to_bytes(2, "little")
           + (1).to_bytes(4, "little") + (4000).to_bytes(4, "little") + bytes(4))
    spans = Spans(100_000)
    spans.add(0, ifd)
    todo = exif_needed(spans, 0)
    assert (100, 120) in todo  # the ASCII value, exactly
    assert any(s <= 4000 < e and e - s > 1000 for s, e in todo)  # a window at the Exif IFD


def test_fuzzed_files_are_bounded():
    for path in FUZZED:
        data = path.read_bytes()
        for spans in (whole(data), plan_until_done(data, rounds=4)):
            off = exif_offset(spans)
            if off is None:
                continue
            start = time.monotonic()
            exif_needed(spans, off)
            assert time.monotonic() - start < 2.0, path


def _run(reader) -> object:
    try:
        tags = exifread.process_file(reader, details=False, extract_thumbnail=False)
    except Exception as exc:  # noqa: BLE001 - the error is part of the answer
        return repr(exc)
    return {k: (str(v), getattr(v, "field_offset", None), getattr(v, "field_length", None))
            for k, v in tags.items()}


def test_buffer_reader_answers_as_the_span_reader():
    """exifread over `BufferReader` (a buffer of the held bytes) gives what it gives
    over `SpanReader`: the same tags, offsets and errors, on corpus images as the
    crawler holds them, whole, and on every fuzzed file whole and cut short."""
    from imgprint.formats.exif_walk import BufferReader
    from imgprint.spans import SpanReader
    from tests.helpers import crawled

    cases = []
    for path in IMAGES:
        data = path.read_bytes()
        cases += [crawled(data), whole(data)]
    for path in FUZZED:
        data = path.read_bytes()
        cut = Spans(len(data) * 3)  # a server that claimed more than it sent
        cut.add(0, data[: len(data) // 2])
        cases += [whole(data), cut]
    compared = 0
    for spans in cases:
        off = exif_offset(spans)
        for base in {0, off} - {None}:
            assert _run(BufferReader(spans, base)) == _run(SpanReader(spans, base))
            compared += 1
    assert compared > 1000
