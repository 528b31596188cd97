"""The caps on metadata blocks: which kinds exist and how much of each is fetched.

A leaf: the block planner (`blocks`) and the JPEG segment walk (`jpeg_runs`,
which skips runs of chunks no cap lets through) both read these numbers.
"""

from __future__ import annotations

#: Kinds and what their bytes are (the contract with imgprint.metadata.blocks).
KINDS = ("xmp", "xmp_extended", "photoshop", "iptc", "icc", "icc_jpeg", "icc_zlib",
         "png_text", "png_ztxt", "png_itxt", "png_time", "comment", "user_comment")

KIB = 1024
#: Largest block of each kind that is fetched. XMP: Photoshop's packets with a
#: long history reach a few hundred KB; 256 KiB holds every packet of the corpus
#: (largest 62 KB) with room. A JPEG segment (APP1/APP2/APP13/COM) is at most
#: 64 KiB anyway.
CAPS: dict[str, int] = {
    "xmp": 256 * KIB, "xmp_extended": 64 * KIB, "photoshop": 4 * KIB, "iptc": 64 * KIB,
    "icc": 64 * KIB, "icc_jpeg": 64 * KIB, "icc_zlib": 64 * KIB, "png_text": 64 * KIB,
    "png_ztxt": 64 * KIB, "png_itxt": 64 * KIB, "png_time": 7, "comment": 64 * KIB,
    "user_comment": 64 * KIB,
}
#: Kinds whose first bytes decode on their own: a longer block gives its first
#: cap bytes instead of nothing.
PREFIX_OK = frozenset({"icc", "icc_jpeg", "icc_zlib", "png_text", "png_ztxt", "png_itxt",
                       "comment", "user_comment", "photoshop"})
#: Bytes of all blocks of a kind planned. ExtendedXMP is bounded hardest: it
#: carries depth maps and panorama data of megabytes (Android depth JPEGs), no
#: field a record keeps; 128 KiB is two full chunks.
KIND_TOTAL: dict[str, int] = {"xmp_extended": 128 * KIB}
DEFAULT_TOTAL = 256 * KIB
#: Blocks of one kind planned (10,000 APP13 segments or 100,000 tEXt chunks
#: cost no more than this many).
MAX_PER_KIND = 64
