"""Metadata blocks beyond EXIF (`imgprint.formats.blocks`): where each
container keeps them, what of them is fetched, and that hostile files cost
bounded time.

Real corpus files check the located bytes against what the format says they
are; built files check the edge cases: blocks cut by the end of the file or
by the bytes held, lengths lying past the end, 10,000 APP13 segments, 100,000
PNG text chunks, TIFF IFD chains that loop or claim 65,535 entries, a WebP
whose EXIF sits before its XMP 400 KB into the file.
"""

from __future__ import annotations

import struct
import time
import zlib

import pytest

from imgprint import formats
from imgprint.formats import Spans, metadata_blocks, needed, unread_blocks
from imgprint.formats.blocks import MAX_PER_KIND, block_wants, located
from tests.helpers import CORPUS, EX, ME, PREFIX, crawled_result, whole

FUZZED = sorted(p for p in (ME / "fuzzing").rglob("*") if p.is_file())


@pytest.fixture(autouse=True)
def strict(monkeypatch):
    monkeypatch.setattr(formats, "STRICT", True)


def prefix(data: bytes, n: int = PREFIX) -> Spans:
    spans = Spans(len(data))
    spans.add(0, data[:n])
    return spans


def kinds(spans: Spans) -> list[str]:
    return [kind for kind, _ in metadata_blocks(spans)]


ICC = ("icc", "icc_jpeg", "icc_zlib")


def alike(crawled: list[tuple[str, bytes]], full: list[tuple[str, bytes]]) -> bool:
    """The same blocks, an ICC profile being a prefix (as far as its `desc` tag)."""
    if [k for k, _ in crawled] != [k for k, _ in full]:
        return False
    return all(a == b or k in ICC and b.startswith(a) and len(a) >= 132
               for (k, a), (_, b) in zip(crawled, full, strict=True))


def crawl(data: bytes, followups: int = 3, ahead: int = 0) -> tuple[Spans, object]:
    return crawled_result(data, followups=followups, budget=262144, content_bytes=4096,
                          scan_bytes=65536, hash_followups=0, ahead=ahead)


# --- builders -------------------------------------------------------------------


def tiff_blob(entries: dict[int, tuple[int, bytes]], exif: dict[int, tuple[int, bytes]]
              | None = None) -> bytes:
    """A little-endian TIFF: IFD0 with `entries` (tag -> (type, value bytes)),
    and an Exif IFD with `exif` if given; values out of line after the IFDs."""
    entries = dict(entries)
    if exif is not None:
        entries[0x8769] = (4, b"\0\0\0\0")  # patched below
    tags = sorted(entries)
    ifd0 = 8
    exif_at = ifd0 + 2 + 12 * len(tags) + 4
    exif_tags = sorted(exif or {})
    values_at = exif_at + (2 + 12 * len(exif_tags) + 4 if exif is not None else 0)
    values = bytearray()

    def ifd(table: dict[int, tuple[int, bytes]], order: list[int]) -> bytes:
        out = bytearray(struct.pack("<H", len(order)))
        for tag in order:
            typ, raw = table[tag]
            if tag == 0x8769:
                raw = struct.pack("<I", exif_at)
            size = {1: 1, 2: 1, 3: 2, 4: 4, 7: 1}[typ]
            count = len(raw) // size
            if len(raw) <= 4:
                field = raw.ljust(4, b"\0")
            else:
                field = struct.pack("<I", values_at + len(values))
                values.extend(raw + b"\0" * (len(raw) & 1))
            out += struct.pack("<HHI", tag, typ, count) + field
        return bytes(out + b"\0\0\0\0")

    body = ifd(entries, tags)
    sub = ifd(exif or {}, exif_tags) if exif is not None else b""
    return b"II*\0" + struct.pack("<I", ifd0) + body + sub + bytes(values)


CAMERA = tiff_blob({0x010F: (2, b"Canon\0"), 0x0110: (2, b"EOS 5D\0")},
                   {0x9286: (7, b"ASCII\0\0\0a comment worth keeping")})


