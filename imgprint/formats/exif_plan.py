"""Which bytes exifread will read in a TIFF blob, from its structure alone.

exifread (``details=False``, no thumbnail) reads an EXIF/TIFF blob by fixed
rules: the header; the IFD chain from IFD0 (each IFD's entry count, entries
and next pointer); the value of every entry whose tag it does not ignore
(out of line when longer than 4 bytes; at most 999 values, ASCII of any
length); the GPS and Interoperability IFDs that an entry of ``EXIF_TAGS``
points at; and the Exif IFD that IFD0's ExifOffset points at. This walker
applies the same rules to the bytes held and lists what of that walk is not
held yet, so planning a fetch never runs exifread: exifread runs once, at the
end, over bytes that are then all there (``exif_walk.exif_tags_at``), and its
tags equal exifread's over the whole file.

The walk is bounded (IFDs, entries) and reads nothing but the held bytes. An
IFD whose entry count is not held is asked for with a window (the IFD and the
values around it usually come in one request); every other range is exact.
"""

from __future__ import annotations

import struct

from exifread.tags import IGNORE_TAGS
from exifread.tags.exif import EXIF_TAGS
from exifread.tags.makernote.canon import CAMERA_INFO_TAG_NAME

from imgprint.spans import MAX_SPAN, Range, Spans

#: Bytes asked for at an IFD whose entry count is not held yet.
WINDOW = 2048
#: Bounds on the walk: IFDs in the chain, entries processed in all.
MAX_IFDS = 1000
MAX_ENTRIES = 20_000

#: Bytes per value of exifread's field types (1..13); other types are skipped.
_LENGTHS = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_SIGNED = {6, 8, 9, 10}
_INT_TYPES = {1, 3, 4, 6, 7, 8, 9, 13}  # a value exifread can seek to
_ASCII = 2
_IGNORED = frozenset(IGNORE_TAGS)
#: Tags whose values exifread reads even beyond 999 of them.
_LONG_VALUES = ("MakerNote", CAMERA_INFO_TAG_NAME)
_EXIF_OFFSET = 0x8769


def _sub_ifds(tag_dict: dict) -> dict[int, dict]:
    """Tags of `tag_dict` whose value exifread follows as an IFD, and that IFD's tags."""
    return {tag: entry[1][1] for tag, entry in tag_dict.items()
            if len(entry) > 1 and isinstance(entry[1], tuple)}


_SUBS: dict[int, dict[int, dict]] = {id(EXIF_TAGS): _sub_ifds(EXIF_TAGS)}


