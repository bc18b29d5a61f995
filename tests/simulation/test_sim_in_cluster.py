"""The whole simulation path on a node that runs Pods: the controller image built offline, the job controller
deployed as a Deployment (manifests from templates/simulation), SimulationJobs executed inside its Pod or, with an
image, each in its own Pod, results harvested by `controller run --runtime simulation` — and the leaderboard
equals a local run's."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from infra.fixtures import K8s, NodeEnv, poll

from controller.plan import CaseSpec
from controller.simulation.case_pods import CASE_SELECTOR, CasePodSettings
from controller.simulation.job_admin import JobAdministrator
from controller.simulation.job_controller import JobController
from controller.simulation.kube import apply
from controller.simulation.manifests import GROUP, PLURAL, VERSION, job_controller_deployment
from controller.simulation.simulation_job import job_name
from tests.simulation.conftest import watching

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
    k8s: K8s,
    k8s_node: NodeEnv,
    controller_image: str,
    controller_kubeconfig: Path,
    fast_job: Path,
    tiny_dataset: Path,
    tmp_path: Path,
) -> None:
    k8s_node.load_images(controller_image)
    deployment = job_controller_deployment(
        k8s.namespace,
        controller_image,
        workspace=str(tmp_path / "cluster-workspace"),
        host_paths=[str(fast_job.parent), str(tiny_dataset)],
        image_pull_policy="Never",
        tolerations=[{"key": k8s_node.taint_key, "operator": "Exists", "effect": "NoSchedule"}],
        # no kube-proxy in the test environment: the Pod reaches the API server on the node's loopback
        host_network=True,
        kubeconfig=str(controller_kubeconfig),
    )
    apply(k8s.api, deployment)
    pod = _running_pod(k8s, k8s_node)

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
    pod_log = k8s.core.read_namespaced_pod_log(pod, k8s.namespace)  # through the kubelet
    assert simulated.returncode == 0, simulated.stderr + "\n--- job controller Pod ---\n" + pod_log
    local = subprocess.run(
        [*CONTROLLER, "run", str(fast_job), "--workspace", str(tmp_path / "local")],
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert local.returncode == 0, local.stderr

    assert "running case" in pod_log
    simulated_rank, local_rank = _rank(tmp_path / "simulated"), _rank(tmp_path / "local")
    assert sorted(simulated_rank) == sorted(local_rank)
    for algorithm, row in local_rank.items():
        assert simulated_rank[algorithm]["mIoU"] == row["mIoU"], algorithm
    # the cases' models and logs stayed in the workspace the Pod wrote (hostPath on the node)
    assert list((tmp_path / "cluster-workspace" / "cityscapes-lifelong").glob("*/case.log"))


# --------------------------------------------------------------------------------------------- case Pods


def _case_pod_settings(
    k8s_node: NodeEnv, workspace: Path, kubeconfig: Path, *host_paths: Path, **changes: Any
) -> CasePodSettings:
    return CasePodSettings(
        workspace=str(workspace),
        host_paths=tuple(str(p) for p in host_paths),
        kubeconfig=str(kubeconfig),
        host_network=True,
        image_pull_policy="Never",
        tolerations=({"key": k8s_node.taint_key, "operator": "Exists", "effect": "NoSchedule"},),
        **changes,
    )


def test_cases_with_an_image_run_in_their_own_pods_and_match_a_local_run(
    k8s: K8s,
    k8s_node: NodeEnv,
    controller_image: str,
    controller_api: Any,
    case_runner_kubeconfig: Path,
    fast_job: Path,
    tiny_dataset: Path,
    tmp_path: Path,
) -> None:
    k8s_node.load_images(controller_image)
    workspace = tmp_path / "cluster-workspace"
    controller = JobController(
        controller_api,
        k8s.namespace,
        workspace,
        case_pods=_case_pod_settings(k8s_node, workspace, case_runner_kubeconfig, fast_job.parent, tiny_dataset),
    )
    with watching(controller):
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
                "--image",
                controller_image,
                "--timeout",
                "300",
            ],
            capture_output=True,
            text=True,
            timeout=400,
        )
    assert simulated.returncode == 0, simulated.stderr + "\n" + k8s_node.log_tails()
    local = subprocess.run(
        [*CONTROLLER, "run", str(fast_job), "--workspace", str(tmp_path / "local")],
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert local.returncode == 0, local.stderr

    assert (controller.runs, controller.pods_started) == (0, 2)  # every case ran in a Pod, none in the controller
    simulated_rank, local_rank = _rank(tmp_path / "simulated"), _rank(tmp_path / "local")
    assert sorted(simulated_rank) == sorted(local_rank)
    for algorithm, row in local_rank.items():
        assert simulated_rank[algorithm]["mIoU"] == row["mIoU"], algorithm
    for result_file in (tmp_path / "simulated" / "cityscapes-lifelong").glob("*/result.json"):
        case_pod = json.loads(result_file.read_text())["provenance"]["case_pod"]
        assert (case_pod["image"], case_pod["node"]) == (controller_image, k8s_node.name)
    # the models and logs stayed on the node, in the workspace the Pods wrote (hostPath)
    assert len(list((workspace / "cityscapes-lifelong").glob("*/case.log"))) == 2


def _failed_result(k8s: K8s, spec: CaseSpec, image: str, controller: JobController) -> tuple[str, str]:
    admin = JobAdministrator(k8s.api, k8s.namespace)
    admin.submit([spec], image)
    with watching(controller):
        result = admin.collect([spec], timeout_s=180)[spec.case_id]
    assert not result.ok
    status = k8s.custom.get_namespaced_custom_object(GROUP, VERSION, k8s.namespace, PLURAL, job_name(spec))["status"]
    assert status["phase"] == "Failed"
    return result.error or "", status["message"]


def test_a_case_whose_image_is_not_on_the_node_fails_with_the_reason(
    k8s: K8s,
    k8s_node: NodeEnv,
    controller_api: Any,
    case_runner_kubeconfig: Path,
    specs: list[CaseSpec],
    tmp_path: Path,
) -> None:
    from kubernetes import client

    controller = JobController(
        controller_api,
        k8s.namespace,
        tmp_path,
        case_pods=_case_pod_settings(k8s_node, tmp_path, case_runner_kubeconfig),
    )
    error, message = _failed_result(k8s, specs[0], "ianvs-lab/never-built:1", controller)
    assert error == message
    assert error.startswith("case Pod cannot start (ianvs-lab/never-built:1): ErrImageNeverPull"), error
    # the Pod would wait for the image forever: its Job is gone, the reason stays in the result
    batch = client.BatchV1Api(k8s.api)
    assert poll(lambda: not batch.list_namespaced_job(k8s.namespace, label_selector=CASE_SELECTOR).items, 30)


def test_a_case_whose_image_has_no_controller_fails_with_the_containers_error(
    k8s: K8s,
    k8s_node: NodeEnv,
    base_images: Any,
    controller_api: Any,
    case_runner_kubeconfig: Path,
    specs: list[CaseSpec],
    tmp_path: Path,
) -> None:
    k8s_node.load_images(base_images.base)
    controller = JobController(
        controller_api,
        k8s.namespace,
        tmp_path,
        case_pods=_case_pod_settings(k8s_node, tmp_path, case_runner_kubeconfig),
    )
    error, _ = _failed_result(k8s, specs[0], base_images.base, controller)
    assert error.startswith("case Pod"), error
    assert "simulation" in error, error  # the runtime could not find the command: "simulation run-case ..."


def test_a_case_pod_no_node_can_take_keeps_its_job_running_and_says_why(
    k8s: K8s,
    k8s_node: NodeEnv,
    controller_image: str,
    controller_api: Any,
    case_runner_kubeconfig: Path,
    specs: list[CaseSpec],
    tmp_path: Path,
) -> None:
    k8s_node.load_images(controller_image)
    controller = JobController(
        controller_api,
        k8s.namespace,
        tmp_path,
        case_pods=_case_pod_settings(
            k8s_node, tmp_path, case_runner_kubeconfig, resources={"requests": {"cpu": "1000"}}
        ),
    )
    JobAdministrator(k8s.api, k8s.namespace).submit(specs[:1], controller_image)

    def status() -> dict[str, Any]:
        job = k8s.custom.get_namespaced_custom_object(GROUP, VERSION, k8s.namespace, PLURAL, job_name(specs[0]))
        return job.get("status") or {}

    with watching(controller):
        waiting = poll(lambda: "waits for a node" in status().get("message", ""), timeout_s=60)
    assert waiting, status()
    assert status()["phase"] == "Running"
    assert "Insufficient cpu" in status()["message"], status()


def test_algorithm_images_carry_the_plugins_so_case_pods_mount_only_the_data(
    k8s: K8s,
    k8s_node: NodeEnv,
    controller_image: str,
    controller_api: Any,
    case_runner_kubeconfig: Path,
    custom_algorithm_job: Path,
    tiny_dataset: Path,
    tmp_path: Path,
) -> None:
    from tests.conftest import keep_algorithms

    keep_algorithms(custom_algorithm_job.parent, "custom-majority")
    built = subprocess.run(
        [
            *CONTROLLER,
            "simulation",
            "build-algorithm-images",
            str(custom_algorithm_job),
            "--controller-image",
            controller_image,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    (image,) = [line.split()[1] for line in built.stdout.splitlines()[1:]]
    k8s_node.load_images(image)
    workspace = tmp_path / "cluster-workspace"
    # only the dataset is mounted: the plugin files must come from the image
    controller = JobController(
        controller_api,
        k8s.namespace,
        workspace,
        case_pods=_case_pod_settings(k8s_node, workspace, case_runner_kubeconfig, tiny_dataset),
    )
    with watching(controller):
        simulated = subprocess.run(
            [
                *CONTROLLER,
                "run",
                str(custom_algorithm_job),
                "--workspace",
                str(tmp_path / "simulated"),
                "--runtime",
                "simulation",
                "--kubeconfig",
                str(k8s.env.kubeconfig),
                "--namespace",
                k8s.namespace,
                "--image",
                controller_image,
                "--algorithm-images",
                "--timeout",
                "300",
            ],
            capture_output=True,
            text=True,
            timeout=400,
        )
    assert simulated.returncode == 0, simulated.stderr + "\n" + k8s_node.log_tails()
    local = subprocess.run(
        [*CONTROLLER, "run", str(custom_algorithm_job), "--workspace", str(tmp_path / "local")],
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert local.returncode == 0, local.stderr

    assert (
        _rank(tmp_path / "simulated")["custom-majority"]["mIoU"] == _rank(tmp_path / "local")["custom-majority"]["mIoU"]
    )
    (result_file,) = (tmp_path / "simulated" / "cityscapes-lifelong").glob("*/result.json")
    assert json.loads(result_file.read_text())["provenance"]["case_pod"]["image"] == image