def jpeg(*segments: tuple[int, bytes], tail: bytes = b"") -> bytes:
    """SOI, the segments, a minimal SOS and EOI."""
    out = bytearray(b"\xff\xd8")
    for marker, payload in segments:
        out += bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload
    sos = b"\x01\x01\x00\x00\x3f\x00"
    return bytes(out + b"\xff\xda" + struct.pack(">H", len(sos) + 2) + sos + tail + b"\xff\xd9")


def png_chunk(ctype: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + ctype + data
            + struct.pack(">I", zlib.crc32(ctype + data)))


def png(*chunks: bytes) -> bytes:
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    idat = png_chunk(b"IDAT", zlib.compress(b"\0\0"))
    return b"\x89PNG\r\n\x1a\n" + ihdr + b"".join(chunks) + idat + png_chunk(b"IEND", b"")


def riff_chunk(fourcc: bytes, data: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1)


def webp(flags: int, *chunks: bytes) -> bytes:
    vp8x = riff_chunk(b"VP8X", bytes([flags, 0, 0, 0]) + (99).to_bytes(3, "little") * 2)
    body = b"WEBP" + vp8x + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


XMP = (b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
       b"</x:xmpmeta><?xpacket end=\"w\"?>")


# --- real files -----------------------------------------------------------------


def test_jpeg_blocks_of_a_real_file_are_the_payloads_after_their_identifiers():
    data = (EX / "jpg/xmp/no_exif.jpg").read_bytes()
    blocks = dict(metadata_blocks(whole(data)))
    assert blocks["xmp"].startswith(b"<?xpacket") and blocks["xmp"].rstrip().endswith(b"?>")
    assert blocks["photoshop"].startswith(b"8BIM")
    assert blocks["icc_jpeg"][:2] == b"\x01\x01"  # seq 1 of 1, then the profile
    assert blocks["icc_jpeg"][2 + 36 : 2 + 40] == b"acsp"
    # The crawl fetches what lies past the prefix and hands over the same bytes.
    spans, _ = crawl(data)
    assert alike(metadata_blocks(spans), metadata_blocks(whole(data)))
    assert unread_blocks(spans) == []


def test_comments_and_user_comments():
    data = (EX / "jpg/exif-org/sanyo-vpcsx550.jpg").read_bytes()
    spans, _ = crawl(data)
    blocks = dict(metadata_blocks(spans))
    assert blocks["comment"].startswith(b"Et voila.")
    assert "user_comment" in blocks
    data = (ME / "png/Issue 280 (dotnet).png").read_bytes()
    assert dict(metadata_blocks(whole(data)))["user_comment"] == b"ASCII\0\0\0Screenshot"


@pytest.mark.parametrize("path, expect", [
    (ME / "png/ImageTestSuite/18f9baf3834980f4b80a3e82ad45be48.png",
     {"png_text", "png_time"}),
    (ME / "png/ImageTestSuite/1b9a48cf04466108f6f2d225d100edbf.png", {"png_ztxt"}),
    (ME / "png/Issue 280 (dotnet).png", {"png_itxt"}),
    (ME / "png/ImageTestSuite/51a4d21670dc8dfa8ffc9e54afd62f5f.png", {"icc_zlib"}),
    (ME / "tif/ImageTestSuite/0c84d07e1b22b76f24cccc70d8788e4a.tif",
     {"xmp", "iptc", "photoshop"}),
    (EX / "tiff/Tless0.tiff", {"icc"}),
    (EX / "heic/IMG_5195.HEIC", {"xmp", "icc"}),
    (ME / "avif/Issue 649.avif", {"xmp"}),
    (ME / "gif/Issue 201.gif", {"xmp", "comment"}),
])
def test_blocks_per_container(path, expect):
    data = path.read_bytes()
    blocks = metadata_blocks(whole(data))
    assert expect <= {kind for kind, _ in blocks}
    for kind, payload in blocks:
        if kind == "xmp":
            assert payload.lstrip().startswith((b"<?xpacket", b"<x:xmpmeta")), path.name
        elif kind == "icc":
            assert payload[36:40] == b"acsp", path.name
        elif kind == "png_time":
            assert len(payload) == 7
    # What the crawl hands over is what the whole file gives.
    spans, result = crawl(data, ahead=0)
    if not formats.needed(spans):
        assert alike(metadata_blocks(spans), blocks), path.name