class _Walk:
    def __init__(self, spans: Spans, base: int, window: int) -> None:
        self.spans = spans
        self.base = base
        self.window = window
        self.limit = spans.extent()  # exifread's view of the file ends here
        self.need: list[Range] = []
        self.entries = 0
        self.order = "little"

    def read(self, off: int, n: int) -> bytes | None:
        """What exifread's ``read(n)`` at `off` returns (short at the end of the
        file); None, and the gap noted, when not all of it is held."""
        start = self.base + off
        end = min(start + min(n, MAX_SPAN), self.limit)
        if end <= start:
            return b""
        data = self.spans.get(start, end)
        if data is None:
            self.need.extend(self.spans.missing(start, end))
        return data

    def num(self, off: int, n: int, signed: bool = False) -> int | None:
        """exifread's ``s2n``: 0 for a short read; None when not held."""
        data = self.read(off, n)
        if data is None:
            return None
        if len(data) != n:
            return 0
        return int.from_bytes(data, self.order, signed=signed)  # type: ignore[arg-type]

    def count(self, ifd: int) -> int | None:
        """An IFD's entry count; a window asked for when it is not held."""
        start = self.base + ifd
        if start < self.limit and not self.spans.has(start, min(start + 2, self.limit)):
            # Values sit on both sides of the IFD that points at them.
            lo = max(self.base, start - self.window // 4)
            self.need.append((lo, min(start + self.window, self.limit)))
            return None
        return self.num(ifd, 2)

    def chain(self) -> list[int]:
        """exifread's ``list_ifd``: IFD offsets from the first, until 0 or a loop."""
        first = self.num(4, 4)
        out: list[int] = []
        i = first or 0
        while i and i not in out and len(out) < MAX_IFDS:
            out.append(i)
            n = self.count(i)
            if n is None:
                break
            nxt = self.num(i + 2 + 12 * n, 4)
            if nxt is None:
                break
            i = 0 if nxt == i else nxt
        return out

    def entries_of(self, ifd: int, n: int) -> list[tuple[int, int, int, bytes]]:
        """(tag, type, count, value field) of the entries of the IFD at `ifd` that
        are held, as exifread reads them; the gap after them is noted."""
        start = self.base + ifd + 2
        end = min(start + 12 * n, self.limit)
        if end <= start:
            return []  # past the end of the file: every field reads as 0
        block = self.spans.get(start, end)
        if block is None:
            self.need.extend(self.spans.missing(start, end))
            block = self.spans.get_partial(start, end)
        fmt = "<HHI4s" if self.order == "little" else ">HHI4s"
        out = list(struct.iter_unpack(fmt, block[: len(block) // 12 * 12]))
        rest = len(block) % 12
        if rest and start + len(block) == self.limit:
            # The end of the file cuts this entry: each short field reads as 0.
            pos = ifd + 2 + 12 * len(out)
            fields = [self.num(pos + o, k) or 0 for o, k in ((0, 2), (2, 2), (4, 4))]
            out.append((fields[0], fields[1], fields[2], block[-rest:][8:12].ljust(4, b"\0")))
        return out

    def dump(self, ifd: int, tag_dict: dict, is_ifd0: bool = False) -> int | None:
        """exifread's ``dump_ifd``: the reads of one IFD and of the IFDs its
        entries point at. Returns IFD0's ExifOffset value, if any."""
        n = self.count(ifd)
        if n is None:
            return None
        subs = _SUBS.get(id(tag_dict), {})
        exif_off = None
        for i, (tag, typ, count, field) in enumerate(self.entries_of(ifd, n)):
            self.entries += 1
            if self.entries > MAX_ENTRIES:
                return exif_off
            pos = ifd + 2 + 12 * i
            if tag in _IGNORED or typ not in _LENGTHS:
                continue
            size = count * _LENGTHS[typ]
            if size > 4:
                off = int.from_bytes(field, self.order)  # type: ignore[arg-type]
            else:
                off = pos + 8
            entry = tag_dict.get(tag)
            name = entry[0] if entry else f"Tag 0x{tag:04X}"
            if typ == _ASCII:
                if count:
                    self.read(off, count)
                continue
            if count >= 1000 and name not in _LONG_VALUES:
                continue
            if not self.read(off, size) or typ not in _INT_TYPES:
                continue  # values not held yet, none, or not an offset
            first = self.num(off, _LENGTHS[typ], typ in _SIGNED)
            if first is None:
                continue
            if tag in subs:
                self.dump(first, subs[tag])
            if is_ifd0 and tag == _EXIF_OFFSET:
                exif_off = first
        return exif_off


def exif_needed(spans: Spans, base: int, window: int = WINDOW) -> list[Range]:
    """Absolute ranges exifread would read from the TIFF header at `base` that
    are not held yet; [] when its walk is complete over the bytes held."""
    if not spans.has(base, base + 8):
        if spans.size is not None and base + 8 > spans.size:
            return spans.missing(base, spans.size)
        return [(base, base + window)]
    head = spans.get(base, base + 2)
    if head not in (b"II", b"MM"):
        return []  # not a TIFF header: exifread finds nothing here
    walk = _Walk(spans, base, window)
    walk.order = "little" if head == b"II" else "big"
    exif_off = None
    for k, ifd in enumerate(walk.chain()):
        found = walk.dump(ifd, EXIF_TAGS, is_ifd0=k == 0)
        if k == 0:
            exif_off = found
    if exif_off is not None:
        walk.dump(exif_off, EXIF_TAGS)
    return walk.need
