"""``scrapy dupes FILES...``: duplicate images and the sites sharing them.

Reads imgprint feeds (JSON lines or a JSON list, ``.gz`` too) and the seed
tool's JSON files, then reports identical images (same ``content_sha256`` or
``sha256_first_10240_bytes``), near-duplicates (``pdq`` within
``--pdq-distance`` bits where both images have one, else ``phash`` within
``--distance``; or the top band's ``phash_band`` within ``--band-distance``),
which sites carry the same images and, with ``--known FILE``, which crawled
images match an analyst's list of fingerprints. The work is in the
``imgprint.dupes`` package; this module parses options and writes the outputs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError

from imgprint import dupes
from imgprint.dupes import render_html, render_text, safe, write_json

# Input errors beyond this many are counted, not printed one by one.
MAX_ERRORS_SHOWN = 100


class Command(ScrapyCommand):
    requires_project = True
    # Nothing is crawled: no reactor, no CrawlerProcess.
    requires_crawler_process = False
    default_settings: ClassVar[dict[str, Any]] = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return "[options] FILE_OR_DIR [...]"

    def short_desc(self) -> str:
        return "Report duplicate images and sites sharing images in feed files"

    def long_desc(self) -> str:
        return (
            "Read imgprint feeds (JSON lines, JSON list, .gz) and the seed tool's JSON "
            "files (a directory stands for the *.json/*.jsonl files under it) and report "
            "exact duplicate groups, near-duplicates (PDQ where both images have one, else "
            "phash; or the pHash of their top bands), the sites sharing images and, with "
            "--known FILE, the crawled images matching a list of known fingerprints. Exit "
            "status 1 when some input could not be read (the rest is still reported)."
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument(
            "--distance", type=int, default=dupes.DEFAULT_DISTANCE, metavar="N",
            help=f"phash Hamming distance for near-duplicates "
                 f"(default {dupes.DEFAULT_DISTANCE}, 0..32)")
        parser.add_argument(
            "--pdq-distance", type=int, default=dupes.DEFAULT_PDQ_DISTANCE, metavar="N",
            help=f"PDQ Hamming distance for near-duplicates and --known "
                 f"(default {dupes.DEFAULT_PDQ_DISTANCE}, PDQ's guidance; 0..128)")
        parser.add_argument(
            "--band-distance", type=int, default=dupes.BAND_DISTANCE, metavar="N",
            help=f"Hamming distance of the top band's pHash (phash_band) for near-duplicates "
                 f"(default {dupes.BAND_DISTANCE}, 0..32; -1: no band links)")
        parser.add_argument(
            "--known", metavar="FILE",
            help="also report the crawled URLs, pages and sites matching a list of known "
                 "fingerprints (CSV with a header row, or JSON lines: label and any of "
                 "sha256_first_10240_bytes, content_sha256, pdq, phash), and the entries "
                 "never seen")
        parser.add_argument("--json", action="store_true",
                            help="write one JSON document to stdout instead of text")
        parser.add_argument("--html", metavar="FILE",
                            help="also write a self-contained HTML page to FILE")
        parser.add_argument("--no-near", action="store_true",
                            help="skip the near-duplicate (PDQ, phash, band) search")
        parser.add_argument("--no-details", action="store_true",
                            help="do not read the feeds a second time for the pages and "
                                 "metadata of each copy in a group")
        parser.add_argument("--timings", action="store_true",
                            help="print the time of each phase to stderr")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if not args:
            raise UsageError("give at least one feed file or directory")
        if not 0 <= opts.distance <= 32:
            raise UsageError("--distance must be between 0 and 32")
        if not 0 <= opts.pdq_distance <= 128:
            raise UsageError("--pdq-distance must be between 0 and 128")
        if not -1 <= opts.band_distance <= 32:
            raise UsageError("--band-distance must be between 0 and 32, or -1 for none")
        if opts.known and not Path(opts.known).is_file():
            raise UsageError(f"--known: no such file: {opts.known}")

        # Only the first errors are kept: a feed of millions of bad lines must
        # not grow a list of millions of errors.
        errors: list[dupes.InputError] = []
        error_count = 0

        def on_error(err: dupes.InputError) -> None:
            nonlocal error_count
            error_count += 1
            if error_count <= MAX_ERRORS_SHOWN:
                errors.append(err)
                print(f"error: {safe(err)}", file=sys.stderr)

        t0 = time.perf_counter()
        known = dupes.load_known(opts.known, on_error) if opts.known else None
        cat = dupes.load(args, on_error)
        t1 = time.perf_counter()
        timings: dict[str, float] = {}
        report = dupes.build_report(cat, opts.distance, near=not opts.no_near, timings=timings,
                                    pdq_distance=opts.pdq_distance,
                                    band_distance=opts.band_distance,
                                    sources=None if opts.no_details else args)
        if known is not None:
            tk = time.perf_counter()
            matches = dupes.match_known(cat, known, opts.distance, opts.pdq_distance)
            tp = time.perf_counter()
            pages = dupes.matched_pages(args, cat, matches)
            report["known"] = dupes.known_section(cat, known, matches, opts.distance,
                                                  opts.pdq_distance, pages)
            timings.update(known=tp - tk, pages=time.perf_counter() - tp)
        report["errors"] = {"count": error_count, "first": [e.as_dict() for e in errors]}
        t2 = time.perf_counter()

        if error_count > MAX_ERRORS_SHOWN:
            print(f"error: {error_count - MAX_ERRORS_SHOWN} more input errors not shown",
                  file=sys.stderr)
        if opts.json:
            write_json(report, sys.stdout)
            sys.stdout.write("\n")
        else:
            render_text(report, sys.stdout)
            if known is not None:
                dupes.render_known_text(report["known"], sys.stdout)
            if error_count:
                sys.stdout.write(f"{error_count} input errors (see stderr)\n")
        if opts.html:
            try:
                Path(opts.html).write_text(render_html(report), encoding="utf-8")
            except OSError as exc:
                print(f"error: cannot write {opts.html}: {exc}", file=sys.stderr)
                self.exitcode = 2
                return
        sys.stdout.flush()
        t3 = time.perf_counter()
        if opts.timings:
            print(f"timings: read {t1 - t0:.2f}s, exact {timings['exact']:.2f}s, "
                  f"near {timings['near']:.2f}s, sites {timings['sites']:.2f}s, "
                  f"details {timings.get('details', 0.0):.2f}s, "
                  f"known {timings.get('known', 0.0):.2f}s, "
                  f"pages {timings.get('pages', 0.0):.2f}s, "
                  f"report {t2 - t1 - sum(timings.values()):.2f}s, output {t3 - t2:.2f}s",
                  file=sys.stderr)
        if error_count:
            self.exitcode = 1
