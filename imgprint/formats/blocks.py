"""Metadata blocks beyond EXIF: where they are, which of their bytes to fetch,
and what of them is held.

Each parser locates its container's blocks (`dispatch.Parser.blocks`) as
``(kind, start, end)``: the absolute half-open range of the payload, as the
decoders of ``imgprint.metadata.blocks`` take it (the kinds and their exact
bytes are listed in `KINDS`). Here those lists are capped and planned:

* `block_wants` says how much of each block to fetch: all of it, its first
  bytes where a prefix decodes (ICC up to the end of its ``desc`` tag, text,
  comments), or none when it is larger than its kind's cap (it is then known
  but unread);
* `block_needs` lists the missing parts of those wants, which `plan.needed`
  adds to the parser's own, so they are fetched like EXIF;
* `metadata_blocks` hands over the blocks that are held, in file order;
* `unread_blocks` names the kinds known to exist that are not (all) held:
  skipped for a cap, past the follow-up budget, or announced by the container
  (WebP's VP8X flags) and never found.

Everything is bounded: at most `MAX_PER_KIND` blocks of a kind and
`KIND_TOTAL` bytes of a kind are planned, whatever a file declares.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

# The decoders' own rule for how much of a profile `desc` needs.
from imgprint.metadata.icc import icc_needed
from imgprint.spans import Block, Range, Spans

from .caps import CAPS, DEFAULT_TOTAL, KIB, KIND_TOTAL, MAX_PER_KIND, PREFIX_OK
from .dispatch import exif_offset, guard, parser
from .tiff_blocks import user_comment

#: ICC bytes planned before the decoders' rule is available or can tell.
ICC_FIRST = 4 * KIB

#: Inflated bytes of a PNG iCCP profile looked at, and the compressed bytes
#: asked for beyond an estimate of where its `desc` tag ends.
MAX_INFLATE = 64 * KIB
ICC_MARGIN = 1024

#: A block and how far into it to fetch (None: skipped for its cap).
Want = tuple[Block, int | None]


def _icc_want(prefix: bytes, total: int) -> int:
    """Bytes of a profile of `total` bytes, of which `prefix` is held, that
    reach the end of its `desc` tag (the decoders' rule, `icc_needed`)."""
    want = guard("icc_needed", None, icc_needed, prefix, total)
    if want is None:  # the prefix will do (or it is no profile)
        return len(prefix) if prefix else min(total, ICC_FIRST)
    return min(max(want or 0, len(prefix)), total, CAPS["icc"])


def _iccp_want(spans: Spans, start: int, end: int) -> int:
    """End of the part of a PNG iCCP chunk (name, NUL, method, zlib) whose
    inflated bytes reach the profile's `desc` tag: the held compressed prefix
    is inflated and the rest estimated from its ratio (plus a margin)."""
    held = spans.get_partial(start, min(end, start + CAPS["icc_zlib"]))
    nul = held.find(b"\0", 0, 80)
    if nul < 0 or len(held) < nul + 2:
        return min(end, start + ICC_FIRST)
    stream = held[nul + 2 :]
    try:
        inflated = zlib.decompressobj().decompress(stream, MAX_INFLATE)
    except zlib.error:
        return start + len(held)  # not a stream we can read: what is held
    need = _icc_want(inflated, MAX_INFLATE)
    if need <= len(inflated) or start + len(held) >= end:
        return start + len(held)
    ratio = len(stream) / max(len(inflated), 1)
    guess = start + nul + 2 + int(need * ratio) + ICC_MARGIN
    return min(end, start + CAPS["icc_zlib"], max(guess, start + len(held) + ICC_MARGIN))


def _jpeg_icc_wants(spans: Spans, chunks: list[Block]) -> dict[Block, int]:
    """APP2 ICC chunks (seq, count, data) in file order: the first up to what
    `desc` needs, the next ones only as far as that need reaches into them."""
    first = chunks[0]
    total = sum(max(0, end - start - 2) for _, start, end in chunks)
    need = _icc_want(spans.get_partial(first[1] + 2, first[2]), total)
    out: dict[Block, int] = {}
    done = 0  # profile bytes before this chunk
    for block in chunks:
        _, start, end = block
        take = max(0, min(end - start - 2, need - done))
        done += max(0, end - start - 2)
        if take > 0:
            out[block] = start + 2 + take
    return out


def block_wants(spans: Spans) -> list[Want]:
    """The located blocks, each with the end of its part to fetch (memoised)."""
    return spans.memo("block_wants", lambda: _block_wants(spans))


def located(spans: Spans) -> list[Block]:
    """Every block the parser locates, plus the EXIF UserComment, in file order."""
    _, found = parser(spans)
    if found is None:
        return []
    none: list[Block] = []
    out = list(guard("blocks", none, found.blocks, spans)) if found.blocks else []
    off = exif_offset(spans)
    if off is not None:
        comment = guard("user_comment", None, user_comment, spans, off)
        if comment is not None:
            out.append(comment)
    size = spans.size
    out = [b for b in out if 0 <= b[1] <= b[2] and (size is None or b[2] <= size)]
    return sorted(out, key=lambda b: b[1])


def _block_wants(spans: Spans) -> list[Want]:
    blocks = located(spans)
    out: list[Want] = []
    counts: dict[str, int] = {}
    totals: dict[str, int] = {}
    icc_chunks = [b for b in blocks if b[0] == "icc_jpeg"]
    icc_jpeg = _jpeg_icc_wants(spans, icc_chunks) if icc_chunks else {}
    # ExtendedXMP is all or nothing: a chunk of a packet too long for the cap
    # (its declared full length) is no use alone.
    too_long = any(_extended_length(spans, b) > KIND_TOTAL["xmp_extended"]
                   for b in blocks if b[0] == "xmp_extended")
    for block in blocks:
        kind, start, end = block
        counts[kind] = counts.get(kind, 0) + 1
        if kind == "xmp_extended" and too_long:
            out.append((block, None))
            continue
        cap = CAPS.get(kind, 0)
        want: int | None
        if kind == "icc_jpeg":
            if block not in icc_jpeg and not spans.has(start, end):
                continue  # past what the profile's `desc` needs: not wanted
            want = icc_jpeg.get(block, end)  # a later chunk held anyway comes along
        elif kind == "icc":
            want = start + _icc_want(spans.get_partial(start, end), end - start)
        elif kind == "icc_zlib":
            want = _iccp_want(spans, start, end)
        elif end - start <= cap:
            want = end
        else:
            want = start + cap if kind in PREFIX_OK else None
        total = totals.get(kind, 0) + (want - start if want is not None else 0)
        if counts[kind] > MAX_PER_KIND or total > KIND_TOTAL.get(kind, DEFAULT_TOTAL):
            want = None
        else:
            totals[kind] = total
        out.append((block, want))
    return out


def _extended_length(spans: Spans, block: Block) -> int:
    """The full length an ExtendedXMP chunk declares (after its 32-byte GUID)."""
    raw = spans.get(block[1] + 32, block[1] + 36)
    return int.from_bytes(raw, "big") if raw is not None else 0


def block_needs(spans: Spans) -> list[Range]:
    """Missing parts of the blocks' wanted bytes (for `plan.needed`)."""
    out: list[Range] = []
    for (_, start, _), want in block_wants(spans):
        if want is not None:
            out.extend(spans.missing(start, want))
    return out


def _data(spans: Spans, block: Block, want: int) -> bytes | None:
    """The bytes handed over for `block` up to `want`, if held."""
    _, found = parser(spans)
    hook: Callable[[Spans, Block, int], bytes | None] | None = (
        found.block_data if found is not None else None)
    if hook is not None:
        return guard("block_data", None, hook, spans, block, want)
    # The wanted part, or more of the block where more is held (a prefix of
    # an ICC profile or a Photoshop IRB fetched with the prefix of the file).
    data = spans.get_partial(block[1], block[2])
    return data if len(data) >= want - block[1] else None


def metadata_blocks(spans: Spans) -> list[tuple[str, bytes]]:
    """``(kind, payload)`` of every held block, in file order, capped by kind."""
    out: list[tuple[str, bytes]] = []
    for block, want in block_wants(spans):
        if want is None:
            continue
        data = _data(spans, block, want)
        if data is not None:
            out.append((block[0], data))
    return out


def unread_blocks(spans: Spans) -> list[str]:
    """Kinds of blocks known to exist that are not handed over whole (as far as
    their caps allow): skipped for a cap, not fetched, or announced and not found."""
    out: list[str] = []
    for block, want in block_wants(spans):
        if want is None or _data(spans, block, want) is None:
            if block[0] not in out:
                out.append(block[0])
    _, found = parser(spans)
    if found is not None and found.expected is not None:
        nothing: list[str] = []
        for kind in guard("expected", nothing, found.expected, spans):
            if kind not in out:
                out.append(kind)
    return out
