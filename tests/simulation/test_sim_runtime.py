"""`controller run --runtime simulation` end to end: the job controller runs as its own process and service
account, the job's cases travel as SimulationJobs, and the leaderboard equals the one of a local run."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from infra.fixtures import K8s

CONTROLLER = [sys.executable, "-m", "controller"]
METRIC_COLUMNS = ("mIoU", "ACC", "BWT", "FWT")


@pytest.fixture
def job_controller(controller_kubeconfig: Path, k8s: K8s, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    log = (tmp_path / "job-controller.log").open("w")
    proc = subprocess.Popen(
        [
            *CONTROLLER,
            "-v",
            "simulation",
            "job-controller",
            "--kubeconfig",
            str(controller_kubeconfig),
            "--namespace",
            k8s.namespace,
            "--workspace",
            str(tmp_path / "cluster-workspace"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        log.close()


def _rank(workspace: Path) -> dict[str, dict[str, str]]:
    with (workspace / "cityscapes-lifelong" / "rank" / "all_rank.csv").open() as handle:
        return {row["algorithm"]: row for row in csv.DictReader(handle)}


def test_simulated_run_gives_the_leaderboard_of_a_local_run(
    fast_job: Path, k8s: K8s, job_controller: subprocess.Popen[str], tmp_path: Path
) -> None:
    simulated = subprocess.run(
        [
            *CONTROLLER,
            "run",
            str(fast_job),
            "--workspace",
            str(tmp_path / "simulated"),
            "--runtime",
            "simulation",
            "--kubeconfig",
            str(k8s.env.kubeconfig),
            "--namespace",
            k8s.namespace,
            "--timeout",
            "300",
        ],
        capture_output=True,
        text=True,
        timeout=400,
    )
    controller_log = (tmp_path / "job-controller.log").read_text()
    assert simulated.returncode == 0, simulated.stderr + "\n--- job controller ---\n" + controller_log
    local = subprocess.run(
        [*CONTROLLER, "run", str(fast_job), "--workspace", str(tmp_path / "local")],
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert local.returncode == 0, local.stderr

    simulated_rank, local_rank = _rank(tmp_path / "simulated"), _rank(tmp_path / "local")
    assert sorted(simulated_rank) == sorted(local_rank) == ["majority-class", "pixel-softmax-kb"]
    for algorithm, row in local_rank.items():
        for column in METRIC_COLUMNS:
            assert simulated_rank[algorithm][column] == row[column], (algorithm, column)
    assert "running case" in controller_log


def test_the_job_controller_stops_on_sigterm(job_controller: subprocess.Popen[str]) -> None:
    time.sleep(1)  # let it start watching
    os.kill(job_controller.pid, signal.SIGTERM)
    assert job_controller.wait(timeout=30) == 0
