"""The record imgprint writes for each image.

What the fetch path got of an image (``imgprint.fetch.protocol.FetchedImage``)
travels to the pipeline on ``ImageRecord.fetched``, an attribute that is not a
dataclass field: item adapters, feed exporters and any serializer see only the
fields, so image bytes can never reach a feed.

``ImageRecord`` is the record; ``split_pages`` bounds its ``pages``. Its
fields are the feed's keys, in order: the
seed tool's (their names and meaning are the compatibility contract, README
"Record format"), then what imgprint adds. Only ``url``, ``timestamp`` and
``pages`` are always there; a field that does not apply is left out of the
record, not written as null: ``ImageRecordAdapter`` (registered with
itemadapter, the way its docs describe for custom item types) treats an unset
field as a missing key, which itemadapter's own dataclass adapter does only
when iterating. ``set`` caps every value (``imgprint.record_caps``): no
string from a file, header or server reaches a feed longer than its cap.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from itemadapter.adapter import DataclassAdapter

from imgprint.record_caps import MAX_PAGES_BYTES, cap_field, json_size

if TYPE_CHECKING:
    from imgprint.fetch.protocol import FetchedImage


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _unset() -> Any:
    return field(init=False)


@dataclass(eq=False, repr=False)
class ImageRecord:
    """One feed line. Set fields with ``set(**values)``; unset ones are left out."""

    url: str
    image_size: int | None = _unset()
    etag: str | None = _unset()
    timestamp: str = field(default_factory=utc_now)
    exif: dict[str, str] = _unset()
    sha256_first_10240_bytes: str = _unset()
    random_128_bytes_sample_start: str = _unset()
    format: str = _unset()
    width: int = _unset()
    height: int = _unset()
    bit_depth: int = _unset()
    has_color_profile: bool = _unset()
    has_transparency: bool = _unset()
    has_xmp: bool = _unset()
    density: Any = _unset()
    progressive: bool = _unset()
    quality: int = _unset()
    frames: int = _unset()
    content_sha256: str | None = _unset()
    phash: str | None = _unset()
    phash_source: str | None = _unset()
    # The perceptual hashes (imgprint.fingerprint.phash): the top band's pHash
    # and where it was decoded, PDQ of the picture phash was taken from, and
    # why a source held was not decoded.
    phash_band: str = _unset()
    phash_band_source: str = _unset()
    pdq: str = _unset()
    pdq_quality: int = _unset()
    phash_error: str = _unset()
    gps: Any = _unset()
    taken_at: str = _unset()
    # Where taken_at was read: "exif", "xmp:<property>", "iptc", or a vendor
    # container: "ciff", "reconyx", "flir".
    taken_at_source: str = _unset()
    modified_at: str = _unset()  # EXIF DateTime: the last change, not the capture
    camera: Any = _unset()
    software: str = _unset()
    # Text metadata (imgprint.metadata.blocks), each value capped at
    # IMGPRINT_METADATA_MAX_CHARS characters.
    xmp: dict[str, Any] = _unset()
    iptc: dict[str, Any] = _unset()
    icc: dict[str, str] = _unset()
    png_text: dict[str, str] = _unset()
    png_time: str = _unset()
    comment: str = _unset()
    user_comment: str = _unset()
    pages: list[str] = field(default_factory=list)
    seen_before: bool = _unset()
    final_url: str = _unset()
    content_type: str | None = _unset()
    http_status: int = _unset()
    bytes_fetched: int = _unset()
    requests: int = _unset()
    metadata_incomplete: str = _unset()
    error: str = _unset()
    # With rendering on or auto: "html", "dom" or "requests" (imgprint.render).
    found_by: str = _unset()

    def __post_init__(self) -> None:
        # Not a field: the pipeline's input, never exported (module docstring).
        self.fetched: FetchedImage | None = None

    @classmethod
    def sighting(cls, url: str, pages: list[str]) -> ImageRecord:
        """Pages that reference an image recorded earlier."""
        record = cls(url, pages=pages)
        record.seen_before = True
        return record

    def set(self, **values: Any) -> None:
        """Set fields by name; an unknown name is a bug, not a new key."""
        for name, value in values.items():
            if name not in FIELD_NAMES:
                raise KeyError(f"ImageRecord has no field {name!r}")
            # Every string a file, header or server gave is capped here.
            setattr(self, name, cap_field(name, value))

    def to_dict(self) -> dict[str, Any]:
        """The fields that are set, in feed order."""
        return {f: getattr(self, f) for f in FIELDS if hasattr(self, f)}

    def __repr__(self) -> str:
        return f"ImageRecord({self.to_dict()!r})"


def page_chunks(pages: list[str], limit: int) -> list[list[str]]:
    """``pages`` in order, in lists of at most ``limit`` pages and
    ``MAX_PAGES_BYTES`` of JSON (always at least one page)."""
    chunks: list[list[str]] = []
    chunk: list[str] = []
    size = 0
    for page in pages:
        cost = json_size(page) + 2  # ", "
        if chunk and (len(chunk) >= limit or size + cost > MAX_PAGES_BYTES):
            chunks.append(chunk)
            chunk, size = [], 0
        chunk.append(page)
        size += cost
    return [*chunks, chunk] if chunk else chunks


def split_pages(record: ImageRecord, limit: int) -> list[ImageRecord]:
    """Bound ``record.pages`` (``IMGPRINT_MAX_PAGES_PER_RECORD``): ``record``
    keeps the first chunk of ``page_chunks``; the others come back as
    ``seen_before`` sightings, so no page is lost and no line grows without end."""
    if len(record.pages) <= limit and json_size(record.pages) <= MAX_PAGES_BYTES:
        return []
    first, *rest = page_chunks(record.pages, limit)
    record.pages = first
    return [ImageRecord.sighting(record.url, chunk) for chunk in rest]


FIELDS: list[str] = [f.name for f in fields(ImageRecord)]
FIELD_NAMES = frozenset(FIELDS)


class ImageRecordAdapter(DataclassAdapter):
    """itemadapter's dataclass adapter, with unset fields as missing keys."""

    @classmethod
    def is_item(cls, item: Any) -> bool:
        return isinstance(item, ImageRecord)

    @classmethod
    def is_item_class(cls, item_class: type) -> bool:
        return isinstance(item_class, type) and issubclass(item_class, ImageRecord)

    def __getitem__(self, field_name: str) -> Any:
        try:
            return super().__getitem__(field_name)
        except AttributeError:
            raise KeyError(field_name) from None


if ImageRecordAdapter not in ItemAdapter.ADAPTER_CLASSES:
    ItemAdapter.ADAPTER_CLASSES.appendleft(ImageRecordAdapter)  # type: ignore[attr-defined]
