"""Byte-level image format parsers over sparse data.

The crawler holds a prefix of a remote image (and maybe a few more ranges)
in a `Spans`.  These functions tell which further byte ranges hold metadata
(`needed`, `next_fetch`) and read what is there (`exif_tags`, `facts`).
`metadata_blocks` hands over the XMP, IPTC, Photoshop, ICC, text and comment
blocks held (kind and payload, in file order) and `unread_blocks` names those
known to exist but not held; `needed` plans their bytes like EXIF's.
`content_spans`/`content_hash` locate and hash the coded image data without
any metadata container; `thumbnail_span` and `first_scan_bytes` find the small
images the perceptual hash is computed from; `wanted` lists what of those is
still missing, which `next_fetch` adds to the metadata spans it asks for.
They never touch the network, never loop unboundedly, never ask for bytes
outside the file, and raise nothing but `FormatError` (from `exif_tags`).

This module only gathers the public names.  `signatures` names the format
(magic numbers, ftyp brands), `dispatch` calls that format's parser under a
guard, `plan` plans fetches, `blocks` caps and hands over the metadata blocks
the parsers locate, `content` finds what the fingerprints hash; the
parsers are `jpeg`, `png`, `gif`, `webp`, `tiff` and `bmff` (HEIF/AVIF) with
their helper modules, over `spans` and the shared EXIF engine `exif_walk`.
"""

from __future__ import annotations

from imgprint.spans import MAX_SPAN as MAX_SPAN
from imgprint.spans import Spans

from .blocks import metadata_blocks, unread_blocks
from .content import content_hash, content_spans, first_scan_bytes, thumbnail_span
from .dispatch import exif_tags, facts
from .exif_walk import FormatError
from .plan import MERGE_GAP as MERGE_GAP
from .plan import needed, next_fetch, wanted
from .signatures import sniff

__all__ = ["FormatError", "Spans", "content_hash", "content_spans", "exif_tags", "facts",
           "first_scan_bytes", "metadata_blocks", "needed", "next_fetch", "sniff",
           "thumbnail_span", "unread_blocks", "wanted"]

#: Raise parser bugs instead of swallowing them (tests turn this on).  Read by
#: `dispatch.guard` at each call, so setting it here takes effect everywhere.
STRICT = False
