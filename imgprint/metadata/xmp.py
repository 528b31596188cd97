"""XMP packets to a flat dict: ``prefix:LocalName`` -> str, or list[str] for arrays.

Input is one packet as a container holds it (JPEG APP1, TIFF tag 700, WebP
``XMP ``, HEIF ``mime`` item, PNG iTXt, GIF application extension): maybe
wrapped in ``<?xpacket?>``, followed by padding, GIF's 258-byte magic trailer
or junk. The packet is cut after ``<?xpacket end?>`` (else after the first
``</x:xmpmeta>`` or ``</rdf:RDF>``) and parsed with defusedxml, which refuses
DTDs, entities and external references: billion laughs or XXE packets fail to
parse and give nothing, quickly. A packet that does not parse gives nothing
(no partial tree: its values could be cut mid-way).

Shape: keys use canonical prefixes chosen by namespace URI (``dc``, ``xmp``,
``photoshop``, ``exif``…; an unknown namespace keeps the packet's own prefix),
so ``<foo:CreatorTool xmlns:foo="http://ns.adobe.com/xap/1.0/">`` is
``xmp:CreatorTool``. Simple values are strings; ``rdf:Bag``/``rdf:Seq`` are
lists of strings; ``rdf:Alt`` is its ``x-default`` item (else the first).
Structs are flattened ONE level, ``xmpMM:DerivedFrom/stRef:documentID``, as
metadata-extractor prints them; anything deeper is skipped. The first value
seen for a key wins (packets and ``rdf:Description`` elements are merged).

Bounds (hostile input): packets over ``MAX_PACKET`` (2 MiB) are skipped;
at most ``MAX_PROPERTIES`` (500) keys and ``MAX_LIST`` (200) items per array;
every string is cut to ``cap`` characters (``record_caps.cap_text``). The walk
has a fixed depth (Description, property, array or struct, item), so deeply
nested XML costs only expat's parse, itself bounded by the packet size.
Extended XMP (JPEG) is reassembled up to ``MAX_EXTENDED`` (1 MiB).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from itertools import islice
from typing import Any
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeET

from imgprint.record_caps import cap_text

MAX_PACKET = 2 * 1024 * 1024
MAX_EXTENDED = 1024 * 1024
MAX_PROPERTIES = 500
MAX_LIST = 200
#: Extended XMP chunks read per image (a 1 MiB packet needs about 16 of 65 KB).
MAX_CHUNKS = 64

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XML = "http://www.w3.org/XML/1998/namespace"
_RDF_ATTRS = {f"{{{RDF}}}{n}" for n in ("about", "parseType", "resource", "ID", "nodeID")}
_LANG = f"{{{XML}}}lang"

#: Canonical prefixes by namespace URI (the XMP spec's and the usual writers').
PREFIXES = {
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://ns.adobe.com/xap/1.0/": "xmp",
    "http://ns.adobe.com/xap/1.0/rights/": "xmpRights",
    "http://ns.adobe.com/xap/1.0/mm/": "xmpMM",
    "http://ns.adobe.com/xap/1.0/sType/ResourceRef#": "stRef",
    "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#": "stEvt",
    "http://ns.adobe.com/photoshop/1.0/": "photoshop",
    "http://ns.adobe.com/exif/1.0/": "exif",
    "http://cipa.jp/exif/1.0/": "exifEX",
    "http://ns.adobe.com/tiff/1.0/": "tiff",
    "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/": "Iptc4xmpCore",
    "http://iptc.org/std/Iptc4xmpExt/2008-02-29/": "Iptc4xmpExt",
    "http://ns.adobe.com/exif/1.0/aux/": "aux",
    "http://ns.adobe.com/camera-raw-settings/1.0/": "crs",
    "http://ns.adobe.com/lightroom/1.0/": "lr",
    "http://ns.useplus.org/ldf/xmp/1.0/": "plus",
    "http://ns.adobe.com/xmp/note/": "xmpNote",
    "http://ns.google.com/photos/1.0/panorama/": "GPano",
}

_ENDS = (re.compile(rb"<\?xpacket\s+end[^>]*\?>"), re.compile(rb"</(?:[\w.-]+:)?xmpmeta\s*>"),
         re.compile(rb"</(?:[\w.-]+:)?RDF\s*>"))


def _trim(packet: bytes) -> bytes:
    """The packet from its first ``<`` to its first closing marker (what follows is
    padding, GIF's trailer or junk, which may hold another packet)."""
    start = packet.find(b"<")
    if start < 0:
        return b""
    for end in _ENDS:
        match = end.search(packet, start)
        if match:
            return packet[start:match.end()]
    return packet[start:]


def _parse(packet: bytes) -> tuple[Element | None, dict[str, str]]:
    """The root element and the packet's own prefixes by URI; (None, {}) when it fails."""
    own: dict[str, str] = {}
    root = None
    try:
        for event, item in SafeET.iterparse(io.BytesIO(packet), events=("start-ns", "end"),
                                            forbid_dtd=True):
            if event == "start-ns":
                prefix, uri = item
                own.setdefault(uri, prefix)
            else:
                root = item
    except Exception:  # ParseError, DTDForbidden, EntitiesForbidden, ValueError…
        return None, {}
    return root, own


class _Flat:
    """The dict being built, with its bounds and the namespace names."""

    def __init__(self, own: dict[str, str], cap: int, out: dict[str, Any]) -> None:
        self.own, self.cap, self.out = own, cap, out

    def name(self, tag: str) -> str:
        if tag.startswith("{"):
            uri, _, local = tag[1:].partition("}")
            prefix = PREFIXES.get(uri) or self.own.get(uri) or ""
            return f"{prefix}:{local}" if prefix else local
        return tag

    def full(self) -> bool:
        return len(self.out) >= MAX_PROPERTIES

    def put(self, key: str, value: str | list[str]) -> None:
        if self.full() or key in self.out:
            return
        self.out[key] = ([cap_text(v, self.cap) for v in value] if isinstance(value, list)
                         else cap_text(value, self.cap))


def _is_struct_shorthand(node: Element) -> bool:
    """Fields written as attributes: ``<exif:Flash exif:Fired="False"/>``."""
    return any(not a.startswith(f"{{{RDF}}}") and a != _LANG for a in node.attrib)


def _simple(node: Element) -> str | None:
    """A leaf's text (or its ``rdf:resource``); None for a struct."""
    if len(node) or _is_struct_shorthand(node):
        return None
    return node.get(f"{{{RDF}}}resource", node.text or "")


def _array(node: Element) -> str | list[str] | None:
    """The value of a property element holding an ``rdf:Bag``/``Seq``/``Alt``."""
    kind = node[0].tag
    items = [li for li in islice(node[0], MAX_LIST) if li.tag == f"{{{RDF}}}li"]
    if kind == f"{{{RDF}}}Alt":
        chosen = next((li for li in items if li.get(_LANG) == "x-default"), None)
        chosen = chosen if chosen is not None else (items[0] if items else None)
        return _simple(chosen) if chosen is not None else None
    if kind in (f"{{{RDF}}}Bag", f"{{{RDF}}}Seq"):
        values = [v for v in (_simple(li) for li in items) if v is not None]
        return values or None  # empty, or an array of structs (skipped, like deeper structs)
    return None


def _value(node: Element) -> str | list[str] | None:
    """A simple or array value; None for a struct (or anything else)."""
    if not len(node):
        return _simple(node)
    if len(node) == 1 and node.get(f"{{{RDF}}}parseType") != "Resource":
        return _array(node)
    return None


def _fields(node: Element) -> Iterable[tuple[str, str | Element]]:
    """A struct's (or a Description's) fields: attributes, then child elements."""
    body: Element = node
    if node.get(f"{{{RDF}}}parseType") != "Resource" and len(node) == 1 \
            and node[0].tag == f"{{{RDF}}}Description":
        body = node[0]
    for holder in {id(node): node, id(body): body}.values():
        for attr, text in holder.attrib.items():
            if not attr.startswith(f"{{{RDF}}}") and attr != _LANG:
                yield attr, text
    # rdf:* children here are arrays of structs or stray syntax: not fields.
    yield from ((child.tag, child) for child in body if not child.tag.startswith(f"{{{RDF}}}"))


def _description(desc: Element, flat: _Flat) -> None:
    for tag, item in _fields(desc):
        if flat.full():
            return
        key = flat.name(tag)
        if isinstance(item, str):
            flat.put(key, item)
            continue
        value = _value(item)
        if value is not None:
            flat.put(key, value)
            continue
        for sub, field in _fields(item):  # a struct: one level
            sub_value = field if isinstance(field, str) else _value(field)
            if sub_value is not None:
                flat.put(f"{key}/{flat.name(sub)}", sub_value)


def parse_xmp(packet: bytes, cap: int = 2000, into: dict[str, Any] | None = None) -> dict[str, Any]:
    """The packet's properties (see the module docstring); ``{}`` when it does not parse.

    With ``into``, properties are added to that dict (keys already there win).
    """
    out: dict[str, Any] = {} if into is None else into
    if len(packet) > MAX_PACKET:
        return out
    root, own = _parse(_trim(packet))
    if root is None:
        return out
    flat = _Flat(own, cap, out)
    rdf = root if root.tag == f"{{{RDF}}}RDF" else root.find(f"{{{RDF}}}RDF")
    if rdf is None:
        return out
    for desc in islice(rdf, MAX_PROPERTIES):
        if desc.tag == f"{{{RDF}}}Description":
            _description(desc, flat)
    return out


def extended_packet(chunks: Iterable[bytes], guid: str | None) -> bytes | None:
    """The extended XMP packet from JPEG ``xmp/extension`` payloads, or None.

    Each payload: 32-byte GUID (hex MD5 of the full extended packet, not
    checked), 4-byte big-endian full length, 4-byte offset, data. Only chunks
    whose GUID is ``guid`` are used (or, without one, those of the first GUID
    seen); a full length over ``MAX_EXTENDED`` or parts left unfilled give None.
    """
    buffer: bytearray | None = None
    spans: list[tuple[int, int]] = []
    for chunk in islice(chunks, MAX_CHUNKS):
        if len(chunk) < 40:
            continue
        chunk_guid = chunk[:32].decode("latin-1")
        guid = guid or chunk_guid
        total = int.from_bytes(chunk[32:36], "big")
        offset = int.from_bytes(chunk[36:40], "big")
        if chunk_guid != guid or total > MAX_EXTENDED:
            continue
        if buffer is None:
            buffer = bytearray(total)
        if len(buffer) != total:
            continue
        data = chunk[40:40 + max(0, total - offset)]
        buffer[offset:offset + len(data)] = data
        spans.append((offset, offset + len(data)))
    if buffer is None or _covered(spans) < len(buffer):
        return None  # a chunk is missing: the packet would not parse
    return bytes(buffer)


def _covered(spans: list[tuple[int, int]]) -> int:
    """Bytes covered by the union of ``spans`` (repeated chunks count once)."""
    total = reach = 0
    for start, end in sorted(spans):
        start = max(start, reach)
        if end > start:
            total += end - start
            reach = end
    return total