def test_gif_xmp_is_raw_up_to_the_terminator_and_comments_are_joined():
    data = (ME / "gif/Issue 201.gif").read_bytes()
    blocks = metadata_blocks(whole(data))
    xmp = next(p for k, p in blocks if k == "xmp")
    # The packet, then the magic trailer (0x01, 0xFF ... 0x00) without the terminator.
    assert xmp.startswith(b"<?xpacket") and xmp.endswith(bytes(range(255, -1, -1)))
    assert dict(blocks)["comment"] == b"this is a comment"


def test_gif_extension_past_the_prefix_is_fetched_up_to_its_cap():
    comment = b"".join(bytes([255]) + b"c" * 255 for _ in range(60)) + b"\x05hello\0"
    data = (b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0, 0, 0) + b"!\xfe" + comment
            + b",\0\0\0\0\x01\0\x01\0\0\x02\x02\x44\x01\0;")
    spans = prefix(data, 4000)
    assert unread_blocks(spans) == ["comment"]
    assert needed(spans) and needed(spans)[0][0] == 4000
    spans, result = crawl(data)
    assert dict(metadata_blocks(spans))["comment"] == b"c" * 255 * 60 + b"hello"
    assert result.requests == 1 and unread_blocks(spans) == []


# --- what is planned, and what is reported unread ------------------------------


def test_icc_is_planned_up_to_its_desc_tag_only():
    data = (EX / "tiff/Tless0.tiff").read_bytes()
    spans = whole(data)
    (block, want), = [w for w in block_wants(spans) if w[0][0] == "icc"]
    assert want is not None and block[1] < want <= block[2]
    profile = data[block[1]:block[2]]
    count = struct.unpack(">I", profile[128:132])[0]
    table = profile[132 : 132 + 12 * count]
    tags = {table[i : i + 4]: struct.unpack(">II", table[i + 4 : i + 12])
            for i in range(0, len(table), 12)}
    off, size = tags[b"desc"]
    assert want - block[1] >= off + size or want == block[2]


def icc_profile(size: int) -> bytes:
    """A profile of `size` bytes whose one tag, `desc`, sits right after the table."""
    head = bytearray(128)
    head[0:4] = struct.pack(">I", size)
    head[36:40] = b"acsp"
    table = struct.pack(">I", 1) + b"desc" + struct.pack(">II", 144, 40)
    desc = b"desc\0\0\0\0" + struct.pack(">I", 20) + b"a profile name\0\0\0\0\0\0"
    body = bytes(head) + table + desc.ljust(40, b"\0")
    return body.ljust(size, b"\x55")


def test_jpeg_icc_chunks_past_its_desc_tag_are_not_fetched():
    profile = icc_profile(100_000)
    chunks = [(0xE2, b"ICC_PROFILE\0" + bytes([i + 1, 2]) + part)
              for i, part in enumerate((profile[:60_000], profile[60_000:]))]
    data = jpeg(*chunks, tail=bytes(5000))
    spans = prefix(data)
    wants = [(b, w) for b, w in block_wants(spans) if b[0] == "icc_jpeg"]
    assert len(wants) == 1 and wants[0][1] is not None and wants[0][1] <= PREFIX
    chunk = dict(metadata_blocks(spans))["icc_jpeg"]
    assert chunk[:2] == b"\x01\x02" and chunk[2:].startswith(profile[:184])
    # The crawl hops over both chunks (segment headers) without their data.
    spans, result = crawl(data)
    assert [k for k, _ in metadata_blocks(spans)] == ["icc_jpeg"]
    # (The top band's bytes, which follow the chunks, are the perceptual hash's.)
    assert result.bytes - result.band_bytes < 16_384 and unread_blocks(spans) == []
    # Held anyway, the second chunk comes along too.
    assert [k for k, _ in metadata_blocks(whole(data))].count("icc_jpeg") == 2


