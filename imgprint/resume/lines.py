"""JSON-lines files that a kill can leave with a partial last line.

Both the journal and the feeds are written one whole line per ``write()``, so
a SIGKILL can cut only the last line. ``cut_partial_line`` removes it before a
run appends to the file again (else the first new line would be glued to it);
``json_lines`` streams the complete lines, one parsed object at a time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_CHUNK = 65536


def cut_partial_line(path: Path) -> int:
    """Cut a partial last line (no newline after it); return the bytes removed."""
    try:
        f = path.open("rb+")
    except FileNotFoundError:
        return 0
    with f:
        size = pos = f.seek(0, os.SEEK_END)
        keep = 0
        while pos > 0:
            start = max(0, pos - _CHUNK)
            f.seek(start)
            newline = f.read(pos - start).rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            pos = start
        if keep < size:
            f.truncate(keep)
        return size - keep


def json_lines(path: Path) -> Iterator[dict[str, Any]]:
    """The complete lines of ``path`` that hold a JSON object, one at a time.

    A missing file has none; a line without its newline (cut by a kill) and a
    line that is not a JSON object are skipped.
    """
    try:
        f = path.open("rb")
    except FileNotFoundError:
        return
    with f:
        for line in f:
            if not line.endswith(b"\n"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                yield entry
