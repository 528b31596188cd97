"""Runs of chunked APPn segments skipped by prediction (``imgprint.formats.jpeg_runs``):
the corpus JPEGs whose frame header sits behind 64 KB FLIR and ExtendedXMP
chunks get their dimensions and content hash from the 10,241-byte prefix
within the default follow-ups, without fetching the run; runs whose headers
lie, predicted ends in garbage and truncated files fall back to the plain
walk, never to wrong dimensions. Unit tests only: no servers.
"""

from __future__ import annotations

import io
import random
import struct

import pytest
from PIL import Image

from imgprint import settings
from imgprint.fetch.loop import FollowupResult
from imgprint.formats import Spans, content_hash, facts, jpeg, jpeg_runs
from imgprint.formats.jpeg_vendor import vendor_fields
from tests.helpers import ME, PREFIX, crawled_result, whole

K = settings.IMGPRINT_CONTENT_BYTES
FILES = {
    # file: (kind, first chunk, end of the run)
    "jpg/FLIR Vue Pro 640.jpg": ("flir", 494, 659190),
    "jpg/FLIR iPhone device.jpg": ("flir", 2258, 306962),
    "jpg/Android Depth Map.jpg": ("xmp_extended", 944, 522605),
}


def crawl(data: bytes, prefix: int = PREFIX) -> tuple[Spans, FollowupResult, list]:
    """The crawler's follow-up loop over ``data`` with the default budget."""
    log: list[list[tuple[int, int]]] = []
    spans, result = crawled_result(data, prefix=prefix, content_bytes=K, log=log)
    return spans, result, [r for ranges in log for r in ranges]


def all_segments(data: bytes) -> list[tuple[int, int, int]]:
    spans = whole(data)
    segs, stuck = jpeg.walk(spans)
    assert stuck is None and jpeg.predicted(spans) == []
    return segs


def pillow_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        return img.size


def dims(spans: Spans) -> tuple[int | None, int | None]:
    found = facts(spans)
    return found.get("width"), found.get("height")


# --- the corpus files ------------------------------------------------------------

@pytest.mark.parametrize("rel", sorted(FILES))
def test_corpus_run_skipped_within_the_default_followups(rel):
    data = (ME / rel).read_bytes()
    _, first, end = FILES[rel]
    spans, result, log = crawl(data)
    assert settings.IMGPRINT_FOLLOWUPS + settings.IMGPRINT_HASH_FOLLOWUPS <= 3
    assert result.requests <= 3  # with the prefix: at most 4 requests
    assert dims(spans) == pillow_size(data)
    assert content_hash(spans, K) is not None
    assert content_hash(spans, K) == content_hash(whole(data), K)
    # The chunks of the run are not fetched: what is asked inside it is the
    # last chunk's header, and the vendor decoder's FFF records and chunk headers.
    inside = sum(min(e, end) - max(s, first) for s, e in log if s < end and e > first)
    assert inside < 16_384
    assert result.bytes - result.band_bytes < 20_000  # the top band's are the phash's


@pytest.mark.parametrize("rel", sorted(FILES))
def test_predicted_chunks_are_the_real_ones_and_not_walked(rel):
    data = (ME / rel).read_bytes()
    real = all_segments(data)
    spans, _, _ = crawl(data)
    segs, stuck = jpeg.walk(spans)
    skipped = jpeg.predicted(spans)
    assert stuck is None and skipped
    assert set(skipped) <= set(real)
    assert not set(skipped) & set(segs)
    # What is walked plus what is predicted is the whole header section.
    assert sorted(segs + skipped, key=lambda s: s[1]) == real
    for _, pos, _ in skipped:  # no predicted chunk's header is held
        assert spans.get(pos, pos + 4) is None


def test_flir_vendor_fields_unchanged_by_the_skip():
    data = (ME / "jpg/FLIR Vue Pro 640.jpg").read_bytes()
    spans, _, _ = crawl(data)
    assert vendor_fields(spans) == vendor_fields(whole(data))


def test_whole_file_predicts_nothing():
    for rel in FILES:
        all_segments((ME / rel).read_bytes())


# --- hostile variants of the corpus files -----------------------------------------

def patched(rel: str, at: int, raw: bytes) -> bytes:
    data = bytearray((ME / rel).read_bytes())
    data[at:at + len(raw)] = raw
    return bytes(data)


def assert_never_wrong(data: bytes, truth: bytes | None = None) -> tuple[Spans, FollowupResult]:
    """Crawled: dimensions and content hash are the whole file's, or missing."""
    spans, result, _ = crawl(data)
    ref = whole(truth if truth is not None else data)
    assert dims(spans) in ((None, None), dims(ref))
    assert content_hash(spans, K) in (None, content_hash(ref, K))
    return spans, result


