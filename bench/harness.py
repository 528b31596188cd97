"""What the benches share: where the corpus is, a static site over it, a
Range-honouring server on loopback and a real ``scrapy crawl images`` run.

The server is Twisted's ``static.File`` (Scrapy's own dependency; it honours
Range), in a child process: ``python -m bench.harness ROOT [--log FILE]``
prints its port, then serves until killed. Image types the system's mimetypes
may not know are added (``IMAGE_TYPES``), so every corpus format is served as
an image.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
SHARED = PROJECT.parent / "shared"
CORPUS = SHARED / "corpus"
SITE_TOOL = SHARED / "tools" / "site.py"
IMAGE_TYPES = {".heic": "image/heic", ".heif": "image/heif", ".avif": "image/avif",
               ".webp": "image/webp", ".tif": "image/tiff", ".tiff": "image/tiff",
               ".JPG": "image/jpeg"}


def build_site(images: Path, dest: Path) -> list[str]:
    """``site.py build``: pages of 20 images each over the folder ``images``,
    under ``dest``; the pages' URL paths."""
    subprocess.run([sys.executable, str(SITE_TOOL), "build", str(images), str(dest)],
                   check=True, capture_output=True)
    return sorted(f"/pages/{p.name}" for p in (dest / "pages").glob("*.html"))


class StaticServer:
    """``root`` served on 127.0.0.1 by a child process; a context manager."""

    def __init__(self, root: Path, log: Path | None = None) -> None:
        argv = [sys.executable, "-m", "bench.harness", str(root)]
        if log is not None:
            argv += ["--log", str(log)]
        self.proc = subprocess.Popen(argv, cwd=PROJECT, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip() if self.proc.stdout else ""
        if not line.isdigit():
            self.stop()
            raise RuntimeError(f"the static server over {root} did not start: {line!r}")
        self.port = int(line)
        self.base = f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self) -> StaticServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def static_server(root: Path, log: Path | None = None) -> StaticServer:
    return StaticServer(root, log)


@dataclass
class Crawl:
    returncode: int
    records: list[dict[str, Any]]
    log: str  # the crawl's stderr
    output: Path


def run_crawl(work: Path, *args: str, settings: dict[str, Any] | None = None,
              timeout: float = 600, output: str = "out.jsonl") -> Crawl:
    """``scrapy crawl images ARGS -O WORK/OUTPUT`` in the project, as a user runs it."""
    out = work / output
    argv = [sys.executable, "-m", "scrapy", "crawl", "images", "-O", str(out), *args]
    for key, value in (settings or {}).items():
        argv += ["-s", f"{key}={value}"]
    proc = subprocess.run(argv, cwd=PROJECT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    records = []
    if out.exists():
        records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return Crawl(proc.returncode, records, proc.stderr, out)


async def _serve(reactor: Any, root: Path, log: Path | None) -> None:
    from twisted.internet import defer, endpoints
    from twisted.web import server, static

    resource = static.File(str(root))
    resource.contentTypes.update(IMAGE_TYPES)
    site = server.Site(resource, logPath=str(log) if log else None)
    port = await endpoints.TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(site)
    print(port.getHost().port, flush=True)
    await defer.Deferred()  # serve until killed


def main(argv: list[str] | None = None) -> None:
    from twisted.internet import defer, task

    ap = argparse.ArgumentParser(description="Serve ROOT on 127.0.0.1 (prints the port).")
    ap.add_argument("root", type=Path)
    ap.add_argument("--log", type=Path, help="Twisted's access log (combined format)")
    args = ap.parse_args(argv)
    if not args.root.is_dir():
        ap.error(f"not a folder: {args.root}")
    task.react(lambda reactor: defer.ensureDeferred(_serve(reactor, args.root, args.log)))


if __name__ == "__main__":
    main()
