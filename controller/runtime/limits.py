"""Enforcing a case's bounds (controller/bounds.py) on its case process, from the run's process.

From outside, not in the case process: a case stuck in native code (holding the GIL, or in a system call) cannot
be trusted to stop itself, while a parent that samples and kills always can. Every `POLL_S` the run reads the case
process tree's resident memory (controller/runtime/usage.py) and each of its processes' high-water mark, and
stops the tree with SIGKILL as soon as either bound is passed: no grace, since a case over its memory bound keeps
growing while it is asked nicely, and a case over its time has had its time.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess

from controller.bounds import MIB, CaseBounds
from controller.runtime.usage import peak_rss_bytes, process_tree, tree_rss_bytes

log = logging.getLogger(__name__)

POLL_S = 0.1
"""How often a bounded case is looked at: a timeout is enforced within this, and the memory a tree can gain in
between is what it allocates in 0.1 s (the case process's own spike is caught by its high-water mark anyway)."""


@dataclass
class BoundWatch:
    """One running bounded case process: how long it has run, the most memory its tree held, and which bound it
    passed (``exceeded``, once it has been stopped for it)."""

    process: BaseProcess
    bounds: CaseBounds
    started: float = field(default_factory=time.monotonic)
    peak_bytes: int = 0
    exceeded: str = ""

    def check(self) -> str:
        """Sample the case; stop it when past a bound. The reason it was stopped ('' while within its bounds)."""
        if self.exceeded or self.process.pid is None:
            return self.exceeded
        pids = process_tree(self.process.pid)
        if self.bounds.memory_mib is not None:
            # the tree now, or any one process's own high-water mark: a worker's spike between samples counts too
            highest = max(peak_rss_bytes(pid) for pid in pids)
            self.peak_bytes = max(self.peak_bytes, tree_rss_bytes(pids), highest)
            if self.peak_bytes > self.bounds.memory_mib * MIB:
                return self._stop(pids, self.bounds.memory_exceeded(self.peak_bytes))
        if self.bounds.timeout_s is not None and time.monotonic() - self.started > self.bounds.timeout_s:
            return self._stop(pids, self.bounds.timeout_exceeded())
        return ""

    def efficiency(self) -> dict[str, float | None]:
        """The case's cost as seen from outside: its time so far, and its peak memory when that was watched."""
        peak = round(self.peak_bytes / MIB, 1) if self.bounds.memory_mib is not None else None
        return {"wall_time_s": round(time.monotonic() - self.started, 3), "peak_rss_mib": peak}

    def _stop(self, pids: list[int], reason: str) -> str:
        self.exceeded = reason
        log.error("case process %s: %s; stopping it", self.process.pid, reason)
        for pid in pids:  # the whole tree: a DataLoader worker must not outlive its case
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return reason