def test_xmp_over_its_cap_is_skipped_and_reported():
    big = b"<x:xmpmeta>" + b" " * (300 * 1024) + b"</x:xmpmeta>"
    data = webp(0x04, riff_chunk(b"VP8 ", bytes(2000)), riff_chunk(b"XMP ", big))
    spans, result = crawl(data)
    assert "xmp" not in kinds(spans)
    assert unread_blocks(spans) == ["xmp"]
    assert result.incomplete and "xmp" in result.incomplete
    assert result.bytes < 64 * 1024  # the packet itself was not fetched


def test_extended_xmp_of_megabytes_is_not_fetched():
    guid = b"0" * 32
    chunks = [(0xE1, b"http://ns.adobe.com/xmp/extension/\0" + guid
               + struct.pack(">II", 3 * 65000, i * 65000) + b"x" * 65000) for i in range(3)]
    data = jpeg((0xE1, b"http://ns.adobe.com/xap/1.0/\0" + XMP), *chunks)
    spans = prefix(data)
    assert all(want is None for (kind, _, _), want in block_wants(spans)
               if kind == "xmp_extended")
    assert "xmp_extended" in unread_blocks(spans)
    assert all(e <= PREFIX or s >= PREFIX and e - s <= 4096 for s, e in needed(spans))


def test_photoshop_irb_is_handed_over_as_far_as_held_but_fetched_only_up_to_its_cap():
    irb = b"8BIM\x04\x04\0\0" + struct.pack(">I", 10) + b"\x1c\x02\x05\0\x05title" + b"\0"
    irb += b"8BIM\x04\x0c\0\0" + struct.pack(">I", 20000) + bytes(20000)
    data = jpeg((0xED, b"Photoshop 3.0\0" + irb), tail=bytes(30000))
    spans = prefix(data)
    assert dict(metadata_blocks(spans))["photoshop"].startswith(irb[:30])
    assert not [r for r in needed(spans) if r[1] > 4096 + 40 and r[0] < 20000]


def test_truncated_file_hands_over_nothing_cut_and_plans_nothing_past_the_end():
    data = jpeg((0xE1, b"http://ns.adobe.com/xap/1.0/\0" + XMP + b" " * 20000))
    cut = data[:15000]
    spans = whole(cut)
    assert "xmp" not in kinds(spans)
    assert all(e <= len(cut) for _, e in needed(spans))
    # Known from its length field, never held: unread (the crawl reports it).
    assert unread_blocks(prefix(data, 5000)) == ["xmp"]


def test_webp_exif_before_xmp_far_into_the_file_is_found_and_read():
    exif = riff_chunk(b"EXIF", CAMERA + bytes(60_000))
    data = webp(0x08 | 0x04, riff_chunk(b"VP8 ", bytes(410_000)), exif,
                riff_chunk(b"XMP ", XMP + b" " * 3000))
    spans, result = crawl(data)
    tags = formats.exif_tags(spans)
    assert tags["Image Make"] == "Canon" and tags["Image Model"] == "EOS 5D"
    assert {"xmp", "user_comment"} <= set(kinds(spans))
    assert result.incomplete is None and result.requests <= 3
    # Without follow-ups, what the flags announce is reported unread.
    spans = prefix(data)
    assert {"exif", "xmp"} <= set(unread_blocks(spans))


