"""Measure the wall time of `controller --help` and `controller validate` (goal: < 0.5 s each).

Usage: .venv/bin/python benchmarks/cli_startup.py [--runs N]
Prints the median and the worst of N runs of each command, each in a fresh interpreter, and
whether torch or matplotlib got imported (they must not be).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOAL_S = 0.5


def _time(argv: list[str], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        samples.append(time.perf_counter() - started)
    return samples


def _heavy_imports(job: Path) -> list[str]:
    code = (
        "import sys; from controller.cli import main; main(['validate', sys.argv[1]]); "
        "print(','.join(m for m in ('torch', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(job)], check=True, capture_output=True, text=True)
    return [m for m in out.stdout.strip().split(",") if m]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        job_dir = Path(tmp) / "job"
        shutil.copytree(
            REPO / "examples" / "cityscapes-lifelong", job_dir, ignore=shutil.ignore_patterns("data", "workspace")
        )
        subprocess.run(
            [sys.executable, "-m", "controller", "dataset", "synth", str(job_dir / "data")],
            check=True,
            capture_output=True,
        )
        job = job_dir / "benchmarkingjob.yaml"
        commands = {
            "controller --help": [sys.executable, "-m", "controller", "--help"],
            "controller validate": [sys.executable, "-m", "controller", "validate", str(job)],
        }
        print(f"{'command':<22} {'median s':>9} {'worst s':>8}  goal < {GOAL_S} s  ({args.runs} runs)")
        for name, argv in commands.items():
            samples = _time(argv, args.runs)
            median = statistics.median(samples)
            verdict = "ok" if median < GOAL_S else "SLOW"
            print(f"{name:<22} {median:>9.3f} {max(samples):>8.3f}  {verdict}")
        heavy = _heavy_imports(job)
        print(f"heavy imports during validate: {', '.join(heavy) if heavy else 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
