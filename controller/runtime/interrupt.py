"""How a signal stops a run: SIGINT (Ctrl-C), SIGTERM (``kill``, a Pod's deletion) and SIGHUP (the terminal
closed) all raise `Interrupted` in the main thread, so a test case ends through one path whichever arrived: its
result says "interrupted" and names the signal, and the run says how to go on.

`Interrupted` is a KeyboardInterrupt: code that rightly lets Ctrl-C through (``except Exception``) lets these
through too.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controller.results import CaseResult

STOPPING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """A signal stopped the work; ``cases`` are the records of the test cases it interrupted."""

    def __init__(self, signal_name: str = "SIGINT", cases: Sequence[CaseResult] = ()) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name
        self.cases = list(cases)


def signal_name_of(exc: BaseException) -> str:
    """The signal behind an interruption (a plain KeyboardInterrupt is Python's own SIGINT handler)."""
    return exc.signal_name if isinstance(exc, Interrupted) else "SIGINT"


def _raise_interrupted(signum: int, _frame: object) -> None:
    # Once: the cases now write their records and the run says how to go on; a second Ctrl-C (or the same signal
    # that a stopping run passes on to case processes that the terminal signalled already) must not cut that short.
    # It is bounded.
    for sig in STOPPING_SIGNALS:
        if signal.getsignal(sig) is _raise_interrupted:
            signal.signal(sig, signal.SIG_IGN)
    raise Interrupted(signal.Signals(signum).name)


@contextlib.contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """Within the block, the stopping signals raise `Interrupted` (only the main thread can handle signals; in
    another thread this changes nothing). The previous handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # a signal ignored on purpose (SIGHUP under nohup) stays ignored
    previous = {
        sig: signal.signal(sig, _raise_interrupted)
        for sig in STOPPING_SIGNALS
        if signal.getsignal(sig) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
