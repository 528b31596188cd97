"""Memory and CPU of a process and everything it started, sampled from /proc.

``/usr/bin/time -v`` reports the largest single process's peak RSS, so a crawl
with worker processes (``IMGPRINT_PROCESSES``) would look as small as its
largest process. ``TreeSampler.sample()``, called every ~0.1 s while the
command runs, adds up the RSS of the whole tree (the command, its children,
theirs) and keeps the peak, and keeps each process's own CPU seconds as last
seen, so the crawl's own process (``main_cpu``) can be told from its workers.
Linux only; elsewhere the figures stay 0.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (children of every thread)."""
    found, i = [pid], 0
    while i < len(found):
        task_dir = Path(f"/proc/{found[i]}/task")
        i += 1
        try:
            for task in task_dir.iterdir():
                found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0  # a zombie


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime, its own


class TreeSampler:
    """Peak summed RSS of a process tree, and the CPU of its processes."""

    def __init__(self, pid: int, main_name: str = "", skip_root: bool = False):
        self.pid = pid
        self.main_name = main_name  # the command line word that names the main process
        self.skip_root = skip_root  # the root is a wrapper (/usr/bin/time), never the main
        self.peak_kb = 0
        self.cpu: dict[int, float] = {}
        self.main: int | None = None

    def sample(self) -> None:
        total = 0
        for pid in tree(self.pid):
            try:
                total += _rss_kb(pid)
                self.cpu[pid] = _cpu_s(pid)
                if self.main is None and self._is_main(pid):
                    self.main = pid
            except (OSError, IndexError, ValueError):
                continue
        self.peak_kb = max(self.peak_kb, total)

    def _is_main(self, pid: int) -> bool:
        if not self.main_name or (self.skip_root and pid == self.pid):
            return False
        return self.main_name.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024

    @property
    def main_cpu(self) -> float:
        """CPU seconds of the main process alone (as last sampled), 0 if unknown."""
        return self.cpu.get(self.main, 0.0) if self.main is not None else 0.0
