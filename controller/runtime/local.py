"""The local runtime: run test cases in this process, or in a pool of `jobs` processes.

Each case is isolated (its own folder, its own seed, failures recorded not raised), so the pool
gives the same results as a serial run. With `resume`, cases whose folder already holds a
successful result for the same id are not run again.
"""
from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Sequence

from controller.plan import CaseSpec
from controller.results import CaseResult, read_result
from controller.runtime.case import case_dir, run_case

log = logging.getLogger(__name__)
Progress = Callable[[int, int, CaseResult, bool], None]


def run_cases(
    specs: Sequence[CaseSpec],
    workspace: Path,
    *,
    jobs: int = 1,
    resume: bool = False,
    progress: Progress | None = None,
) -> list[CaseResult]:
    """Results in the order of `specs`; `progress(done, total, result, reused)` after each case."""
    total = len(specs)
    results, pending = reuse_finished(specs, workspace, resume, progress)
    if jobs <= 1 or len(pending) <= 1:
        for spec in pending:
            results[spec.case_id] = run_case(spec, workspace)
            report_progress(progress, len(results), total, results[spec.case_id], False)
    else:
        # spawn: each worker starts clean (no inherited plugin modules, RNG or thread state)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(jobs, len(pending)), mp_context=context) as pool:
            futures = {pool.submit(run_case, spec, workspace): spec for spec in pending}
            for future in as_completed(futures):
                spec = futures[future]
                results[spec.case_id] = future.result()
                report_progress(progress, len(results), total, results[spec.case_id], False)
    return [results[spec.case_id] for spec in specs]


def reuse_finished(
    specs: Sequence[CaseSpec], workspace: Path, resume: bool, progress: Progress | None
) -> tuple[dict[str, CaseResult], list[CaseSpec]]:
    """With `resume`: the successful results already in `workspace` (reported as reused), and the cases to run."""
    results: dict[str, CaseResult] = {}
    pending: list[CaseSpec] = []
    for spec in specs:
        previous = read_result(case_dir(workspace, spec)) if resume else None
        if previous is not None and previous.ok:
            results[spec.case_id] = previous
            report_progress(progress, len(results), len(specs), previous, True)
        else:
            pending.append(spec)
    return results, pending


def report_progress(progress: Progress | None, done: int, total: int, result: CaseResult, reused: bool) -> None:
    if progress is not None:
        progress(done, total, result, reused)