@pytest.mark.parametrize("last_index", [0, 1, 5, 9, 11, 12, 200, 255])
def test_flir_lying_last_index(last_index):
    rel = "jpg/FLIR Vue Pro 640.jpg"
    # Chunk 0 (in the prefix) declares another last index than the other chunks.
    data = patched(rel, 494 + 11, bytes([last_index]))
    assert_never_wrong(data)


def test_flir_lying_fff_directory_falls_back_to_the_last_header():
    rel = "jpg/FLIR Vue Pro 640.jpg"
    # The CameraInfo record's length: the stream would end a chunk later.
    data = patched(rel, 494 + 12 + 64 + 32 + 16, struct.pack(">I", 70_000))
    spans = Spans(len(data))
    spans.add(0, data[:PREFIX])
    run = jpeg_runs.predict(spans, jpeg.walk(spans)[0], 66030)
    assert run is not None and run.end is None and run.last == 655854
    spans, result = assert_never_wrong(data)
    assert dims(spans) == (640, 512)


@pytest.mark.parametrize("full", [0, 65383, 65384, 130000, 200000, 521028, 521030, 600000,
                                  0xFFFFFFFF])
def test_extended_xmp_lying_full_length(full):
    rel = "jpg/Android Depth Map.jpg"
    data = patched(rel, 944 + 4 + 35 + 32, struct.pack(">I", full))
    assert_never_wrong(data)


def test_extended_xmp_end_in_garbage_falls_back():
    rel = "jpg/Android Depth Map.jpg"
    # A COM segment between two chunks: every later chunk, and the end, move on.
    data = (ME / rel).read_bytes()
    com = segment(0xFE, b"not a chunk here")
    moved = data[:66406] + com + data[66406:]
    spans, result, log = crawl(moved)
    # The end predicted from chunk 0 is inside XMP text: the walk hops to the
    # COM and chunk 1, whose run ends where predicted.
    assert log[0][0] == 522605 and log[1][0] == 66406
    assert dims(spans) == pillow_size(data)
    assert content_hash(spans, K) == content_hash(whole(data), K)
    real = set(all_segments(moved))
    skipped = jpeg.predicted(spans)
    assert skipped and set(skipped) <= real
    assert min(pos for _, pos, _ in skipped) == 66406 + len(com) + 65462  # chunk 2


def test_predicted_end_on_fill_or_zeros_is_rejected():
    data = (ME / "jpg/Android Depth Map.jpg").read_bytes()
    for junk in (b"\x00" * 4, b"\xff\x00\x00\x00", b"\xff\xd9\x00\x00", b"\xff\xc0\x00\x05",
                 b"\xff\xe1\x00\x01"):
        assert_never_wrong(data[:522605] + junk + data[522609:], truth=data)


@pytest.mark.parametrize("rel", sorted(FILES))
@pytest.mark.parametrize("cut", [5_000, 66_500, 300_000, 306_970, 459_200, 522_610, 523_300,
                                 655_860, 659_200, 660_000])
def test_truncated_files(rel, cut):
    data = (ME / rel).read_bytes()
    if cut >= len(data):
        return
    spans, result, _ = crawl(data[:cut])
    assert result.requests <= 3
    found = dims(spans)
    assert found in ((None, None), pillow_size(data))


# --- synthetic runs -----------------------------------------------------------------

TAIL = (b"\xff\xdb\x00\x43\x00" + bytes(range(1, 65))
        + b"\xff\xc0\x00\x11\x08\x01\x23\x02\x34\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
        + b"\xff\xc4\x00\x14\x00" + bytes([1]) + bytes(15) + b"\x00"
        + b"\xff\xda\x00\x0c\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00" + b"\x12\x34" * 5000
        + b"\xff\xd9")
SIZE = (0x234, 0x123)  # (width, height) of TAIL's SOF


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def icc_file(profile: int, chunk: int, count: int | None = None,
             sizes: list[int] | None = None) -> bytes:
    """A JPEG whose ICC profile of `profile` bytes is cut into chunks of `chunk`."""
    body = struct.pack(">I", profile) + bytes((i * 7) & 0x7F for i in range(profile - 4))
    pieces, at = [], 0
    for size in sizes or []:
        pieces.append(body[at:at + size])
        at += size
    while at < profile:
        pieces.append(body[at:at + chunk])
        at += chunk
    n = count if count is not None else len(pieces)
    segs = [segment(0xE2, b"ICC_PROFILE\0" + bytes([i + 1, n]) + p) for i, p in enumerate(pieces)]
    return b"\xff\xd8" + segment(0xE0, b"JFIF\0\x01\x01\x00\x00\x01\x00\x01\x00\x00") + b"".join(
        segs) + TAIL


def test_icc_run_skipped_past_the_first_chunks():
    data = icc_file(600_000, 65_000)
    spans, result, _ = crawl(data)
    assert dims(spans) == SIZE == pillow_size(data)
    assert content_hash(spans, K) == content_hash(whole(data), K)
    assert result.requests <= 3
    skipped = jpeg.predicted(spans)
    assert skipped and all(seg[0] == 0xE2 for seg in skipped)
    # The profile's first chunks are walked: what the ICC block wants stays located.
    segs, _ = jpeg.walk(spans)
    assert sum(1 for seg in segs if seg[0] == 0xE2) >= 2


