"""How long transfers and checksums are taking: a tqdm bar on a terminal, periodic log lines elsewhere.

Used by downloads, archive checksums and `controller dataset verify`; every kind implements
:class:`Progress` (``start``, ``update`` with a byte count, ``close``).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol

progress_log = logging.getLogger("controller.progress")


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB' (binary units, one decimal)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def human_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress(Protocol):
    def start(self, total: int | None, initial: int) -> None: ...
    def update(self, n: int) -> None: ...
    def close(self) -> None: ...


class LogProgress:
    """Periodic log lines for logs and CI (no TTY): bytes, percent, rate and ETA every ``interval`` s.

    rate = bytes received since start / elapsed;  ETA = (total - done) / rate.
    """

    def __init__(self, label: str, interval: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.label, self.interval, self.clock = label, interval, clock
        self.total: int | None = None
        self.done = self.initial = 0
        self.started = self.last = 0.0

    def start(self, total: int | None, initial: int) -> None:
        self.total, self.done, self.initial = total, initial, initial
        self.started = self.last = self.clock()

    def update(self, n: int) -> None:
        self.done += n
        now = self.clock()
        if now - self.last >= self.interval:
            self.last = now
            progress_log.info("%s", self.line(now))

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = (self.done - self.initial) / elapsed
        text = f"{self.label}: {human_bytes(self.done)}"
        if self.total:
            text += f" of {human_bytes(self.total)} ({100 * self.done / self.total:.0f}%)"
        text += f", {human_bytes(rate)}/s"
        if self.total and rate > 0:
            text += f", ETA {human_duration((self.total - self.done) / rate)}"
        return text

    def close(self) -> None:
        """A closing line for anything that took longer than one interval."""
        now = self.clock()
        if self.started and now - self.started >= self.interval:
            progress_log.info("%s", self.line(now).split(", ETA")[0] + " - done")
        self.started = 0.0


class TqdmProgress:
    """A progress bar on a terminal (tqdm shows bytes, rate and ETA)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None

    def start(self, total: int | None, initial: int) -> None:
        from tqdm import tqdm

        self.close()
        self.bar = tqdm(
            total=total,
            initial=initial,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=self.label,
            file=sys.stderr,
            dynamic_ncols=True,
            leave=False,
        )

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def make_progress(label: str) -> Progress:
    """A tqdm bar when stderr is a terminal, periodic log lines otherwise."""
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):
        tty = False
    return TqdmProgress(label) if tty else LogProgress(label)


class NoProgress:
    """Shows nothing (library calls and tests)."""

    def start(self, total: int | None, initial: int) -> None:
        pass

    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass
