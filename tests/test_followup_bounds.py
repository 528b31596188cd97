"""What a follow-up may read, and parts that give a range twice (issue 23,
findings 1 and 9).

1. A follow-up is cut by the bytes received for it: the bytes asked (plus
   part headers), never more than what is left of IMGPRINT_FOLLOWUP_BYTES,
   and a partial answer that runs past the bytes asked makes the record say
   ``metadata_incomplete``. A 48-byte follow-up at offset 900,000,000 of a
   server that answers 206 and streams used to read up to that offset (900 MB
   for one image), and say nothing.
9. A multipart answer that gives each range twice, the real bytes and then
   others: the first is kept and the record says ``metadata_incomplete``
   (the later used to win, and XMP, IPTC and ICC came out empty, unflagged).

In-process (the middleware with real Responses, the loop through
``imgprint.fetch.replay``) and two crawls against ``tests/servers/hostile_ranges.py``.
"""

from __future__ import annotations

import asyncio
import re
import struct
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import ImageCms
from scrapy import Request
from scrapy.exceptions import StopDownload
from scrapy.http import Headers, Response

from imgprint.fetch.loop import Budget, fetch_spans
from imgprint.fetch.protocol import FOLLOWUP_KEY, FOLLOWUP_LIMIT_KEY, IMAGE_KEY, OVERRUN_FLAG
from imgprint.fetch.replay import replay, shipped_budget
from imgprint.middlewares.imagefetch import ImageFetchMiddleware
from imgprint.multirange import PART_OVERHEAD, first_wins, ranges_header
from imgprint.pipelines import fingerprint_fields
from imgprint.spans import Spans
from imgprint.spiders.images import ImagesSpider
from tests.conftest import Server, run_crawl
from tests.helpers import project_crawler

URL = "http://images.example/far.tif"
FAR = 900_000_000  # where the far TIFF's XMP is said to be
FAR_SIZE = 1_000_000_000
STREAM = 64 * 1024 * 1024  # what the crafted server streams at most (bounds a run before the fix)
ONE_READ = 64 * 1024  # Twisted reads at most this much at a time: a cut may overshoot by one

XMP = (b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
       b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
       b' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description'
       b' rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator><rdf:Seq>'
       b"<rdf:li>Overlap Tester</rdf:li></rdf:Seq></dc:creator></rdf:Description>"
       b'</rdf:RDF></x:xmpmeta><?xpacket end="w"?>')


def _iim(dataset: int, text: bytes) -> bytes:
    return b"\x1c\x02" + bytes([dataset]) + struct.pack(">H", len(text)) + text


IPTC = _iim(0, b"\x00\x04") + _iim(5, b"Overlapping parts") + _iim(80, b"Red Team")
ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
#: A TIFF of 300,000 bytes whose XMP, IPTC and ICC lie far apart: one
#: multi-range follow-up of three ranges.
BLOCKS = {700: (60_000, XMP), 33723: (140_000, IPTC), 34675: (220_000, ICC)}


def tiff_head(blocks: dict[int, tuple[int, bytes]], side: int = 16) -> bytes:
    """A little-endian TIFF's first bytes: IFD0 with a grey strip and
    ``blocks`` (tag -> (offset, payload)) as UNDEFINED tags."""
    strip = 512
    entries = [(256, 3, 1, side), (257, 3, 1, side), (258, 3, 1, 8), (259, 3, 1, 1),
               (262, 3, 1, 1), (273, 4, 1, strip), (277, 3, 1, 1), (278, 3, 1, side),
               (279, 4, 1, side * side)]
    entries += [(tag, 7, len(payload), off) for tag, (off, payload) in sorted(blocks.items())]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e)
                                                     for e in entries) + bytes(4)
    head = b"II*\0" + struct.pack("<I", 8) + ifd
    return head + bytes(strip - len(head)) + bytes(range(side * side))


def write_tiff(path: Path, size: int, blocks: dict[int, tuple[int, bytes]]) -> None:
    """The TIFF as a sparse file of ``size`` bytes."""
    with path.open("wb") as f:
        f.write(tiff_head(blocks))
        for offset, payload in blocks.values():
            f.seek(offset)
            f.write(payload)
        f.truncate(size)


def tiff_bytes(size: int, blocks: dict[int, tuple[int, bytes]]) -> bytes:
    data = bytearray(size)
    head = tiff_head(blocks)
    data[:len(head)] = head
    for offset, payload in blocks.values():
        data[offset:offset + len(payload)] = payload
    return bytes(data)


# -- finding 1: the cut, in-process ---------------------------------------------------


def middleware() -> ImageFetchMiddleware:
    return ImageFetchMiddleware.from_crawler(project_crawler(ImagesSpider))


def followup(ranges: list[tuple[int, int]], left: int = 262144) -> Request:
    return Request(URL, headers={"Range": ranges_header(ranges)},
                   meta={IMAGE_KEY: True, FOLLOWUP_KEY: True, FOLLOWUP_LIMIT_KEY: left})


