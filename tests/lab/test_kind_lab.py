"""The single-host lab, for real: a job's `simulation:` section makes a kind cluster of 1 cloud + 2 edge nodes
(offline node image, unprivileged nodes where the host refuses --privileged), its test cases run as case Pods on
the edge nodes, and the lab goes away again.

One lab serves the whole module (creating one takes about a minute here): the first run keeps it (--keep-lab),
the tests in between look at it, the last test runs without --keep-lab and checks that nothing is left.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, edit_yaml, keep_algorithms

CONTROLLER = [sys.executable, "-m", "controller"]
CLUSTER = "ianvs-lab-test"
NODES = [f"{CLUSTER}-control-plane", f"{CLUSTER}-worker", f"{CLUSTER}-worker2"]
RUN_TIMEOUT_S = 1200
FAST = ("pixel-softmax-kb", "majority-class")


@dataclass(frozen=True)
class Lab:
    job: Path
    workspace: Path
    first_run: subprocess.CompletedProcess[str]
    volumes_before: frozenset[str]

    @property
    def kubeconfig(self) -> Path:
        return Path.home() / ".local" / "state" / "ianvs-lab" / "labs" / CLUSTER / "kubeconfig"


def controller(*args: str, timeout_s: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CONTROLLER, *args], capture_output=True, text=True, timeout=timeout_s)


def docker_lines(*args: str) -> list[str]:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, check=True, timeout=60)
    return proc.stdout.split()


def node_containers() -> dict[str, str]:
    """name -> container id of this module's lab nodes."""
    lines = docker_lines(
        "ps", "-a", "--filter", f"label=io.x-k8s.kind.cluster={CLUSTER}", "--format", "{{.Names}}={{.ID}}"
    )
    return dict(line.split("=", 1) for line in lines)


def ranks(workspace: Path, job_name: str) -> dict[str, dict[str, str]]:
    with (workspace / job_name / "rank" / "all_rank.csv").open() as handle:
        return {row["algorithm"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def lab_job(tmp_path_factory: pytest.TempPathFactory, tiny_dataset: Path) -> Path:
    """The example lab job (1 cloud + 2 edge nodes) on the tiny dataset with its two fastest algorithms."""
    target = tmp_path_factory.mktemp("lab") / "job"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("data", "workspace"))
    (target / "data").symlink_to(tiny_dataset, target_is_directory=True)
    job = target / "benchmarkingjob-sim.yaml"
    shutil.copy(job, target / "benchmarkingjob.yaml")  # keep_algorithms edits this name
    keep_algorithms(target, *FAST)
    edit_yaml(
        target / "benchmarkingjob.yaml", lambda d: d["benchmarkingjob"]["simulation"].update(cluster_name=CLUSTER)
    )
    return target / "benchmarkingjob.yaml"


@pytest.fixture(scope="module")
def lab(lab_job: Path, kind_node_image: str) -> Iterator[Lab]:
    """`controller run JOB --keep-lab`: builds the lab and keeps it for the tests of this module."""
    volumes = frozenset(docker_lines("volume", "ls", "-q"))
    workspace = lab_job.parent / "workspace"
    first = controller("run", str(lab_job), "--keep-lab")
    try:
        yield Lab(lab_job, workspace, first, volumes)
    finally:
        controller("lab", "down", str(lab_job), timeout_s=300)


def test_a_run_builds_the_lab_and_every_case_runs_on_an_edge_node(lab: Lab) -> None:
    assert lab.first_run.returncode == 0, lab.first_run.stderr[-4000:]
    results = [json.loads(p.read_text()) for p in lab.workspace.glob("*/*/result.json")]
    assert sorted(r["algorithm"] for r in results) == sorted(FAST)
    for result in results:
        assert result["status"] == "ok"
        case_pod = result["provenance"]["case_pod"]
        assert case_pod["node"] in NODES[1:]
        assert case_pod["role"] == "edge"


def test_the_labs_leaderboard_equals_the_local_runs(lab: Lab, tmp_path: Path) -> None:
    local = controller("run", str(lab.job), "--runtime", "local", "--workspace", str(tmp_path))
    assert local.returncode == 0, local.stderr[-4000:]
    name = "cityscapes-lifelong-sim"
    in_lab, here = ranks(lab.workspace, name), ranks(tmp_path, name)
    assert sorted(in_lab) == sorted(here)
    for algorithm, row in here.items():
        for metric in ("mIoU", "ACC", "BWT"):
            assert float(in_lab[algorithm][metric]) == pytest.approx(float(row[metric]), abs=1e-6), (algorithm, metric)


def test_every_node_is_ready_and_labelled_with_its_role(lab: Lab) -> None:
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(lab.kubeconfig))
    nodes = {n.metadata.name: n for n in client.CoreV1Api(api).list_node().items}
    assert sorted(nodes) == sorted(NODES)
    for name, node in nodes.items():
        ready = [c.status for c in node.status.conditions if c.type == "Ready"]
        assert ready == ["True"], name
        role = "cloud" if name == NODES[0] else "edge"
        assert node.metadata.labels["ianvs-lab/role"] == role
        assert ("node-role.kubernetes.io/edge" in node.metadata.labels) == (role == "edge")


