"""Per-format dispatch: the parser of each sniffed format, and the guard around it.

`signatures.sniff` names the format; `PARSERS` maps the name to what that
format's parser offers.  Every call into a parser goes through `guard`, so a
parser bug over one odd file costs that file's metadata, not the crawl.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from imgprint.spans import Block, Range, Spans

from . import bmff, gif, jpeg, jpeg_blocks, jpeg_coded, jpeg_vendor, png, tiff, tiff_blocks, webp
from .exif_guard import without_image_data
from .exif_walk import FormatError, exif_tags_at
from .signatures import SNIFF_BYTES, sniff

#: The package: its STRICT switch and its logger are the public ones.
_PACKAGE = __name__.rpartition(".")[0]
log = logging.getLogger(_PACKAGE)

T = TypeVar("T")


@dataclass(frozen=True)
class Parser:
    """One format's parser, as dispatch calls it."""

    #: Absolute ranges still missing that hold metadata.
    needed: Callable[[Spans], list[Range]]
    #: Header facts (without the format name, which is sniff's).
    facts: Callable[[Spans], dict]
    #: Offset of the EXIF TIFF header; None: the format carries no EXIF.
    exif_offset: Callable[[Spans], int | None] | None = None
    #: The coded-data spans of the content hash; None: the format has none.
    content_spans: Callable[[Spans, int], list[Range] | None] | None = None
    #: What the coded-data walk still needs; None: ask for `content_spans`.
    content_needed: Callable[[Spans, int], list[Range]] | None = None
    #: Metadata blocks located so far (`imgprint.formats.blocks`), file order.
    blocks: Callable[[Spans], list[Block]] | None = None
    #: The payload of a block up to an end, if held; None: the bytes as they are.
    block_data: Callable[[Spans, Block, int], bytes | None] | None = None
    #: Kinds the container announces that were not located (WebP's VP8X flags).
    expected: Callable[[Spans], list[str]] | None = None
    #: What to fetch on the last follow-up besides `needed`, up to a byte limit:
    #: a speculative window where the structure probably continues (TIFF pages).
    ahead: Callable[[Spans, int], list[Range]] | None = None
    #: Ranges known to finish in one request that lead the next one: vendor
    #: containers past long segment runs (`jpeg_vendor`), which the walk's
    #: hops, always earlier in the file, would otherwise take every request to reach.
    leaves: Callable[[Spans], list[Range]] | None = None
    #: Small windows (at most a byte limit, a count) where the structure
    #: probably continues, asked as extra ranges of a multi-range follow-up
    #: (a regular TIFF's further page IFDs).
    windows: Callable[[Spans, int, int], list[Range]] | None = None


_BMFF = Parser(bmff.needed, bmff.facts, bmff.exif_offset, bmff.content_spans,
               blocks=bmff.blocks)
PARSERS: dict[str, Parser] = {
    "jpeg": Parser(jpeg.needed, jpeg.facts, jpeg.exif_offset, jpeg_coded.content_spans,
                   jpeg_coded.content_needed, blocks=jpeg_blocks.blocks,
                   leaves=jpeg_vendor.vendor_needed),
    "png": Parser(png.needed, png.facts, png.exif_offset, png.content_spans, png.content_needed,
                  blocks=png.blocks),
    "gif": Parser(gif.needed, gif.facts, blocks=gif.blocks, block_data=gif.block_data),
    "webp": Parser(webp.needed, webp.facts, webp.exif_offset, webp.content_spans,
                   webp.content_needed, blocks=webp.blocks, expected=webp.expected),
    "tiff": Parser(tiff.needed, tiff.facts, tiff.exif_offset, tiff.content_spans,
                   tiff.content_needed, blocks=tiff_blocks.tiff_blocks, ahead=tiff.ahead,
                   windows=tiff.windows),
    "heif": _BMFF,
    "avif": _BMFF,
}


def _strict() -> bool:
    # Read the switch from the package at each call: tests flip
    # `imgprint.formats.STRICT`, and a copy taken at import would not see it.
    return bool(getattr(sys.modules[_PACKAGE], "STRICT", False))


def guard(what: str, default: T, func: Callable[..., T], *args: Any) -> T:
    """``func(*args)``; `default` if it raises anything but FormatError (which
    is the API's to raise), unless the package's STRICT is set."""
    try:
        return func(*args)
    except FormatError:
        raise
    except Exception:
        if _strict():
            raise
        log.debug("%s failed", what, exc_info=True)
        return default


def parser(spans: Spans) -> tuple[str | None, Parser | None]:
    """The sniffed format of the file and its parser (None, None if unknown);
    sniffed once per bytes held, however many parts of a pass ask."""
    return spans.memo("parser", lambda: _sniffed(spans))


def _sniffed(spans: Spans) -> tuple[str | None, Parser | None]:
    fmt = sniff(spans.get_partial(0, SNIFF_BYTES))
    return fmt, PARSERS.get(fmt) if fmt else None


def exif_offset(spans: Spans) -> int | None:
    """Where the file's EXIF TIFF header is, if its parser can tell yet."""
    _, found = parser(spans)
    if found is None or found.exif_offset is None:
        return None
    return guard("exif_offset", None, found.exif_offset, spans)


def exif_tags(spans: Spans, unfinished: bool = False) -> dict[str, str]:
    """exifread's tags (details=False, no thumbnails) over the EXIF we hold;
    `unfinished`: the metadata plan was cut short, leave out values not held
    (`exif_walk.exif_tags_at`)."""
    off = exif_offset(spans)
    if off is None:
        return {}
    # No value read from the pixels or the thumbnail (imgprint.formats.exif_guard).
    return without_image_data(spans, off, exif_tags_at(spans, off, unfinished))


def facts(spans: Spans) -> dict:
    """Header facts: format, width, height, bit_depth, ICC, alpha, density, ..."""
    fmt, found = parser(spans)
    if found is None:
        return {}
    # The format is named by sniff's table alone, so the record cannot say
    # "heif" for a file dispatched as AVIF.
    return {"format": fmt, **guard("facts", {}, found.facts, spans)}
