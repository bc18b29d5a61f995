"""An interrupted case in the cluster is run again or failed with the reason, never harvested as a success.

Real processes against the real control plane: `controller simulation job-controller` and `run-case` as their own
service accounts, stopped by real signals while a gated case (tests/conftest.py: ``gated_job``) is in its middle.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from infra.fixtures import K8s, poll

from controller.config.loader import load_job
from controller.plan import CaseSpec, build_plan
from controller.results import CaseResult
from controller.runtime.case import run_case
from controller.simulation.job_admin import JobAdministrator
from controller.simulation.job_controller import JobController
from controller.simulation.manifests import GROUP, PLURAL, VERSION, result_configmap_name
from controller.simulation.result_store import result_configmap
from controller.simulation.simulation_job import job_name
from tests.conftest import started

CONTROLLER = [sys.executable, "-m", "controller"]


@pytest.fixture
def gated_spec(gated_job: Path) -> CaseSpec:
    return next(spec for spec in build_plan(load_job(gated_job)) if spec.algorithm == "gated-a")


class Processes:
    """Controller processes started by a test, with the gate in their environment; all killed afterwards."""

    def __init__(self, gate: Path, log: Path) -> None:
        self.env = {**os.environ, "IANVS_TEST_GATE": str(gate)}
        self.log = log
        self.started: list[subprocess.Popen[str]] = []

    def start(self, *args: str) -> subprocess.Popen[str]:
        with self.log.open("a") as log:
            process = subprocess.Popen(
                [*CONTROLLER, "-v", *args], stdout=log, stderr=subprocess.STDOUT, text=True, env=self.env
            )
        self.started.append(process)
        return process


@pytest.fixture
def processes(gate: Path, tmp_path: Path) -> Iterator[Processes]:
    running = Processes(gate, tmp_path / "processes.log")
    yield running
    for process in running.started:
        if process.poll() is None:
            process.kill()
        process.wait()


def _job(k8s: K8s, spec: CaseSpec) -> dict[str, Any]:
    return k8s.custom.get_namespaced_custom_object(GROUP, VERSION, k8s.namespace, PLURAL, job_name(spec))


def _phase(k8s: K8s, spec: CaseSpec) -> str:
    return (_job(k8s, spec).get("status") or {}).get("phase", "")


def _store_with_metrics(k8s: K8s, spec: CaseSpec, result: CaseResult, metrics: dict[str, Any]) -> dict[str, Any]:
    """``result`` as its result ConfigMap for the submitted job, with ``metrics`` instead of its own: a record
    claiming ok that no run of ours writes (by hand, or an older version)."""
    body = result_configmap(result, k8s.namespace, _job(k8s, spec)["spec"]["specHash"])
    data = json.loads(body["data"]["result.json"])
    data["metrics"] = metrics
    body["data"]["result.json"] = json.dumps(data)
    k8s.core.create_namespaced_config_map(k8s.namespace, body)
    return body


def _job_controller(processes: Processes, kubeconfig: Path, k8s: K8s, workspace: Path) -> subprocess.Popen[str]:
    return processes.start(
        "simulation",
        "job-controller",
        "--kubeconfig",
        str(kubeconfig),
        "--namespace",
        k8s.namespace,
        "--workspace",
        str(workspace),
    )


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_job_controller_stopped_mid_case_leaves_it_to_the_next_one_which_succeeds_with_the_local_metrics(
    k8s: K8s,
    controller_kubeconfig: Path,
    gated_spec: CaseSpec,
    gate: Path,
    processes: Processes,
    tmp_path: Path,
    sig: signal.Signals,
) -> None:
    admin = JobAdministrator(k8s.api, k8s.namespace)
    admin.submit([gated_spec])
    (gate / "hold").touch()
    first = _job_controller(processes, controller_kubeconfig, k8s, tmp_path / "cluster-ws")
    started(gate, 1)
    first.send_signal(sig)
    first.wait(timeout=30)
    job = _job(k8s, gated_spec)
    assert job["status"]["phase"] in ("Running", "Pending"), job["status"]
    if sig == signal.SIGINT:
        assert job["status"]["phase"] == "Pending"
        assert "interrupted by SIGINT in the job controller" in job["status"]["message"]
    with pytest.raises(Exception, match="Not Found"):
        k8s.core.read_namespaced_config_map(result_configmap_name(gated_spec.case_id), k8s.namespace)

    (gate / "hold").unlink()
    _job_controller(processes, controller_kubeconfig, k8s, tmp_path / "cluster-ws")
    result = admin.collect([gated_spec], timeout_s=120)[gated_spec.case_id]
    assert result.ok, result.error
    assert result.metrics == run_case(gated_spec, tmp_path / "local").metrics
    assert poll(lambda: _phase(k8s, gated_spec) == "Succeeded", timeout_s=30)


def test_a_stored_result_claiming_ok_without_metrics_is_not_restored_the_case_runs_again(
    k8s: K8s, controller_api: Any, specs: list[CaseSpec], tmp_path: Path
) -> None:
    spec = specs[0]
    admin = JobAdministrator(k8s.api, k8s.namespace)
    admin.submit([spec])
    hand_made = run_case(spec, tmp_path / "local")
    _store_with_metrics(k8s, spec, hand_made, {})

    controller = JobController(controller_api, k8s.namespace, tmp_path / "cluster-ws")
    assert controller.run_once() == 1
    assert _phase(k8s, spec) == "Succeeded"
    assert admin.collect([spec], timeout_s=10)[spec.case_id].metrics == hand_made.metrics


def test_an_administrator_never_harvests_a_result_claiming_ok_without_metrics(
    k8s: K8s, simulation_crd: None, specs: list[CaseSpec], tmp_path: Path
) -> None:
    spec = specs[0]
    admin = JobAdministrator(k8s.api, k8s.namespace)
    admin.submit([spec])
    finished = run_case(spec, tmp_path / "local")
    body = _store_with_metrics(k8s, spec, finished, {k: v for k, v in finished.metrics.items() if k != "mIoU"})

    result = admin.collect([spec], timeout_s=10)[spec.case_id]
    assert result.status == "failed"
    assert result.error == (
        f"ConfigMap {body['metadata']['name']}: claims status ok but lacks mIoU, which the testenv asks for"
    )


def test_a_case_runner_stopped_by_sigterm_fails_its_job_with_the_reason_and_a_resubmit_runs_it_again(
    k8s: K8s,
    controller_api: Any,
    case_runner_kubeconfig: Path,
    gated_spec: CaseSpec,
    gate: Path,
    processes: Processes,
    tmp_path: Path,
) -> None:
    # What a case Pod does when its Pod is deleted (the kubelet's SIGTERM), run here as a plain process.
    admin = JobAdministrator(k8s.api, k8s.namespace)
    admin.submit([gated_spec], image="ianvs-lab/controller:test")
    (gate / "hold").touch()
    runner = processes.start(
        "simulation",
        "run-case",
        "--kubeconfig",
        str(case_runner_kubeconfig),
        "--namespace",
        k8s.namespace,
        "--job",
        job_name(gated_spec),
        "--workspace",
        str(tmp_path / "pod-ws"),
    )
    started(gate, 1)
    runner.send_signal(signal.SIGTERM)
    assert runner.wait(timeout=30) == 130, processes.log.read_text()

    JobController(controller_api, k8s.namespace, tmp_path / "cluster-ws").run_once()
    status = _job(k8s, gated_spec)["status"]
    assert (status["phase"], status["message"]) == ("Failed", "interrupted by SIGTERM")
    harvested = admin.collect([gated_spec], timeout_s=10)[gated_spec.case_id]
    assert (harvested.status, harvested.error) == ("interrupted", "interrupted by SIGTERM")

    admin.submit([gated_spec], image="ianvs-lab/controller:test")  # what `controller run --resume` does
    status = _job(k8s, gated_spec)["status"]
    assert status["phase"] == "Pending" and status["observedSpecHash"] == ""
    assert "runs again (last attempt: interrupted by SIGTERM)" == status["message"]
    with pytest.raises(Exception, match="Not Found"):
        k8s.core.read_namespaced_config_map(result_configmap_name(gated_spec.case_id), k8s.namespace)
