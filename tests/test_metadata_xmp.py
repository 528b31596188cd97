"""XMP decoding: shapes, prefixes, structs, extended XMP, truncation and hostile packets."""

from __future__ import annotations

import time

import pytest

from imgprint.metadata import xmp
from imgprint.metadata.blocks import metadata_fields, xmp_date
from imgprint.metadata.xmp import MAX_LIST, MAX_PROPERTIES, extended_packet, parse_xmp
from tests.test_metadata_blocks import EX, jpeg_blocks

RDF = 'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'


def packet(body: str, ns: str = "") -> bytes:
    return (f'<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
            f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF {RDF}>'
            f'<rdf:Description rdf:about="" {ns}>{body}</rdf:Description>'
            f'</rdf:RDF></x:xmpmeta><?xpacket end="w"?>').encode()


DC = 'xmlns:dc="http://purl.org/dc/elements/1.1/"'


def test_shapes_simple_bag_seq_alt():
    body = ("<dc:title><rdf:Alt><rdf:li xml:lang='fr'>Chat</rdf:li>"
            "<rdf:li xml:lang='x-default'>Cat</rdf:li></rdf:Alt></dc:title>"
            "<dc:subject><rdf:Bag><rdf:li>a</rdf:li><rdf:li>b</rdf:li></rdf:Bag></dc:subject>"
            "<dc:creator><rdf:Seq><rdf:li>Ann</rdf:li></rdf:Seq></dc:creator>"
            "<dc:rights><rdf:Alt><rdf:li xml:lang='en'>(c) me</rdf:li></rdf:Alt></dc:rights>"
            "<dc:format>image/jpeg</dc:format>")
    assert parse_xmp(packet(body, DC)) == {
        "dc:title": "Cat", "dc:subject": ["a", "b"], "dc:creator": ["Ann"],
        "dc:rights": "(c) me", "dc:format": "image/jpeg"}


def test_attributes_and_prefixes_by_namespace():
    data = packet("<p:City>Oslo</p:City>",
                  'xmlns:foo="http://ns.adobe.com/xap/1.0/" foo:Rating="5" '
                  'xmlns:p="http://ns.adobe.com/photoshop/1.0/" '
                  'xmlns:mine="http://example.com/ns/" mine:Thing="x"')
    assert parse_xmp(data) == {"xmp:Rating": "5", "mine:Thing": "x", "photoshop:City": "Oslo"}


def test_structs_flatten_one_level():
    ns = ('xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" '
          'xmlns:stRef="http://ns.adobe.com/xap/1.0/sType/ResourceRef#" '
          'xmlns:exif="http://ns.adobe.com/exif/1.0/"')
    body = ("<xmpMM:DerivedFrom rdf:parseType='Resource'><stRef:documentID>d1</stRef:documentID>"
            "<stRef:deep rdf:parseType='Resource'><stRef:x>1</stRef:x></stRef:deep>"
            "</xmpMM:DerivedFrom>"
            "<exif:Flash exif:Fired='False' exif:Mode='2'/>"
            "<xmpMM:Ingredients><rdf:Description stRef:filePath='a.psd'/></xmpMM:Ingredients>"
            "<xmpMM:History><rdf:Seq><rdf:li rdf:parseType='Resource'><stRef:x>1</stRef:x>"
            "</rdf:li></rdf:Seq></xmpMM:History>")
    assert parse_xmp(packet(body, ns)) == {
        "xmpMM:DerivedFrom/stRef:documentID": "d1", "exif:Flash/exif:Fired": "False",
        "exif:Flash/exif:Mode": "2", "xmpMM:Ingredients/stRef:filePath": "a.psd"}


def test_first_value_wins_and_resource_values():
    data = packet("<dc:source rdf:resource='http://x/'/>", DC).replace(
        b"</rdf:RDF>", b"<rdf:Description " + DC.encode() + b" dc:source='late'/></rdf:RDF>")
    assert parse_xmp(data) == {"dc:source": "http://x/"}


@pytest.mark.parametrize("junk", [b"", b"\0" * 2000, b" " * 4000 + b"garbage<<<",
                                  bytes([1]) + bytes(range(255, -1, -1)) + b"\0"])
def test_padding_trailers_and_junk_after_the_packet(junk):
    assert parse_xmp(packet("<dc:format>x</dc:format>", DC) + junk) == {"dc:format": "x"}


def test_bounds_on_values_lists_and_properties():
    many = "".join(f"<rdf:li>{i}</rdf:li>" for i in range(5000))
    out = parse_xmp(packet(f"<dc:subject><rdf:Bag>{many}</rdf:Bag></dc:subject>"
                           f"<dc:format>{'y' * 9000}</dc:format>", DC), cap=100)
    assert len(out["dc:subject"]) == MAX_LIST
    assert out["dc:format"] == "y" * 100 + "…truncated"


