"""Real third-party servers the tests start: moto's S3-compatible server and
Scrapyd, each a process on a free loopback port (only in tests marked crawl)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import free_port
from tests.helpers import require_crawl_marker


class Service:
    """A process listening on ``port``; its output goes to ``log``."""

    def __init__(self, argv: list[str], port: int, cwd: Path, log: Path, timeout: float = 60):
        require_crawl_marker("a server")
        self.port, self.log = port, log
        self.base = f"http://127.0.0.1:{port}"
        with log.open("w") as out:
            self.proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self._listening():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{argv[:3]} did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)

    def _listening(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def moto_s3(workdir: Path) -> Service:
    """moto's server mode (``moto[server]``): a real S3 API over HTTP, in memory."""
    port = free_port()
    return Service([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                   port, workdir, workdir / "moto.log")


def scrapyd(workdir: Path) -> Service:
    """Scrapyd with its own directories under ``workdir`` and ``items_dir`` set, so
    each job's items are served at ``/items/…`` (``items_url`` in listjobs)."""
    port = free_port()
    (workdir / "scrapyd.conf").write_text(
        "[scrapyd]\n"
        f"bind_address = 127.0.0.1\nhttp_port = {port}\n"
        "eggs_dir = eggs\nlogs_dir = logs\nitems_dir = items\ndbs_dir = dbs\n"
        "poll_interval = 0.5\nmax_proc = 2\n")
    return Service([sys.executable, "-m", "scrapyd"], port, workdir, workdir / "scrapyd.log")


def redis_server(workdir: Path, port: int | None = None, persist: bool = False) -> Service:
    """Debian's ``redis-server`` on loopback, its files in ``workdir``: no snapshots,
    and with ``persist`` an append-only file synced on every write, so a restart
    on the same ``port`` and ``workdir`` comes back with every acknowledged write."""
    port = port or free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--dir", str(workdir), "--protected-mode", "no"]
    if persist:
        argv += ["--appendonly", "yes", "--appendfsync", "always"]
    return Service(argv, port, workdir, workdir / f"redis-{port}.log")
