"""The single-host lab when things go wrong: each fault is named with its fix, nothing half-made is left, and a
creation that was interrupted is recovered by the next `lab up`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, edit_yaml, keep_algorithms

CONTROLLER = [sys.executable, "-m", "controller"]


def controller(
    *args: str, env: dict[str, str] | None = None, timeout_s: float = 900
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CONTROLLER, *args], capture_output=True, text=True, timeout=timeout_s, env={**os.environ, **(env or {})}
    )


def node_containers(cluster: str) -> list[str]:
    proc = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"label=io.x-k8s.kind.cluster={cluster}", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return proc.stdout.split()


def lab_job(root: Path, tiny_dataset: Path, cluster: str, **simulation: object) -> Path:
    """A one-node lab job (control plane only, cases on the cloud) named ``cluster``, on the tiny dataset."""
    target = root / cluster
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("data", "workspace"))
    (target / "data").symlink_to(tiny_dataset, target_is_directory=True)
    shutil.copy(target / "benchmarkingjob-sim.yaml", target / "benchmarkingjob.yaml")
    keep_algorithms(target, "majority-class")
    settings = {"cluster_name": cluster, "edge_number": 0, "case_placement": "cloud", **simulation}
    edit_yaml(target / "benchmarkingjob.yaml", lambda d: d["benchmarkingjob"]["simulation"].update(settings))
    return target / "benchmarkingjob.yaml"


@pytest.fixture
def removed_afterwards() -> Iterator[list[Path]]:
    """Jobs whose labs the test may have made: `lab down` for each at the end, whatever happened."""
    jobs: list[Path] = []
    yield jobs
    for job in jobs:
        controller("lab", "down", str(job), timeout_s=300)


def test_a_docker_engine_that_does_not_answer_fails_the_checks_and_creates_nothing(
    tmp_path: Path, tiny_dataset: Path, kind_node_image: str
) -> None:
    job = lab_job(tmp_path, tiny_dataset, "ianvs-lab-nodocker")
    proc = controller("lab", "up", str(job), env={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"})
    assert proc.returncode == 1
    table = {line.split()[1]: line for line in proc.stdout.splitlines()[1:]}
    assert table["docker_engine"].split()[2:4] == ["not", "answering"]
    assert table["docker_engine"].split()[-1] == "NO"
    assert "fix: start the engine" in proc.stderr
    assert "nothing was created" in proc.stderr
    assert node_containers("ianvs-lab-nodocker") == []


def test_too_little_free_memory_fails_the_checks_with_the_fix(
    tmp_path: Path, tiny_dataset: Path, kind_node_image: str
) -> None:
    job = lab_job(tmp_path, tiny_dataset, "ianvs-lab-nomem")
    proc = controller("lab", "up", str(job), "-e", "host_check_min_free_memory_mb=100000000")
    assert proc.returncode == 1
    assert "free_memory_mb is" in proc.stderr and "needs 100000000" in proc.stderr
    assert "fix: stop other workloads" in proc.stderr
    assert node_containers("ianvs-lab-nomem") == []


def test_a_missing_node_image_says_how_to_build_it(tmp_path: Path, tiny_dataset: Path, kind_node_image: str) -> None:
    job = lab_job(tmp_path, tiny_dataset, "ianvs-lab-noimage", node_image="ianvs-lab/kind-node:missing")
    proc = controller("lab", "up", str(job))
    assert proc.returncode == 1
    assert "node image ianvs-lab/kind-node:missing is missing" in proc.stderr
    assert "controller lab node-image" in proc.stderr
    assert node_containers("ianvs-lab-noimage") == []


@pytest.fixture
def never_ready_image(kind_node_image: str) -> Iterator[str]:
    """The node image without the Pod network template: the kubelet never reports Ready (no CNI config)."""
    tag = "ianvs-lab/kind-node:never-ready"
    dockerfile = f"FROM {kind_node_image}\nRUN rm /etc/containerd/cni.template\n"
    subprocess.run(["docker", "build", "-q", "-t", tag, "-"], input=dockerfile, text=True, check=True, timeout=300)
    yield tag
    subprocess.run(["docker", "image", "rm", tag], capture_output=True, check=False)


def test_a_node_that_never_becomes_ready_fails_in_bounded_time_with_its_kubelet_log(
    tmp_path: Path, tiny_dataset: Path, never_ready_image: str, removed_afterwards: list[Path]
) -> None:
    job = lab_job(tmp_path, tiny_dataset, "ianvs-lab-notready", node_image=never_ready_image, timeout=20)
    removed_afterwards.append(job)
    start = time.monotonic()
    proc = controller("lab", "up", str(job))
    assert proc.returncode == 1
    assert time.monotonic() - start < 600
    assert "nodes not Ready within 20 s: ianvs-lab-notready-control-plane" in proc.stderr
    assert "kubelet log of ianvs-lab-notready-control-plane" in proc.stderr
    assert "cni" in proc.stderr.lower()  # the kubelet log says why: its Pod network (CNI) is not set up


def test_a_creation_interrupted_midway_is_recovered_by_the_next_lab_up(
    tmp_path: Path, tiny_dataset: Path, kind_node_image: str, removed_afterwards: list[Path]
) -> None:
    cluster = "ianvs-lab-interrupted"
    job = lab_job(tmp_path, tiny_dataset, cluster)
    removed_afterwards.append(job)
    first = subprocess.Popen(
        [*CONTROLLER, "lab", "up", str(job)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 600
    while not node_containers(cluster):
        assert first.poll() is None, "lab up ended before it created a node"
        assert time.monotonic() < deadline, "no node container within 600 s"
        time.sleep(0.5)
    time.sleep(5)  # kind is now inside the node, booting it
    os.killpg(first.pid, signal.SIGKILL)  # the whole run dies: controller, ansible, kind
    first.wait(60)
    assert node_containers(cluster)  # left half-made

    again = controller("lab", "up", str(job))
    assert again.returncode == 0, again.stderr[-4000:]
    status = controller("lab", "status", str(job), timeout_s=120)
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.splitlines()[1].split() == [f"{cluster}-control-plane", "running", "cloud", "yes"]
