"""The report as text: what ``scrapy dupes`` prints without ``--json``.

:func:`render_text` writes the summary, then each group: its hash (named), the
fields where its copies' metadata differ and whether a copy still carries
identifying metadata, then per copy its URL, sites, first pages and metadata.
Strings from records go through :func:`~imgprint.dupes.report.safe`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any

from imgprint.dupes.catalogue import HASH_FIELDS
from imgprint.dupes.details import LABELS
from imgprint.dupes.report import safe


def title(kind: str) -> str:
    """The heading of the exact-duplicate section for hash field ``kind``."""
    return {"content_sha256": "Identical images (content_sha256, metadata ignored)",
            "sha256_first_10240_bytes": "Identical first 10,241 bytes "
                                        "(sha256_first_10240_bytes, seed-compatible)"}[kind]


def render_text(report: dict[str, Any], out: IO[str]) -> None:
    """Write the report as text, a group at a time."""
    def w(line: str) -> None:
        out.write(line + "\n")

    _text_summary(report, w)
    s = report["summary"]
    for kind, groups in report["exact"].items():
        if not groups:
            continue
        w("")
        w(f"== {title(kind)} ==")
        for n, g in enumerate(groups, 1):
            sizes = ", ".join(f"{x:,}" for x in g["image_sizes"]) or "unknown"
            w(f"[{n}] {g['count']} URLs{_by(g)}, {kind} {g['hash']}, size {sizes}")
            _text_diff(g, w)
            for img in g["images"]:
                _text_copy(img, "", w)

    if report["near"]:
        w("")
        w(f"== Near-duplicates (PDQ within {s['pdq_distance']} bits where both have one, "
          f"else phash within {s['distance']}{_band_rule(s, 'top band pHash within {}')}) ==")
        for n, g in enumerate(report["near"], 1):
            w(f"[{n}] {g['count']} URLs{_by(g)}, {g['center_hash']} around {g['center']}, "
              f"max distance {g['max_distance']}")
            _text_diff(g, w)
            for img in g["images"]:
                how = img.get("by") or "centre"
                shown = img.get(_shown(how, g.get("center_hash")))
                _text_copy(img, f"d={img['distance']:<3} {how} {shown}  ", w)

    sites = report["sites"]
    if sites["groups"]:
        w("")
        w("== Sites sharing images ==")
        for n, g in enumerate(sites["groups"], 1):
            w(f"[{n}] {g['count']} identical images between the sites: "
              f"{safe(', '.join(g['sites']))}")
            for img in g["images"]:
                kind, h = hash_of(img)
                flag = _identifying_note(img.get("metadata_diff"))
                w(f"    {kind} {h[:16]}  {safe('  '.join(i['url'] for i in img['images']))}"
                  + (f"  ({flag})" if flag else ""))


def _shown(how: str, center_hash: str | None) -> str:
    """The hash a member's line shows: the one that joined it (its own for the centre)."""
    if how == "centre":
        return center_hash or "phash"
    return how if how in ("pdq", "phash_band") else "phash"


def _band_rule(s: dict[str, Any], text: str) -> str:
    """``; `text`` with the band distance, or a note that band links are off."""
    band = s.get("band_distance")
    return "; no band links" if band is None else "; or " + text.format(band)


def hash_of(img: dict[str, Any]) -> tuple[str, str]:
    """The hash naming a shared image, and which one it is."""
    for kind in HASH_FIELDS:
        if img.get(kind):
            return kind, img[kind]
    return "hash", ""


def _by(g: dict[str, Any]) -> str:
    by = g.get("by")
    if isinstance(by, list):
        by = "+".join(by)
    return f" (by {safe(by)})" if by else ""


def differences(diff: dict[str, Any]) -> list[str]:
    """The fields where a group's copies differ, each with how: "GPS on 1 of 2"."""
    out = []
    for name in diff["differs"]:
        f = diff["fields"][name]
        text = LABELS[name]
        if f["copies"] < diff["copies"]:
            text += f" on {f['copies']} of {diff['copies']}"
        if f["values"] > 1:
            text += f", {f['values']} values"
        out.append(text)
    return out


def _identifying_note(diff: dict[str, Any] | None) -> str:
    if not diff or not diff["identifying_copies"]:
        return ""
    n, of = diff["identifying_copies"], diff["copies"]
    return (f"{n} of {of} cop{'ies' if of > 1 else 'y'} still carr{'y' if n > 1 else 'ies'}"
            " GPS, a camera serial or an author")


def _text_diff(g: dict[str, Any], w: Callable[[str], None]) -> None:
    diff = g.get("metadata_diff")
    if diff is None:
        return
    found = differences(diff)
    if found:
        w(f"    metadata differs: {'; '.join(found)}")
    else:
        w("    metadata: " + ("the same on every copy" if diff["fields"] else "none on any copy"))
    if note := _identifying_note(diff):
        w(f"    ! {note}")


def _text_copy(img: dict[str, Any], prefix: str, w: Callable[[str], None]) -> None:
    w(f"  - {prefix}{safe(img['url'])}  ({safe(', '.join(img['sites']))})")
    if "pages" not in img:
        return
    pages, total = img["pages"][:3], img["pages_total"]
    more = f" (+{total - len(pages):,} more)" if total > len(pages) else ""
    w(f"      pages: {safe(', '.join(pages)) or 'none'}{more}")
    meta = img["metadata"]
    w("      metadata: " + ("; ".join(f"{LABELS[k]} {safe(v)}" for k, v in meta.items())
                            or "none"))
    if img["identifying"]:
        w(f"      ! still carries {', '.join(LABELS[k] for k in img['identifying'])}")


def _text_summary(report: dict[str, Any], w: Callable[[str], None]) -> None:
    s = report["summary"]
    w(f"{s['files']} files, {s['records']:,} records, {s['images']:,} image URLs "
      f"({s['with_content_sha256']:,} with content_sha256, "
      f"{s['with_sha256_first_10240_bytes']:,} with sha256_first_10240_bytes, "
      f"{s['with_phash']:,} with phash, {s.get('with_pdq', 0):,} with pdq)")
    for kind, groups in report["exact"].items():
        w(f"{kind}: {len(groups):,} groups of identical images "
          f"({s['urls_in_exact_groups'][kind]:,} URLs)")
    if s["distance"] is None:
        w("near-duplicates: not searched")
    else:
        w(f"near-duplicates (PDQ Hamming distance <= {s['pdq_distance']} where both have "
          f"one, else phash Hamming distance <= {s['distance']}"
          f"{_band_rule(s, 'top band pHash (phash_band) Hamming distance <= {}')}): "
          f"{len(report['near']):,} groups")
    sets = len(report["sites"]["groups"])
    w(f"sites sharing images: {sets:,} {'set' if sets == 1 else 'sets'} of sites")
