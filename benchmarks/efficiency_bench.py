"""What measuring a case's cost (``result.json`` ``efficiency``, docs/efficiency.md) costs the case.

    .venv/bin/python benchmarks/efficiency_bench.py [--repeats 7]

Prints what it measured:

    memory sample   one sample of this process tree's resident memory (/proc reads): microseconds, and the share
                    of one core that sampling every 0.1 s takes
    timer           one pair of perf_counter calls around a predict batch: microseconds
    case            the same test case (pixel-softmax-kb on a small synthetic dataset, in this process) run with
                    and without the measurement, alternately: median wall time of each and the difference
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
EXAMPLE = REPO / "examples" / "cityscapes-lifelong"


def memory_sample_us(count: int = 2000) -> float:
    from controller.runtime.usage import process_tree, tree_rss_bytes

    began = time.perf_counter()
    for _ in range(count):
        tree_rss_bytes(process_tree(os.getpid()))
    return (time.perf_counter() - began) / count * 1e6


def timer_us(count: int = 100_000) -> float:
    began = time.perf_counter()
    for _ in range(count):
        time.perf_counter()
        time.perf_counter()
    return (time.perf_counter() - began) / count * 1e6


class _Unmeasured:
    """Stands in for the runtime's measurement: starts no sampler, reads nothing."""

    def __init__(self) -> None:
        pass

    def finish(self, folder: Path, paradigm: dict[str, Any]) -> dict[str, Any]:
        return dict(paradigm)


def case_seconds(repeats: int) -> tuple[float, float]:
    """Median wall time of one case with the measurement and without it (alternating, so drift hits both)."""
    import controller.runtime.case as case_module
    from controller.config.loader import load_job
    from controller.datasets.synth import synthesize
    from controller.plan import build_plan

    with tempfile.TemporaryDirectory() as folder:
        job = Path(folder) / "job"
        shutil.copytree(EXAMPLE, job, ignore=shutil.ignore_patterns("data", "workspace"))
        synthesize(job / "data", train_per_city=12, test_per_city=6, size=(128, 64), seed=1)
        specs = [s for s in build_plan(load_job(job / "benchmarkingjob.yaml")) if s.algorithm == "pixel-softmax-kb"]
        spec = specs[0]
        measured_cost = case_module._Cost
        timings: dict[bool, list[float]] = {True: [], False: []}
        for repeat in range(repeats * 2):
            measured = repeat % 2 == 0
            case_module._Cost = measured_cost if measured else _Unmeasured  # type: ignore[misc]
            began = time.perf_counter()
            result = case_module.run_case(spec, Path(folder) / "ws")
            timings[measured].append(time.perf_counter() - began)
            assert result.ok, result.error
        case_module._Cost = measured_cost  # type: ignore[misc]
    return statistics.median(timings[True]), statistics.median(timings[False])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs of the case each way (default 7)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().handlers[0].setLevel(logging.WARNING)  # run_case lowers the root level for its case log
    sample = memory_sample_us()
    print(f"memory sample   {sample:8.1f} us per sample; every 0.1 s: {sample / 1e6 * 10 * 100:.3f} % of one core")
    print(f"timer           {timer_us():8.3f} us per predict batch")
    with_s, without_s = case_seconds(args.repeats)
    print(
        f"case            {with_s:8.3f} s measured, {without_s:.3f} s not measured (median of {args.repeats}): "
        f"{with_s - without_s:+.3f} s ({(with_s - without_s) / without_s * 100:+.1f} %)"
    )


if __name__ == "__main__":
    main()
