"""What a process tree uses now, read from Linux's /proc (no dependency; a few files per process).

Resident memory (RSS), not virtual size: measured here, ``import torch`` alone maps 3079 MiB of address space
but keeps 525 MiB resident (numpy: 137 vs 26 MiB), so a bound on virtual memory (RLIMIT_AS) would stop cases
that use a fraction of it, and the kernel's OOM killer and a Pod's memory limit count resident pages too.
A tree's RSS is the sum over its processes: pages they share (libraries, fork's copy-on-write) count once per
process, so a tree of forked workers reads somewhat high; that errs on the side of the bound.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
PROC = Path("/proc")


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants that exist now (children of every thread: /proc/PID/task/TID/children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            tasks = list((PROC / str(current) / "task").iterdir())
        except OSError:  # it has just exited
            continue
        for task in tasks:
            try:
                todo.extend(int(child) for child in (task / "children").read_text().split())
            except OSError:
                continue
    return found


def rss_bytes(pid: int) -> int:
    """Resident memory of one process now (0 when it has exited)."""
    try:
        return int((PROC / str(pid) / "statm").read_text().split()[1]) * PAGE_BYTES
    except (OSError, IndexError, ValueError):
        return 0


def peak_rss_bytes(pid: int) -> int:
    """The kernel's high-water mark of one process's resident memory (VmHWM; 0 when it has exited). It catches a
    spike between two samples, which sampling alone would miss."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


def tree_rss_bytes(pids: list[int]) -> int:
    return sum(rss_bytes(pid) for pid in pids)


SAMPLE_S = 0.1
"""How often a case's memory is sampled: the same cadence as the bound watch (controller/runtime/limits.py)."""


class PeakSampler:
    """The most resident memory a process tree held while it ran: a daemon thread samples `tree_rss_bytes` every
    `SAMPLE_S`: a sample of a one-process tree takes ~0.18 ms, so ~0.2 % of one core
    (benchmarks/efficiency_bench.py)."""

    def __init__(self, pid: int, interval_s: float = SAMPLE_S) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="case memory sampler", daemon=True)

    def start(self) -> PeakSampler:
        self._sample()
        self._thread.start()
        return self

    def stop(self) -> int:
        """Stop sampling; the peak in bytes (one last sample included)."""
        self._stop.set()
        self._thread.join()
        self._sample()
        return self.peak_bytes

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def _sample(self) -> None:
        self.peak_bytes = max(self.peak_bytes, tree_rss_bytes(process_tree(self.pid)))


def cpu_seconds() -> float:
    """User + system CPU time of this process and of its children that have ended (os.times)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def folder_bytes(path: Path) -> int:
    """The bytes of the files under ``path`` (0 when there is none)."""
    if path.is_file():
        return path.stat().st_size
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file()) if path.is_dir() else 0
