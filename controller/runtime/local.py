"""The local runtime: run test cases in this process, or each in a case process of its own, N at a time
(``--parallel N``).

Each case is isolated (its own folder, its own seed, failures recorded not raised), so N processes give the
same results as a serial run. A case process that dies (SIGKILL, the OOM killer, a crash in native code) becomes
a failed result naming the signal and the case log's last line; the other cases run on.

A bounded case (``--case-timeout``/``--case-memory``, controller/bounds.py) always runs in a case process, even
with ``--parallel 1``: only a process can be stopped from outside. Past its bound it is killed and becomes a failed
result naming the bound and the peak it reached (controller/runtime/limits.py).

A signal to the run (Ctrl-C, SIGTERM, SIGHUP; see `interrupt`) stops it within seconds: the running cases are
recorded as interrupted and `Interrupted` carries their records to the caller, which says how to go on. With
`resume`, only cases whose folder holds a finished success ("ok", with the testenv's metrics) are not run again.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import cast

from controller.errors import EXIT_INTERRUPTED, ResultError
from controller.plan import CaseSpec
from controller.results import STATUS_FAILED, STATUS_INTERRUPTED, CaseResult, read_result, remove_result
from controller.runtime.case import case_dir, last_log_line, mark_case_process, record_end, run_case
from controller.runtime.interrupt import Interrupted, interrupt_on_signals, signal_name_of
from controller.runtime.limits import POLL_S, BoundWatch

log = logging.getLogger(__name__)
Progress = Callable[[int, int, CaseResult, bool], None]
STOP_GRACE_S = 10.0
"""How long an interrupted case process may take to write its record before it is killed."""


def run_cases(
    specs: Sequence[CaseSpec],
    workspace: Path,
    *,
    parallel: int = 1,
    resume: bool = False,
    progress: Progress | None = None,
) -> list[CaseResult]:
    """Results in the order of `specs`; `progress(done, total, result, reused)` after each case.

    With ``parallel`` > 1, or when a case is bounded, every case runs in a process of its own. Raises `Interrupted`
    (with the interrupted cases' records) when a signal stops the run."""
    total = len(specs)
    results, pending = reuse_finished(specs, workspace, resume, progress)

    def ended(spec: CaseSpec, result: CaseResult) -> None:
        results[spec.case_id] = result
        report_progress(progress, len(results), total, result, False)

    in_processes = any(spec.bounds.bounded for spec in pending) or (parallel > 1 and len(pending) > 1)
    if not in_processes:
        for spec in pending:
            ended(spec, run_case(spec, workspace))
    else:
        _run_in_case_processes(pending, workspace, parallel, ended)
    return [results[spec.case_id] for spec in specs]


def reuse_finished(
    specs: Sequence[CaseSpec], workspace: Path, resume: bool, progress: Progress | None
) -> tuple[dict[str, CaseResult], list[CaseSpec]]:
    """With `resume`: the finished successes already in `workspace` (reported as reused), and the cases to run.

    A result that is not a finished success, or cannot be trusted (cut short, claiming ok without the testenv's
    metrics), is run again; the latter with a warning naming its file."""
    results: dict[str, CaseResult] = {}
    pending: list[CaseSpec] = []
    for spec in specs:
        previous = _previous_result(spec, workspace) if resume else None
        if previous is not None and previous.ok:
            results[spec.case_id] = previous
            report_progress(progress, len(results), len(specs), previous, True)
        else:
            pending.append(spec)
    return results, pending


def _previous_result(spec: CaseSpec, workspace: Path) -> CaseResult | None:
    try:
        return read_result(case_dir(workspace, spec), [metric.name for metric in spec.testenv.metrics])
    except ResultError as exc:
        log.warning("%s; running test case %s again", exc, spec.case_id)
        return None


def report_progress(progress: Progress | None, done: int, total: int, result: CaseResult, reused: bool) -> None:
    if progress is not None:
        progress(done, total, result, reused)


# ------------------------------------------------------------------------------------------ case processes


def _run_in_case_processes(
    pending: Sequence[CaseSpec], workspace: Path, parallel: int, ended: Callable[[CaseSpec, CaseResult], None]
) -> None:
    # spawn: each case starts clean (no inherited plugin modules, RNG or thread state)
    context = multiprocessing.get_context("spawn")
    waiting = list(pending)
    running: dict[int, tuple[BaseProcess, CaseSpec]] = {}
    watches: dict[int, BoundWatch] = {}
    try:
        while waiting or running:
            while waiting and len(running) < max(1, parallel):
                spec = waiting.pop(0)
                # the case forgets its last result itself, but a process stopped before it gets that far (a bound
                # of a second, a kill during start-up) must not leave that stale record to be read as its own
                remove_result(case_dir(workspace, spec))
                process = context.Process(target=_case_process, args=(spec, workspace), name=f"case {spec.case_id}")
                process.start()
                running[process.sentinel] = (process, spec)
                if spec.bounds.bounded:
                    watches[process.sentinel] = BoundWatch(process, spec.bounds)
            for ready in wait(list(running), timeout=POLL_S if watches else None):
                sentinel = cast(int, ready)
                done, spec = running.pop(sentinel)
                done.join()
                watch = watches.pop(sentinel, None)
                ended(spec, _result_of(done, spec, workspace, watch=watch))
            for watch in watches.values():
                watch.check()  # a stopped case's sentinel is ready at the next wait
    except KeyboardInterrupt as exc:
        name = signal_name_of(exc)
        raise Interrupted(name, _stop(list(running.values()), workspace, name)) from None


def _case_process(spec: CaseSpec, workspace: Path) -> None:
    """A case process: run the case; a stopping signal records it as interrupted and ends with exit code 130."""
    mark_case_process()
    with interrupt_on_signals():
        try:
            run_case(spec, workspace)
        except Interrupted:
            sys.exit(EXIT_INTERRUPTED)


def _result_of(
    process: BaseProcess, spec: CaseSpec, workspace: Path, stopping: str = "", watch: BoundWatch | None = None
) -> CaseResult:
    """The record the case process wrote, or one saying how the process ended without writing it: stopped by the
    run (``stopping``: the signal), past a bound (``watch``: which, and the peak), or on its own."""
    try:
        result = read_result(case_dir(workspace, spec))
    except ResultError as exc:
        result, unreadable = None, f" ({exc})"
    else:
        unreadable = ""
    if result is not None:
        return result
    if stopping:
        return record_end(spec, workspace, STATUS_INTERRUPTED, f"interrupted by {stopping}")
    last = last_log_line(spec, workspace)
    if watch is not None and watch.exceeded:
        error = watch.exceeded + (f"; last log line: {last}" if last else "")
        # what the watch saw is all that is known of the case's cost: its row shows the time and memory it reached
        return record_end(spec, workspace, STATUS_FAILED, error, efficiency=watch.efficiency())
    code = process.exitcode
    how = f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exited with code {code}"
    error = f"case process {how} without a result{unreadable}" + (f"; last log line: {last}" if last else "")
    log.error("case %s: %s", spec.case_id, error)
    return record_end(spec, workspace, STATUS_FAILED, error)


def _stop(running: list[tuple[BaseProcess, CaseSpec]], workspace: Path, signal_name: str) -> list[CaseResult]:
    """Stop the running case processes with the signal that stopped the run (SIGKILL after the grace time) and
    return their records."""
    # The run's own signal, not SIGTERM: after a terminal's Ctrl-C the case processes get SIGINT from the terminal
    # and from us, in either order, so each records the signal the user sent whichever arrives first.
    stopping = signal.Signals[signal_name]
    for process, _ in running:
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, stopping)
    for process, _ in running:
        process.join(STOP_GRACE_S)
        if process.is_alive():
            process.kill()
            process.join()
    return [_result_of(process, spec, workspace, stopping=signal_name) for process, spec in running]
