"""The controller image, built offline (wheelhouse + local base image), runs a benchmark with no network."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from infra.fixtures import DockerEngine, docker

CONTROLLER = [sys.executable, "-m", "controller"]


def test_the_image_runs_the_controller(controller_image: str) -> None:
    from controller import __version__

    output = docker("run", "--rm", "--network", "none", controller_image, "--version").stdout
    assert output.strip() == f"controller {__version__}"


def test_the_image_carries_the_manifest_templates(controller_image: str) -> None:
    output = docker("run", "--rm", "--network", "none", controller_image, "simulation", "manifests", "-n", "lab").stdout
    assert "kind: CustomResourceDefinition" in output and "namespace: lab" in output


def _rank(workspace: Path) -> dict[str, dict[str, str]]:
    with (workspace / "cityscapes-lifelong" / "rank" / "all_rank.csv").open() as handle:
        return {row["algorithm"]: row for row in csv.DictReader(handle)}


def test_a_benchmark_run_inside_the_image_equals_the_local_run(
    controller_image: str, fast_job: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    shared = tmp_path_factory.getbasetemp()  # holds the job copy, the tiny dataset and both workspaces
    inside = tmp_path / "in-image"
    docker(
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        f"{shared}:{shared}",
        controller_image,
        "run",
        str(fast_job),
        "--workspace",
        str(inside),
        timeout_s=600,
    )
    local = subprocess.run(
        [*CONTROLLER, "run", str(fast_job), "--workspace", str(tmp_path / "local")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert local.returncode == 0, local.stderr
    image_rank, local_rank = _rank(inside), _rank(tmp_path / "local")
    assert sorted(image_rank) == sorted(local_rank)
    for algorithm, row in local_rank.items():
        assert image_rank[algorithm]["mIoU"] == row["mIoU"], algorithm


def test_a_missing_base_image_is_named_before_any_build(docker_engine: DockerEngine) -> None:
    proc = subprocess.run(
        [*CONTROLLER, "simulation", "build-image", "--base", "ianvs-lab/no-such-base:1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "error: base image ianvs-lab/no-such-base:1 is missing; build it with scripts/base-image" in proc.stderr