def test_the_structure_walk_leads_and_blocks_ride_along():
    # IFD0 (held) points at an XMP packet running past the held bytes and at
    # a next IFD far behind it: the IFD (whose answer may show more to fetch)
    # is asked for first; the packet, 40 KB before it, is not in the way.
    blob = bytearray(tiff_blob({700: (1, XMP + b" " * 20_000), 256: (3, b"\x08\0")}))
    blob[8 + 2 + 24 : 8 + 2 + 28] = struct.pack("<I", 70_000)  # IFD0's next IFD
    data = bytes(blob).ljust(70_000, b"\0") + struct.pack("<HHHII", 1, 256, 3, 1, 8) + bytes(4)
    spans = prefix(data, 4096)
    assert [k for (k, _, _), _ in block_wants(spans)] == ["xmp"]
    start, end = formats.next_fetch(spans, 262144)
    assert start <= 70_000 < end and start > 30_000


def test_webp_alpha_then_bitstream_past_the_prefix_is_not_fetched_whole():
    data = webp(0x10 | 0x08, riff_chunk(b"ALPH", bytes(20_000)), riff_chunk(b"VP8 ", bytes(90_000)),
                riff_chunk(b"EXIF", CAMERA))
    spans = prefix(data)
    assert all(e - s <= 8192 for s, e in needed(spans))
    spans, result = crawl(data)
    assert formats.exif_tags(spans)["Image Make"] == "Canon"
    # (The top band's bytes, ALPH and a share of the bitstream, are the perceptual hash's.)
    assert result.bytes - result.band_bytes < 16_384


def test_followups_never_exceed_three_with_the_default_budget():
    from imgprint import settings

    assert settings.IMGPRINT_FOLLOWUPS + settings.IMGPRINT_HASH_FOLLOWUPS <= 3
    # A run of MMIMETA segments of unequal sizes: one hop per segment, more than 3
    # (without the top band, whose window guessed past the first range takes
    # the whole run in: tests/test_phash_fetch.py).
    data = (ME / "jpg/Motorola XT1068 (Moto G).jpg").read_bytes()
    _, result = crawled_result(data, followups=settings.IMGPRINT_FOLLOWUPS,
                               hash_followups=settings.IMGPRINT_HASH_FOLLOWUPS, band=0.0)
    assert result.requests <= 3 and result.incomplete
    _, banded = crawled_result(data, followups=settings.IMGPRINT_FOLLOWUPS,
                               hash_followups=settings.IMGPRINT_HASH_FOLLOWUPS)
    assert banded.requests <= 3


# --- multi-page TIFF ------------------------------------------------------------


def multipage(pages: int, stride: int) -> bytes:
    """A TIFF whose IFDs each follow `stride` bytes of page data (libtiff's layout)."""
    out = bytearray(b"II*\0\0\0\0\0")
    offsets = []
    for page in range(pages):
        out += bytes(stride)
        offsets.append(len(out))
        entries = [(256, 3, 1, 8), (257, 3, 1, 8), (258, 3, 1, 8), (273, 4, 1, 8 + page * stride),
                   (279, 4, 1, 64), (297, 3, 2, page | pages << 16)]
        out += struct.pack("<H", len(entries))
        for tag, typ, count, value in entries:
            out += struct.pack("<HHII", tag, typ, count, value)
        out += b"\0\0\0\0"
    for i, off in enumerate(offsets):
        nxt = offsets[i + 1] if i + 1 < len(offsets) else 0
        n = struct.unpack("<H", out[off:off + 2])[0]
        out[off + 2 + 12 * n:off + 6 + 12 * n] = struct.pack("<I", nxt)
    out[4:8] = struct.pack("<I", offsets[0])
    return bytes(out)


def test_multipage_tiff_chain_is_followed_and_the_rest_fetched_ahead():
    data = multipage(8, 30_000)
    full = formats.exif_tags(whole(data))
    spans, result = crawl(data, ahead=0)
    assert result.requests == 3 and result.incomplete  # three hops: pages cut
    assert len(formats.exif_tags(spans)) < len(full)
    spans, result = crawl(data, ahead=262144)
    assert formats.exif_tags(spans) == full
    assert result.requests <= 3 and result.incomplete is None
    assert result.bytes <= len(data) - 2 * 30_000


