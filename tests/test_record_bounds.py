"""No record exceeds a size bound, and none carries image content, whatever the
input (issue 12, finding 11): EXIF values read from the pixel strip are
dropped, every string is capped (``imgprint.record_caps``)."""

from __future__ import annotations

import ast
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imgprint.formats import Spans
from imgprint.items import ImageRecord
from imgprint.pipelines import fingerprint_fields
from imgprint.record_caps import MAX_EXIF_VALUE, TRUNCATED
from tests.hostile_files import tiff_tiling_strip

#: Largest JSON line of one record, its ``url`` and ``pages`` aside.
RECORD_BOUND = 48 * 1024


def record_of(data: bytes, size: int | None = None, **headers: str) -> ImageRecord:
    spans = Spans(len(data) if size is None else size)
    spans.add(0, data)
    record = ImageRecord("http://example.com/x.tif")
    record.set(**headers)
    record.set(**fingerprint_fields(spans))
    return record


def line_length(record: ImageRecord) -> int:
    fields = {k: v for k, v in record.to_dict().items() if k not in ("url", "pages")}
    return len(json.dumps(fields, ensure_ascii=False).encode())


def as_bytes(value: str) -> bytes:
    """The bytes an EXIF string shows: exifread writes undecodable ones as b'...'."""
    text = value.removesuffix(TRUNCATED)
    if text.startswith(("b'", 'b"')):
        try:
            return ast.literal_eval(text)
        except (SyntaxError, ValueError):
            return text[2:].encode("latin-1", "backslashreplace")
    return text.encode("utf-8", "surrogateescape")


def test_ascii_tags_tiling_the_pixel_strip_are_dropped():
    data, _, strip = tiff_tiling_strip()
    record = record_of(data)
    leaked = sum(len(b) for b in map(as_bytes, record.exif.values())
                 if len(b) >= 8 and b[:8] in strip)
    assert leaked <= 128, f"{leaked} pixel bytes in the record"
    assert line_length(record) < RECORD_BOUND
    assert record.format == "tiff" and record.width == 400


def test_long_exif_values_are_cut_with_a_marker():
    record = ImageRecord("http://example.com/x.jpg")
    record.set(exif={"Image ImageDescription": "x" * 200_000}, etag="e" * 50_000,
               error="y" * 10_000)
    value = record.exif["Image ImageDescription"]
    assert value.endswith(TRUNCATED) and len(value) == MAX_EXIF_VALUE + len(TRUNCATED)
    assert record.etag.endswith(TRUNCATED) and len(record.etag) < 1100
    assert record.error.endswith(TRUNCATED)


def test_many_tags_are_capped():
    tags = {f"Image Tag 0x{i:04X}": "v" * 500 for i in range(5000)}
    record = ImageRecord("http://example.com/x.jpg")
    record.set(exif=tags)
    assert TRUNCATED in record.exif and line_length(record) < RECORD_BOUND


_TIFF_HEAD = st.sampled_from([b"II*\0\x08\0\0\0", b"MM\0*\0\0\0\x08", b"\xff\xd8\xff\xe1",
                              b"\x89PNG\r\n\x1a\n", b"RIFF\0\0\0\0WEBPVP8X", b""])


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(head=_TIFF_HEAD, body=st.binary(max_size=4096),
       ascii_tags=st.lists(st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF),
                                     st.integers(0, 0xFFFFFFFF)), max_size=60),
       etag=st.text(max_size=3000), content_type=st.text(max_size=3000))
def test_no_record_exceeds_the_bound(head, body, ascii_tags, etag, content_type):
    """Random bytes, random IFDs of ASCII tags with hostile counts and offsets,
    random header values: the record's line stays under RECORD_BOUND."""
    ifd = b""
    if head[:2] in (b"II", b"MM"):
        end = "<" if head[:2] == b"II" else ">"
        import struct
        ifd = struct.pack(end + "H", len(ascii_tags)) + b"".join(
            struct.pack(end + "HHII", tag, 2, count, off) for tag, count, off in ascii_tags)
    record = record_of(head + ifd + body, etag=etag, content_type=content_type)
    assert line_length(record) < RECORD_BOUND
