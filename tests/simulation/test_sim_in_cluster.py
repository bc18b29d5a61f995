"""The whole simulation path on a node that runs Pods: the controller image built offline, the job controller
deployed as a Deployment (manifests from templates/simulation), SimulationJobs executed inside its Pod, results
harvested by `controller run --runtime simulation` — and the leaderboard equals a local run's."""
from __future__ import annotations

import csv
import subprocess
import sys
import time
from pathlib import Path

import pytest

from controller.simulation.kube import apply
from controller.simulation.manifests import job_controller_deployment
from infra.fixtures import K8s, NodeEnv

CONTROLLER = [sys.executable, "-m", "controller"]
POD_START_TIMEOUT_S = 120


def _rank(workspace: Path) -> dict[str, dict[str, str]]:
    with (workspace / "cityscapes-lifelong" / "rank" / "all_rank.csv").open() as handle:
        return {row["algorithm"]: row for row in csv.DictReader(handle)}


def _running_pod(k8s: K8s, node: NodeEnv) -> str:
    deadline = time.monotonic() + POD_START_TIMEOUT_S
    selector = "app.kubernetes.io/name=ianvs-simulation-job-controller"
    while time.monotonic() < deadline:
        pods = k8s.core.list_namespaced_pod(k8s.namespace, label_selector=selector).items
        running = [p for p in pods if p.status.phase == "Running"]
        if running:
            return running[0].metadata.name
        time.sleep(0.5)
    pods = k8s.core.list_namespaced_pod(k8s.namespace, label_selector=selector).items
    states = [(p.metadata.name, p.status.phase, p.status.container_statuses) for p in pods]
    events = [f"{e.reason}: {e.message}" for e in k8s.core.list_namespaced_event(k8s.namespace).items]
    pytest.fail(f"no running job-controller Pod after {POD_START_TIMEOUT_S}s: {states}\n{events}\n{node.log_tails()}")


def test_the_deployed_job_controller_runs_the_benchmark_in_the_cluster(
    k8s: K8s, k8s_node: NodeEnv, controller_image: str, controller_kubeconfig: Path, fast_job: Path,
    tiny_dataset: Path, tmp_path: Path,
) -> None:
    k8s_node.load_images(controller_image)
    deployment = job_controller_deployment(
        k8s.namespace, controller_image, workspace=str(tmp_path / "cluster-workspace"),
        host_paths=[str(fast_job.parent), str(tiny_dataset)], image_pull_policy="Never",
        tolerations=[{"key": k8s_node.taint_key, "operator": "Exists", "effect": "NoSchedule"}],
        # no kube-proxy in the test environment: the Pod reaches the API server on the node's loopback
        host_network=True, kubeconfig=str(controller_kubeconfig),
    )
    apply(k8s.api, deployment)
    pod = _running_pod(k8s, k8s_node)

    simulated = subprocess.run(
        [*CONTROLLER, "run", str(fast_job), "--workspace", str(tmp_path / "simulated"), "--runtime", "simulation",
         "--kubeconfig", str(k8s.env.kubeconfig), "--namespace", k8s.namespace, "--timeout", "300"],
        capture_output=True, text=True, timeout=400,
    )
    pod_log = k8s.core.read_namespaced_pod_log(pod, k8s.namespace)  # through the kubelet
    assert simulated.returncode == 0, simulated.stderr + "\n--- job controller Pod ---\n" + pod_log
    local = subprocess.run([*CONTROLLER, "run", str(fast_job), "--workspace", str(tmp_path / "local")],
                           capture_output=True, text=True, timeout=400)
    assert local.returncode == 0, local.stderr

    assert "running case" in pod_log
    simulated_rank, local_rank = _rank(tmp_path / "simulated"), _rank(tmp_path / "local")
    assert sorted(simulated_rank) == sorted(local_rank)
    for algorithm, row in local_rank.items():
        assert simulated_rank[algorithm]["mIoU"] == row["mIoU"], algorithm
    # the cases' models and logs stayed in the workspace the Pod wrote (hostPath on the node)
    assert list((tmp_path / "cluster-workspace" / "cityscapes-lifelong").glob("*/case.log"))
