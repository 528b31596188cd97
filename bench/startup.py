"""Time to the first request of ``scrapy crawl images`` (issue 22, start-up).

A socket on loopback plays the site: the time from spawning
``python -m scrapy crawl images -a url=http://127.0.0.1:PORT/`` to the first
request arriving there. Checkouts are run alternately (the order reversed
every other round) and the medians reported; ``PYTHONDONTWRITEBYTECODE`` is
taken out of their environment, so the bytecode cache works as on a user's
machine (``PYTHONPYCACHEPREFIX`` puts it outside the checkouts).

    .venv/bin/python -m bench.startup --rounds 10 --before /tmp/old
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def first_request(project: Path, settings: list[str], timeout: float = 60) -> float:
    """Seconds from spawning the crawl to its first request (nan if none came)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(timeout)
    arrived: list[float] = []

    def answer() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        arrived.append(time.perf_counter())
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        conn.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.setdefault("PYTHONPYCACHEPREFIX", "/tmp/imgprint-bench-pycache")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(project), env.get("PYTHONPATH")]))
    port = server.getsockname()[1]
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "scrapy", "crawl", "images", "-a",
                    f"url=http://127.0.0.1:{port}/", "-s", "IMGPRINT_DEFAULT_FEED=",
                    "-s", "RETRY_ENABLED=0", *settings], cwd=project, env=env,
                   capture_output=True, timeout=timeout)
    thread.join(1)
    server.close()
    return arrived[0] - started if arrived else float("nan")


def measure(projects: dict[str, Path], rounds: int, settings: list[str] | None = None,
            ) -> dict[str, list[float]]:
    """Alternating runs of each checkout: name -> seconds to the first request."""
    names = list(projects)
    first_request(projects[names[0]], settings or [])  # warm the bytecode cache
    found: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            found[name].append(first_request(projects[name], settings or []))
    return found


def report(found: dict[str, list[float]], goal: float = 0.5) -> str:
    lines = []
    for name, times in found.items():
        med = statistics.median(times)
        lines.append(f"- start-up, {name}: first request after {med:.3f} s (median of "
                     f"{len(times)}; min {min(times):.3f}, max {max(times):.3f}); goal <= "
                     f"{goal} s {'MET' if med <= goal else 'MISSED'}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--before", type=Path, help="another checkout, run alternately")
    ap.add_argument("-s", "--set", action="append", default=[], metavar="NAME=VALUE")
    args = ap.parse_args()
    projects = {"imgprint": ROOT}
    if args.before:
        projects["imgprint before"] = args.before.resolve()
    settings = [a for kv in args.set for a in ("-s", kv)]
    print(f"load {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    print(report(measure(projects, args.rounds, settings)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
