"""How long a test case may run and how much memory it may hold: ``--case-timeout SECONDS``, ``--case-memory MiB``.

Set on the command line, per algorithm (``benchmarkingjob.test_object.algorithms[i].case_timeout`` /
``case_memory``) or for the whole benchmarking job (``benchmarkingjob.case_timeout`` / ``case_memory``); the
command line wins over the algorithm's entry, which wins over the job's, bound by bound.

A bound travels with the test case (`CaseSpec.bounds`) but is not part of what the case *is*: it never changes
the case id, so `--resume` reuses a finished case whatever bound it ran under. The local runtime enforces it on
the case process (controller/runtime/limits.py); a case Pod gets it as its Job's ``activeDeadlineSeconds`` and
its container's memory limit (controller/simulation/case_pods.py). The failure reads the same on both runtimes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TIMEOUT_OPTION = "--case-timeout"
MEMORY_OPTION = "--case-memory"
MIB = 1 << 20


@dataclass(frozen=True)
class CaseBounds:
    timeout_s: float | None = None
    """wall-clock seconds from the start of the case's process (local) or of its case Job (cluster)"""
    memory_mib: int | None = None
    """resident memory of the case's process tree (local) or its container's memory limit (cluster)"""

    @property
    def bounded(self) -> bool:
        return self.timeout_s is not None or self.memory_mib is not None

    def over(self, other: CaseBounds) -> CaseBounds:
        """These bounds, each one that is unset taken from ``other`` (the less specific setting)."""
        return CaseBounds(
            timeout_s=self.timeout_s if self.timeout_s is not None else other.timeout_s,
            memory_mib=self.memory_mib if self.memory_mib is not None else other.memory_mib,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"timeout_s": self.timeout_s, "memory_mib": self.memory_mib}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> CaseBounds:
        data = data or {}
        timeout, memory = data.get("timeout_s"), data.get("memory_mib")
        return cls(
            timeout_s=None if timeout is None else float(timeout), memory_mib=None if memory is None else int(memory)
        )

    @property
    def deadline_s(self) -> int:
        """The timeout as whole seconds for Kubernetes' activeDeadlineSeconds (rounded up, never 0 = none)."""
        return max(1, math.ceil(self.timeout_s)) if self.timeout_s is not None else 0

    def timeout_exceeded(self) -> str:
        return f"exceeded {TIMEOUT_OPTION} {_seconds(self.timeout_s)} s"

    def memory_exceeded(self, peak_bytes: int | None = None, *, unmeasured: str = "peak not measured") -> str:
        """Which memory bound was passed, and by how much when known (``unmeasured`` says why not)."""
        peak = f"peak {peak_bytes / MIB:.0f} MiB" if peak_bytes is not None else unmeasured
        return f"exceeded {MEMORY_OPTION} {self.memory_mib} MiB ({peak})"


UNBOUNDED = CaseBounds()


def _seconds(value: float | None) -> str:
    return "" if value is None else (f"{value:g}")