def test_a_pod_on_an_edge_node_resolves_cluster_names_through_coredns(lab: Lab) -> None:
    import time

    from kubernetes import client, config

    from controller.simulation.controller_image import DEFAULT_TAG

    core = client.CoreV1Api(config.new_client_from_config(config_file=str(lab.kubeconfig)))
    lookup = "import socket; print(socket.gethostbyname('kubernetes.default.svc.cluster.local'))"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "dns-probe", "namespace": "default"},
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": {"ianvs-lab/role": "edge"},
            "containers": [
                {
                    "name": "probe",
                    "image": DEFAULT_TAG,
                    "imagePullPolicy": "Never",
                    "command": ["python3", "-c", lookup],
                }
            ],
        },
    }
    core.create_namespaced_pod("default", pod)
    try:
        deadline = time.monotonic() + 120
        while core.read_namespaced_pod("dns-probe", "default").status.phase not in ("Succeeded", "Failed"):
            assert time.monotonic() < deadline, "the DNS probe Pod did not finish within 120 s"
            time.sleep(1)
        answer = core.read_namespaced_pod_log("dns-probe", "default", _preload_content=False).data.decode().strip()
    finally:
        core.delete_namespaced_pod("dns-probe", "default", grace_period_seconds=0)
    assert answer == core.read_namespaced_service("kubernetes", "default").spec.cluster_ip


def test_lab_up_again_with_the_same_config_changes_nothing(lab: Lab) -> None:
    before = node_containers()
    again = controller("lab", "up", str(lab.job))
    assert again.returncode == 0, again.stderr[-4000:]
    assert "playbooks/kind_cluster.yml on localhost: changed=0" in again.stderr
    assert node_containers() == before


def test_a_second_run_with_keep_lab_reuses_the_lab(lab: Lab) -> None:
    before = node_containers()
    second = controller("run", str(lab.job), "--keep-lab")
    assert second.returncode == 0, second.stderr[-4000:]
    assert node_containers() == before
    assert f"lab {CLUSTER} kept" in second.stderr


def test_lab_status_shows_every_node_running_and_ready(lab: Lab) -> None:
    status = controller("lab", "status", str(lab.job), timeout_s=120)
    assert status.returncode == 0, status.stderr
    rows = [line.split() for line in status.stdout.splitlines()[1:]]
    assert rows == [
        [NODES[0], "running", "cloud", "yes"],
        [NODES[1], "running", "edge", "yes"],
        [NODES[2], "running", "edge", "yes"],
    ]


def test_another_node_count_is_refused_and_changes_nothing(lab: Lab, tmp_path: Path) -> None:
    bigger = lab.job.parent / "benchmarkingjob-bigger.yaml"
    shutil.copy(lab.job, bigger)
    edit_yaml(bigger, lambda d: d["benchmarkingjob"]["simulation"].update(edge_number=3))
    before = node_containers()
    refused = controller("lab", "up", str(bigger))
    assert refused.returncode != 0
    assert f"kind cluster {CLUSTER} has the nodes" in refused.stderr
    assert "Remove the lab first" in refused.stderr
    assert node_containers() == before


def test_a_job_whose_data_lies_elsewhere_is_refused_the_kept_lab(lab: Lab, tmp_path: Path) -> None:
    elsewhere = tmp_path / "job"
    shutil.copytree(lab.job.parent, elsewhere, symlinks=True, ignore=shutil.ignore_patterns("workspace"))
    before = node_containers()
    refused = controller("lab", "up", str(elsewhere / lab.job.name))
    assert refused.returncode != 0
    assert f"kind cluster {CLUSTER} was made from another kind config" in refused.stderr
    assert node_containers() == before


def test_a_run_without_keep_lab_removes_the_lab_and_leaves_nothing(lab: Lab) -> None:
    last = controller("run", str(lab.job))
    assert last.returncode == 0, last.stderr[-4000:]
    assert node_containers() == {}
    assert docker_lines("network", "ls", "-q", "--filter", f"name=^ianvs-lab-{CLUSTER}$") == []
    assert set(docker_lines("volume", "ls", "-q")) <= lab.volumes_before
    assert not lab.kubeconfig.parent.exists()


def test_lab_down_of_a_removed_lab_is_a_no_op(lab: Lab) -> None:
    down = controller("lab", "down", str(lab.job), timeout_s=300)
    assert down.returncode == 0, down.stderr
    assert "changed=0" in down.stderr