def test_a_packet_of_100k_properties_is_capped_quickly():
    attrs = " ".join(f'dc:p{i}="v"' for i in range(50_000))
    elems = "".join(f"<dc:e{i}>v</dc:e{i}>" for i in range(50_000))
    data = packet(elems, DC + " " + attrs)
    start = time.perf_counter()
    out = parse_xmp(data)
    assert len(out) == MAX_PROPERTIES
    assert time.perf_counter() - start < 1.5


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:format>&lol9;</dc:format>
</rdf:Description></rdf:RDF></x:xmpmeta>"""
XXE = BILLION_LAUGHS.split(b"<!DOCTYPE")[0] + (
    b'<!DOCTYPE x [<!ENTITY lol9 SYSTEM "file:///etc/passwd">]>'
    + BILLION_LAUGHS.split(b"]>", 1)[1])


@pytest.mark.parametrize("data", [BILLION_LAUGHS, XXE, XXE.replace(b"file:///etc/passwd",
                                                                   b"http://127.0.0.1:9/x")])
def test_entities_and_dtds_give_nothing_quickly(data):
    start = time.perf_counter()
    assert parse_xmp(data) == {}
    assert metadata_fields([("xmp", data)]) == {"has_xmp": True}
    assert time.perf_counter() - start < 0.5


def test_deep_nesting_and_oversized_packets():
    deep = packet("<dc:format>" + "<a>" * 100_000 + "</a>" * 100_000 + "</dc:format>", DC)
    start = time.perf_counter()
    assert parse_xmp(deep) == {}  # a struct too deep to keep
    assert time.perf_counter() - start < 1.5
    huge = packet("<dc:format>" + "z" * xmp.MAX_PACKET + "</dc:format>", DC)
    assert parse_xmp(huge) == {}


def test_real_packet_cut_anywhere():
    raw = next(b for k, b in jpeg_blocks(EX / "jpg/xmp/no_exif.jpg") if k == "xmp")
    whole = parse_xmp(raw)
    start = time.perf_counter()
    for cut in range(0, len(raw), max(1, len(raw) // 300)):
        out = parse_xmp(raw[:cut])
        assert out == {} or out == whole  # a cut packet parses whole (padding cut) or not at all
    assert time.perf_counter() - start < 2


def ext_chunks(packet_bytes: bytes, guid: str, size: int = 100) -> list[bytes]:
    total = len(packet_bytes).to_bytes(4, "big")
    return [guid.encode() + total + off.to_bytes(4, "big") + packet_bytes[off:off + size]
            for off in range(0, len(packet_bytes), size)]


def test_extended_xmp_order_guid_and_gaps():
    guid = "A" * 32
    ext = packet("<dc:format>ext</dc:format>", DC)
    chunks = ext_chunks(ext, guid)
    assert extended_packet(reversed(chunks), guid) == ext
    assert extended_packet(chunks + ext_chunks(b"x" * 50, "B" * 32), None) == ext
    assert extended_packet(chunks[:-1] + chunks[:1], guid) is None  # a chunk missing
    assert extended_packet(chunks, "C" * 32) is None
    lie = guid.encode() + (2**31).to_bytes(4, "big") + bytes(4) + b"x"
    assert extended_packet([lie, b"short"], None) is None
    main = packet("", 'xmlns:xmpNote="http://ns.adobe.com/xmp/note/" '
                      f'xmpNote:HasExtendedXMP="{guid}"')
    blocks = [("xmp", main)] + [("xmp_extended", c) for c in ext_chunks(b"junk", "D" * 32)
                                ] + [("xmp_extended", c) for c in chunks]
    assert metadata_fields(blocks)["xmp"] == {"xmpNote:HasExtendedXMP": guid,
                                              "dc:format": "ext"}


def test_xmp_date():
    assert xmp_date({"photoshop:DateCreated": "2013-05-04T12:01:02+02:00",
                     "exif:DateTimeOriginal": "2000-01-01"}) == (
        "2013-05-04T12:01:02+02:00", "photoshop:DateCreated")
    assert xmp_date({"photoshop:DateCreated": "2013-13-04", "exif:DateTimeOriginal":
                     "2013:05:04 12:01:02"}) == ("2013-05-04T12:01:02", "exif:DateTimeOriginal")
    assert xmp_date({"exif:DateTimeOriginal": "2013-05"}) == ("2013-05", "exif:DateTimeOriginal")
    for bad in ("", "garbage", "2013-02-30", "0000-01-01", "2013-05-04T25:00", ["2013"]):
        assert xmp_date({"photoshop:DateCreated": bad}) is None


def test_rdf_and_lang_attributes_are_not_fields():
    body = ("<dc:format rdf:datatype='http://www.w3.org/2001/XMLSchema#string'>x</dc:format>"
            "<dc:source xml:lang='en'>y</dc:source>")
    assert parse_xmp(packet(body, DC)) == {"dc:format": "x", "dc:source": "y"}


@pytest.mark.parametrize("kind", ["png_text", "png_itxt"])
def test_xmp_in_png_text_chunks(kind):
    head = b"XML:com.adobe.xmp\0" + (b"\0\0\0\0" if kind == "png_itxt" else b"")
    fields = metadata_fields([(kind, head + packet("<dc:format>p</dc:format>", DC))])
    assert fields == {"has_xmp": True, "xmp": {"dc:format": "p"}}