def received_until_cut(mw: ImageFetchMiddleware, request: Request, headers: dict,
                       chunk: int = 16, most: int = 10**7) -> int:
    """Body bytes ``mw`` takes, in chunks, from an answer that never ends."""
    mw.headers_received(Headers(headers), -1, request, None)
    got = 0
    while got < most:
        try:
            mw.bytes_received(b"\0" * chunk, request, None)
        except StopDownload:
            return got + chunk
        got += chunk
    return got


def test_a_206_follow_up_is_cut_at_the_bytes_asked_not_at_its_offset():
    mw = middleware()
    head = {"Content-Range": f"bytes {FAR}-{FAR + 47}/{FAR_SIZE}"}
    request = followup([(FAR, FAR + 48)])
    assert received_until_cut(mw, request, head) == 48
    answer = Response(URL, status=206, body=b"\0" * 48, request=request, headers=head)
    assert asyncio.run(mw.process_response(request, answer)) is answer  # just what was asked
    # A read past the bytes asked: cut there, flagged for the loop, counted.
    request = followup([(FAR, FAR + 48)])
    assert received_until_cut(mw, request, head, chunk=4096) == 4096
    answer = Response(URL, status=206, body=b"\0" * 4096, request=request, headers=head)
    assert OVERRUN_FLAG in asyncio.run(mw.process_response(request, answer)).flags
    assert mw.stats.get_value("imgprint/followup/overrun") == 1


def test_a_200_follow_up_is_cut_at_what_is_left_of_the_budget():
    """A server that honoured the first range and ignores this one sends the
    file from byte 0: the asked bytes lie 900 MB in, the budget ends first."""
    mw = middleware()
    request = followup([(FAR, FAR + 48)], left=100_000)
    assert received_until_cut(mw, request, {"Content-Type": "image/tiff"}, 4096) == 102_400
    # Within the budget, a 200 is cut at the end of the range, and is no overrun.
    near = followup([(20_000, 20_048)])
    assert received_until_cut(mw, near, {"Content-Type": "image/tiff"}) == 20_048
    answer = Response(URL, status=200, body=b"\0" * 20_048, request=near)
    assert asyncio.run(mw.process_response(near, answer)) is answer


def test_a_multipart_follow_up_is_cut_at_its_ranges_plus_part_headers():
    mw = middleware()
    ranges = [(FAR, FAR + 48), (FAR + 500_000, FAR + 500_100)]
    got = received_until_cut(mw, followup(ranges), {
        "Content-Type": "multipart/byteranges; boundary=x"})
    assert 148 + 2 * PART_OVERHEAD <= got < 148 + 2 * PART_OVERHEAD + 16
    # A single part answering several ranges: at most the largest.
    single = received_until_cut(mw, followup(ranges), {
        "Content-Range": f"bytes {FAR}-{FAR + 47}/{FAR_SIZE}"})
    assert single == 112


def test_the_first_request_is_cut_as_before():
    mw = middleware()
    first = Request(URL, meta={IMAGE_KEY: True})
    mw.process_request(first)
    # A server ignoring Range, sending the whole file: cut after the prefix.
    assert received_until_cut(mw, first, {"Content-Type": "image/tiff"}, 4096) == 12288
    # A 206 with a Content-Range, no length: cut after the prefix too, no overrun.
    first = Request(URL, meta={IMAGE_KEY: True})
    mw.process_request(first)
    assert received_until_cut(mw, first, {"Content-Range": "bytes 0-10240/99999"}, 4096) == 12288


def test_the_loop_gives_the_download_what_is_left_and_notes_an_overrun():
    data = tiff_bytes(300_000, BLOCKS)
    spans = Spans(len(data))
    spans.add(0, data[:10241])
    asked: list[tuple[int, int, int]] = []

    async def download(start: int, end: int, limit: int) -> Response:
        asked.append((start, end, limit))
        junk = b"\0" * 5000  # past the bytes asked: not theirs
        return Response(URL, status=206, body=data[start:end] + junk, flags=[OVERRUN_FLAG],
                        headers={"Content-Range": f"bytes {start}-{end - 1}/{len(data)}"})

    result = asyncio.run(fetch_spans(spans, download, Budget(3, 100_000)))
    assert asked[0][2] == 100_000  # all of the budget is left
    assert [a[2] for a in asked[1:]] == [100_000 - sum(e - s + 5000 for s, e, _ in asked[:i])
                                         for i in range(1, len(asked))]
    assert all(spans.get(s, e) == data[s:e] for s, e, _ in asked)  # the bytes asked, no more
    assert spans.get(asked[0][1], asked[0][1] + 5000) != bytes(5000)
    start, end, _ = asked[0]
    assert result.incomplete == (f"follow-up: answer to bytes {start}-{end - 1} ran past the"
                                 f" bytes asked for (cut after {end - start + 5000})")


# -- finding 9: parts in conflict, in-process ------------------------------------------


