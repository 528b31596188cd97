"""Which format a file is, from its first bytes: magic numbers and ftyp brands.

This is the one place that names a file's format.  Dispatch picks the parser
by this name and `facts` records it, so the parser that reads a file and the
``format`` of its record cannot disagree (an HEIF-structured file with an AV1
brand is "avif" for both).
"""

from __future__ import annotations

from .png import SIGNATURE as PNG_SIGNATURE

#: How many leading bytes `sniff` looks at (dispatch passes this many).
SNIFF_BYTES = 64

#: (format, ((offset, bytes), ...)): the first row whose pairs all match wins.
_MAGIC: tuple[tuple[str, tuple[tuple[int, bytes], ...]], ...] = (
    ("jpeg", ((0, b"\xff\xd8"),)),
    ("png", ((0, PNG_SIGNATURE),)),
    ("gif", ((0, b"GIF87a"),)),
    ("gif", ((0, b"GIF89a"),)),
    ("webp", ((0, b"RIFF"), (8, b"WEBP"))),
    # The byte order mark alone, not the magic number after it: exifread reads
    # TIFFs whose magic number is damaged, so do we.
    ("tiff", ((0, b"II"),)),
    ("tiff", ((0, b"MM"),)),
)

#: ISO BMFF brands (ftyp major or compatible brands) of AV1 images.
AVIF_BRANDS = frozenset({b"avif", b"avis"})
#: Brands of HEIF files: HEVC-coded ones and the codec-neutral structural
#: brands (mif1, msf1, mif2, miaf) that AVIF files carry too.
HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm",
                         b"hevs", b"mif1", b"msf1", b"mif2", b"miaf"})
#: Major brands that settle "heif" even when an AVIF brand is listed as compatible.
HEVC_MAJORS = frozenset({b"heic", b"heix"})


def brand_format(head: bytes) -> str | None:
    """"avif" or "heif" from the ftyp box at the start of `head`, else None."""
    if head[4:8] != b"ftyp":
        return None
    major = head[8:12]
    # Compatible brands from byte 16 on, within the sniffed head.
    compatible = {head[i : i + 4] for i in range(16, min(len(head), SNIFF_BYTES) - 3, 4)}
    if major in AVIF_BRANDS:
        return "avif"
    if major in HEIF_BRANDS and major not in HEVC_MAJORS and compatible & AVIF_BRANDS:
        # A structural major brand (miaf, mif1, ...) leaves the codec to the
        # compatible brands: AVIF writers put "avif" there.
        return "avif"
    if major in HEIF_BRANDS or compatible & HEIF_BRANDS:
        return "heif"
    return None


def sniff(head: bytes) -> str | None:
    """Format name from the first bytes of a file, or None."""
    for fmt, marks in _MAGIC:
        if all(head[off : off + len(mark)] == mark for off, mark in marks):
            return fmt
    return brand_format(head)