def test_ahead_is_not_spent_on_the_last_page():
    # Two pages: the last IFD sits a stride from the end, nothing follows it.
    data = multipage(2, 60_000)
    spans, result = crawl(data, ahead=262144)
    assert formats.exif_tags(spans) == formats.exif_tags(whole(data))
    assert result.bytes < 16 * 1024


# --- hostile files: bounded time, nothing planned past the file ----------------


def timed(data: bytes, n: int = PREFIX) -> float:
    start = time.perf_counter()
    for spans in (prefix(data, n), whole(data)):
        needed(spans)
        metadata_blocks(spans)
        unread_blocks(spans)
        formats.next_fetch(spans, 262144, 4096, 65536, 65536, last=True, ahead=262144)
        assert all(e <= len(data) for _, e in needed(spans))
    return time.perf_counter() - start


def test_ten_thousand_app13_segments():
    segment = (0xED, b"Photoshop 3.0\0" + b"8BIM\x04\x04\0\0\0\0\0\0")
    data = jpeg(*[segment] * 10_000)
    assert timed(data) < 2.0
    spans = whole(data)
    assert len(located(spans)) <= 1000  # the segment walk's own bound
    assert len(metadata_blocks(spans)) == MAX_PER_KIND
    assert unread_blocks(spans) == ["photoshop"]


def test_hundred_thousand_png_text_chunks():
    data = png(*[png_chunk(b"tEXt", b"k\0v")] * 100_000)
    assert timed(data) < 2.0
    assert len(metadata_blocks(whole(data))) == MAX_PER_KIND


@pytest.mark.parametrize("data", [
    # Lengths past the end of the file.
    jpeg((0xFE, b"short")).replace(b"\xff\xfe\x00\x07", b"\xff\xfe\xff\xff"),
    png(png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + XMP))[:60] + b"\x7f\xff\xff\xffzTXt",
    webp(0x04, riff_chunk(b"VP8 ", bytes(100)), b"XMP \xff\xff\xff\x7f" + XMP),
    tiff_blob({700: (1, XMP)})[:-20],
    tiff_blob({700: (7, b"x")}).replace(b"\xbc\x02\x07\0\x01\0\0\0",
                                        b"\xbc\x02\x07\0\xff\xff\xff\x7f"),
    # An IFD chain that loops, and an IFD claiming 65,535 entries.
    b"II*\0\x08\0\0\0\x01\0" + struct.pack("<HHII", 256, 3, 1, 8) + b"\x08\0\0\0",
    b"II*\0\x08\0\0\0\xff\xff" + bytes(100),
    b"MM\0*\0\0\0\x08" + b"\xff\xff" + bytes(50_000),
    # A GIF XMP extension whose chain never ends.
    b"GIF89a\x01\0\x01\0\0\0\0!\xffXMP DataXMP" + b"\xff" * 70_000,
], ids=["jpeg-com", "png-ztxt", "webp-xmp", "tiff-cut", "tiff-huge-count", "tiff-loop",
        "tiff-65535", "tiff-mm-65535", "gif-endless"])
def test_hostile_lengths(data):
    assert timed(data) < 2.0


def test_every_fuzzed_file_is_bounded():
    start = time.perf_counter()
    for path in FUZZED:
        data = path.read_bytes()
        for spans in (prefix(data), whole(data)):
            needed(spans)
            metadata_blocks(spans)
            unread_blocks(spans)
    assert time.perf_counter() - start < 60


def test_corpus_blocks_located_without_error():
    for path in sorted(CORPUS.rglob("*")):
        if not path.is_file() or "metadata" in path.relative_to(CORPUS).parts[:-1]:
            continue
        data = path.read_bytes()
        blocks = metadata_blocks(whole(data))
        assert all(isinstance(k, str) and isinstance(p, bytes) for k, p in blocks)