def test_first_wins():
    real, other = b"abcdef", b"ABCDEF"
    kept, conflicts = first_wins([(10, real), (10, other), (12, real[2:]), (30, b"x")])
    assert kept == [(10, real), (12, real[2:]), (30, b"x")]  # the same bytes again: harmless
    assert conflicts == [(10, 16)]
    assert first_wins([(0, b"ab"), (1, b"bc")]) == ([(0, b"ab"), (1, b"bc")], [])
    assert first_wins([(0, b"ab"), (1, b"Xc")]) == ([(0, b"ab")], [(1, 3)])


def test_each_range_twice_keeps_the_first_and_says_so():
    data = tiff_bytes(300_000, BLOCKS)
    budget = replace(shipped_budget(), content_bytes=0, scan_bytes=0, hash_requests=0)
    honest = replay(data, budget)
    log: list = []
    twice = replay(data, budget, answer="twice", log=log)
    assert len(log[0]) == 3  # XMP, IPTC and ICC asked in one request
    assert honest.spans is not None and twice.spans is not None and twice.followup is not None
    want = fingerprint_fields(honest.spans)
    got = fingerprint_fields(twice.spans)
    for block in ("xmp", "iptc", "icc"):
        assert want[block] and got[block] == want[block], block
    assert honest.incomplete is None
    assert twice.incomplete and "twice, differently (the first kept)" in twice.incomplete
    assert twice.followup.conflicts == [(60_000, 60_000 + len(XMP)),
                                        (140_000, 140_000 + len(IPTC)),
                                        (220_000, 220_000 + len(ICC))]
    assert twice.followup.multirange_fallback


# -- the crawls --------------------------------------------------------------------------


def hostile_server(root: Path, log: Path, stream: int = STREAM) -> Server:
    return Server([sys.executable, "-m", "tests.servers.hostile_ranges", str(root),
                   "--log", str(log), "--stream", str(stream)], log)


def crawl_page(tmp_path: Path, server: Server, page: str, name: str):
    seeds = tmp_path / f"{name}.txt"
    seeds.write_text(server.url(page) + "\n")
    crawl = run_crawl(tmp_path, "-a", f"urls={seeds}", output=f"{name}.jsonl", timeout=300)
    assert crawl.returncode == 0, crawl.log[-3000:]
    return crawl, {r["url"].split("/", 3)[3]: r for r in crawl.records}


def stat(log: str, key: str) -> int:
    m = re.search(rf"'{re.escape(key)}': (\d+)", log)
    return int(m.group(1)) if m else 0


@pytest.mark.crawl
def test_crawl_a_far_follow_up_reads_what_it_asked(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    names = [f"far{i}.tif" for i in range(3)]
    for name in names:
        write_tiff(root / name, FAR_SIZE, {700: (FAR, XMP[:48])})
    (root / "p.html").write_text(
        "".join(f'<img src="/overrun/{n}"><img src="/whole/{n}">' for n in names))
    server = hostile_server(root, tmp_path / "access.jsonl")
    try:
        crawl, records = crawl_page(tmp_path, server, "/ok/p.html", "far")
    finally:
        server.stop()
    assert len(records) == 6, sorted(records)
    budget = 262144
    for name in names:
        # 206 and streaming: cut after the 48 bytes asked (one read past them at
        # most), and said.
        overrun = records[f"overrun/{name}"]
        assert overrun["requests"] == 2
        assert overrun["bytes_fetched"] < 10241 + ONE_READ, overrun
        assert (f"answer to bytes {FAR}-{FAR + 47} ran past the bytes asked for"
                in overrun["metadata_incomplete"])
        assert overrun["sha256_first_10240_bytes"]  # the record is whole otherwise
        # 200 from byte 0 to a follow-up: cut at what is left of the budget.
        whole = records[f"whole/{name}"]
        assert whole["bytes_fetched"] < 10241 + budget + ONE_READ, whole
        assert "byte budget" in whole["metadata_incomplete"]
    assert stat(crawl.log, "imgprint/followup/overrun") == 3


@pytest.mark.crawl
def test_crawl_parts_given_twice_keep_the_first(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    write_tiff(root / "blocks.tif", 300_000, BLOCKS)
    (root / "p.html").write_text('<img src="/ok/blocks.tif"><img src="/twice/blocks.tif">')
    server = hostile_server(root, tmp_path / "access.jsonl")
    try:
        crawl, records = crawl_page(tmp_path, server, "/ok/p.html", "twice")
        served = server.requests()
    finally:
        server.stop()
    honest, twice = records["ok/blocks.tif"], records["twice/blocks.tif"]
    assert any(r["mode"] == "twice" and "," in (r["range"] or "") for r in served)
    for block in ("xmp", "iptc", "icc"):
        assert honest.get(block) and twice.get(block) == honest[block], block
    assert "twice, differently (the first kept)" in twice["metadata_incomplete"]
    assert stat(crawl.log, "imgprint/followup/conflicts") == 3