@pytest.mark.parametrize("count", [3, 9, 11, 12, 255])
def test_icc_count_that_disagrees_with_the_sizes_is_not_predicted(count):
    data = icc_file(600_000, 65_000, count=count)
    spans, _ = assert_never_wrong(data)
    assert jpeg.predicted(spans) == []


def test_icc_chunks_of_varying_size_still_end_where_declared():
    # Chunk 3 is short, the last one longer: the end the sizes declare is right.
    data = icc_file(600_000, 65_000, sizes=[65_000, 65_000, 60_000])
    spans, _ = assert_never_wrong(data)
    assert dims(spans) == SIZE


def test_icc_end_in_profile_data_falls_back():
    data = icc_file(600_000, 65_000)
    cut = 20 + 4 * 65_018  # after the 4th chunk: a COM moves the rest on
    moved = data[:cut] + segment(0xFE, b"between the chunks") + data[cut:]
    spans, _ = assert_never_wrong(moved)
    assert jpeg.predicted(spans) == []


def test_small_icc_profile_is_walked_not_predicted():
    data = icc_file(100_000, 60_000)
    spans, _ = assert_never_wrong(data)
    assert dims(spans) == SIZE
    assert jpeg.predicted(spans) == []


def flir_file(chunks: int, length: int, last: int, index_bytes=None) -> bytes:
    segs = []
    for i in range(chunks):
        size = length if i < chunks - 1 else last
        idx = index_bytes(i) if index_bytes else bytes([i, chunks - 1])
        segs.append(segment(0xE1, b"FLIR\0\x01" + idx + bytes(size - 10)))
    return b"\xff\xd8" + b"".join(segs) + TAIL


def test_flir_without_fff_is_verified_at_its_last_header():
    data = flir_file(8, 65_534, 30_000)
    spans, result, log = crawl(data)
    assert dims(spans) == SIZE
    assert content_hash(spans, K) == content_hash(whole(data), K)
    assert len(jpeg.predicted(spans)) == 6
    assert result.requests <= 3


def test_tiny_flir_chunks_are_bounded():
    # 256 chunks of 13 bytes: a cheap file with the most chunks an index allows.
    data = flir_file(256, 13, 13, index_bytes=lambda i: bytes([i, 255]))
    spans, _ = assert_never_wrong(data)
    assert len(jpeg.predicted(spans)) <= jpeg_runs.MAX_RUN_CHUNKS


def test_one_run_skipped_per_walk():
    flir = flir_file(4, 65_534, 65_534)[2:-len(TAIL)]
    data = b"\xff\xd8" + flir + icc_file(600_000, 65_000)[2:]
    spans, _ = assert_never_wrong(data)
    skipped = jpeg.predicted(spans)
    assert len({seg[0] for seg in skipped}) <= 1


def test_chain_ok():
    def held(raw: bytes) -> Spans:
        spans = Spans(1000)
        spans.add(100, raw)
        return spans

    assert jpeg_runs.chain_ok(held(TAIL[:200]), 100)
    assert jpeg_runs.chain_ok(held(b"\xff\xe1\x10\x00"), 100)  # a long APPn, past the held
    assert not jpeg_runs.chain_ok(held(b"\x12\x34\xff\xe1"), 100)
    assert not jpeg_runs.chain_ok(held(b"\xff\xd9"), 100)
    assert not jpeg_runs.chain_ok(held(b"\xff\xc0\x00\x11\x08\x01\x23\x02\x34\x04"), 100)
    assert not jpeg_runs.chain_ok(held(b"\xff\xdb\x00\x04\x00\x00\x41\x42\x43\x44"), 100)
    assert not jpeg_runs.chain_ok(held(b""), 100)


@pytest.mark.parametrize("rel", sorted(FILES))
def test_mutated_headers_and_ends(rel):
    """Random bytes in the chunk headers and around the run's end: the dimensions
    and content hash are the original file's, the mutated file's, or missing
    (a skipped chunk's header is not read: a mutation there may go unseen)."""
    data = (ME / rel).read_bytes()
    _, _, end = FILES[rel]
    ref = whole(data)
    heads = [pos for marker, pos, _ in all_segments(data) if marker in (0xE1, 0xE2)]
    rng = random.Random(rel)
    for _ in range(40):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            at = rng.choice(heads + [end] * len(heads)) + rng.randint(-40, 80)
            mutated[at] = rng.randrange(256)
        spans, result, _ = crawl(bytes(mutated))
        assert result.requests <= 3
        other = whole(bytes(mutated))
        assert dims(spans) in ((None, None), dims(ref), dims(other))
        assert content_hash(spans, K) in (None, content_hash(ref, K), content_hash(other, K))
