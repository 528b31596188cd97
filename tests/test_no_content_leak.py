"""No output holds more of an image than the record's 128-byte sample.

Crawls the whole corpus with everything that writes files switched on -- feed,
DEBUG log (which prints every scraped item), HTTP cache, job directory -- then
looks in every file the crawl wrote for any 256-byte run of any corpus image:
as raw bytes, and also after undoing the encodings bytes usually get in text
(Python ``repr`` escapes, hex, base64).

A run that is text (UTF-8, printable) is the file's text metadata -- an XMP
packet, a PNG ``iTXt`` caption, a JPEG comment -- which records carry on
purpose (``xmp``, ``png_text``, ``comment``, EXIF strings); image content --
coded data, pixels, thumbnails, profiles -- is never printable text 256 bytes
long, so such runs are not leaks.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import warnings
from pathlib import Path

import pytest

from tests.conftest import CORPUS, run_crawl

RUN = 256
ANCHOR = 16
STEP = RUN // 4  # every 256-byte run holds three ANCHOR-byte pieces starting at a STEP multiple


def views(data: bytes) -> list[bytes]:
    """The file as written, plus the bytes its text encodings could stand for."""
    out = [data]
    with warnings.catch_warnings():
        # Text that is not a repr has backslashes escape_decode complains about.
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            out.append(codecs.escape_decode(data)[0])
        except ValueError:
            pass
    for run in re.findall(rb"[0-9a-fA-F]{%d,}" % (2 * RUN), data):
        out.append(binascii.unhexlify(run[: len(run) // 2 * 2]))
    for run in re.findall(rb"[A-Za-z0-9+/]{%d,}" % (RUN * 4 // 3), data):
        for shift in range(4):
            chunk = run[shift:]
            out.append(base64.b64decode(chunk[: len(chunk) // 4 * 4]))
    return out


def is_text(run: bytes) -> bool:
    """Printable UTF-8 text: the file's text metadata, not its image content."""
    try:
        text = run.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\t\r\n" for c in text)


def leaks(image: bytes, texts: list[bytes], anchors: set[bytes]) -> list[int]:
    """Offsets in ``image`` of 256-byte runs that also occur in one of ``texts``."""
    found = []
    for pos in range(0, len(image) - RUN + 1, STEP):
        piece = image[pos : pos + ANCHOR]
        if piece not in anchors or len(set(piece)) == 1:
            continue
        for text in texts:
            at = text.find(piece)
            while at != -1:
                # Grow the match both ways from the shared anchor.
                left = 0
                while left < pos and left < at and image[pos - left - 1] == text[at - left - 1]:
                    left += 1
                right = ANCHOR
                while (pos + right < len(image) and at + right < len(text)
                       and image[pos + right] == text[at + right]):
                    right += 1
                if left + right >= RUN:
                    # Cut at character boundaries: a run may start or end inside one.
                    run = image[pos - left : pos + right]
                    if not any(is_text(run[i : len(run) - j]) for i in range(4)
                               for j in range(4)):
                        found.append(pos - left)
                    break
                at = text.find(piece, at + 1)
    return sorted(set(found))


def test_no_output_holds_image_content_beyond_the_sample(tmp_path, corpus_site):
    out = tmp_path / "out"
    out.mkdir()
    crawl = run_crawl(
        out, "-a", f"urls={corpus_site.seed_file(tmp_path / 'urls.txt')}",
        settings={"LOG_LEVEL": "DEBUG", "LOG_FILE": out / "crawl.log",
                  "HTTPCACHE_ENABLED": "True", "HTTPCACHE_DIR": out / "cache",
                  "JOBDIR": out / "job"},
        append=True,  # a JOBDIR needs an appended JSON-lines feed
    )
    assert crawl.returncode == 0
    assert len(crawl.records) >= len(corpus_site.images) * 0.9
    (out / "stderr.log").write_text(crawl.log)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {"out.jsonl", "crawl.log"} <= {p.name for p in files}
    assert any("cache" in p.parts for p in files), "the HTTP cache stored the pages"

    texts = [v for p in files for v in views(p.read_bytes())]
    anchors = {t[i : i + ANCHOR] for t in texts for i in range(len(t) - ANCHOR + 1)}
    found = {}
    for rel in corpus_site.images:
        hits = leaks((CORPUS / rel).read_bytes(), texts, anchors)
        if hits:
            found[rel] = hits
    assert not found, f"image content found in crawl output: {found}"


@pytest.mark.parametrize("encode", [bytes, bytes.hex, repr, base64.b64encode])
def test_the_check_finds_a_leak(corpus_site, encode):
    """The detector itself: a 300-byte piece of an image, encoded, in a log line."""
    rel = next(r for r in corpus_site.images if (CORPUS / r).stat().st_size > 50_000)
    image = Path(CORPUS / rel).read_bytes()
    piece = encode(image[40_000:40_300])
    line = b"DEBUG: body=" + (piece if isinstance(piece, bytes) else piece.encode()) + b"\n"
    texts = views(line)
    anchors = {t[i : i + ANCHOR] for t in texts for i in range(len(t) - ANCHOR + 1)}
    assert leaks(image, texts, anchors) == [40_000]


def test_text_metadata_is_not_a_leak_but_binary_content_is(corpus_site):
    """The text rule: an XMP packet's run is metadata; binary bytes still count."""
    rel = "metadata-extractor/jpg/Issue 600 (2).jpg"
    image = Path(CORPUS / rel).read_bytes()
    start = image.index(b"This Hubble picture")
    for piece, expected in ((image[start : start + 300], []),
                            (image[-2000:-1700], [len(image) - 2000])):
        texts = views(b"DEBUG: " + piece + b"\n")
        anchors = {t[i : i + ANCHOR] for t in texts for i in range(len(t) - ANCHOR + 1)}
        assert leaks(image, texts, anchors) == expected
