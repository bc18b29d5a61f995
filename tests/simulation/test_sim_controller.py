"""The Simulation Job Controller and Administrator against the real control plane (tests/infra/fixtures.py).

The controller acts as its own service account with the Role from templates/simulation, so a permission the
Role lacks fails these tests exactly as it would fail in a cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from infra.fixtures import K8s

from controller.errors import ClusterError
from controller.plan import CaseSpec
from controller.runtime.case import run_case
from controller.simulation.job_admin import JobAdministrator
from controller.simulation.job_controller import JobController
from controller.simulation.manifests import GROUP, PLURAL, VERSION
from controller.simulation.simulation_job import SimulationJob, job_name


def _job(k8s: K8s, spec: CaseSpec) -> dict[str, Any]:
    return k8s.custom.get_namespaced_custom_object(GROUP, VERSION, k8s.namespace, PLURAL, job_name(spec))


def _controller(api: Any, k8s: K8s, workspace: Path) -> JobController:
    return JobController(api, k8s.namespace, workspace)


def test_the_api_server_enforces_the_crd_schema(k8s: K8s, simulation_crd: None, specs: list[CaseSpec]) -> None:
    from kubernetes import client

    body = SimulationJob.of_case(specs[0], k8s.namespace).to_manifest()
    del body["spec"]["caseId"]
    with pytest.raises(client.ApiException) as refused:
        k8s.custom.create_namespaced_custom_object(GROUP, VERSION, k8s.namespace, PLURAL, body)
    assert refused.value.status == 422
    assert "spec.caseId: Required value" in refused.value.body


def test_a_submitted_case_runs_and_its_result_equals_the_local_run(
    k8s: K8s, controller_api: Any, specs: list[CaseSpec], tmp_path: Path
) -> None:
    spec = specs[0]
    admin = JobAdministrator(k8s.api, k8s.namespace)
    admin.submit([spec])
    controller = _controller(controller_api, k8s, tmp_path / "cluster-ws")
    assert controller.run_once() == 1

    status = _job(k8s, spec)["status"]
    assert status["phase"] == "Succeeded", status
    results = admin.collect([spec], timeout_s=10)
    local = run_case(spec, tmp_path / "local-ws")
    assert results[spec.case_id].metrics == local.metrics
    assert results[spec.case_id].matrix == local.matrix


def test_a_finished_case_is_not_run_again_by_a_restarted_controller(
    k8s: K8s, controller_api: Any, specs: list[CaseSpec], tmp_path: Path
) -> None:
    JobAdministrator(k8s.api, k8s.namespace).submit(specs[:1])
    assert _controller(controller_api, k8s, tmp_path).run_once() == 1
    assert _controller(controller_api, k8s, tmp_path).run_once() == 0


def test_a_lost_status_is_restored_from_the_stored_result_without_running(
    k8s: K8s, controller_api: Any, specs: list[CaseSpec], tmp_path: Path
) -> None:
    spec = specs[0]
    JobAdministrator(k8s.api, k8s.namespace).submit([spec])
    _controller(controller_api, k8s, tmp_path).run_once()
    # as if the controller died after writing the ConfigMap but before setting the status
    k8s.custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, k8s.namespace, PLURAL, job_name(spec), {"status": {"phase": "Running", "observedSpecHash": ""}}
    )
    controller = _controller(controller_api, k8s, tmp_path)
    assert controller.run_once() == 0
    assert _job(k8s, spec)["status"]["phase"] == "Succeeded"


def test_resubmitting_the_same_cases_keeps_the_jobs(k8s: K8s, specs: list[CaseSpec]) -> None:
    admin = JobAdministrator(k8s.api, k8s.namespace)
    admin.submit(specs)
    versions = {job_name(s): _job(k8s, s)["metadata"]["resourceVersion"] for s in specs}
    admin.submit(specs)
    assert {job_name(s): _job(k8s, s)["metadata"]["resourceVersion"] for s in specs} == versions


def test_submitting_over_a_job_with_another_spec_hash_replaces_it_and_resets_its_status(
    k8s: K8s, simulation_crd: None, specs: list[CaseSpec]
) -> None:
    spec = specs[0]
    stale = SimulationJob.of_case(spec, k8s.namespace).to_manifest()
    stale["spec"]["specHash"] = "0" * 64
    k8s.custom.create_namespaced_custom_object(GROUP, VERSION, k8s.namespace, PLURAL, stale)
    k8s.custom.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        k8s.namespace,
        PLURAL,
        job_name(spec),
        {"status": {"phase": "Succeeded", "observedSpecHash": "0" * 64}},
    )
    JobAdministrator(k8s.api, k8s.namespace).submit([spec])
    job = _job(k8s, spec)
    assert job["spec"]["specHash"] == SimulationJob.of_case(spec, k8s.namespace).to_manifest()["spec"]["specHash"]
    assert job["status"]["phase"] == "Pending"


def test_a_job_edited_by_hand_fails_with_a_reason_instead_of_running(
    k8s: K8s, controller_api: Any, specs: list[CaseSpec], tmp_path: Path
) -> None:
    spec = specs[0]
    body = SimulationJob.of_case(spec, k8s.namespace).to_manifest()
    body["spec"]["case"]["seed"] = spec.seed + 1  # no longer the case its id and hash describe
    k8s.custom.create_namespaced_custom_object(GROUP, VERSION, k8s.namespace, PLURAL, body)
    controller = _controller(controller_api, k8s, tmp_path)
    assert controller.run_once() == 0
    status = _job(k8s, spec)["status"]
    assert status["phase"] == "Failed"
    assert "does not match spec.caseId/spec.specHash" in status["message"]
    result = JobAdministrator(k8s.api, k8s.namespace).collect([spec], timeout_s=10)[spec.case_id]
    assert not result.ok and "does not match" in (result.error or "")


def test_a_failing_case_is_reported_failed_with_its_error(
    k8s: K8s, controller_api: Any, specs: list[CaseSpec], tmp_path: Path
) -> None:
    import dataclasses

    spec = specs[0]
    broken = dataclasses.replace(spec, testenv=dataclasses.replace(spec.testenv, test_index=str(tmp_path / "gone.txt")))
    from controller.plan import _with_id  # the id must match the content, as build_plan makes it

    broken = _with_id(broken)
    JobAdministrator(k8s.api, k8s.namespace).submit([broken])
    _controller(controller_api, k8s, tmp_path).run_once()
    status = _job(k8s, broken)["status"]
    assert status["phase"] == "Failed"
    assert "gone.txt" in status["message"]


def test_waiting_for_results_nobody_produces_times_out_naming_the_jobs(
    k8s: K8s, simulation_crd: None, specs: list[CaseSpec]
) -> None:
    admin = JobAdministrator(k8s.api, k8s.namespace)
    admin.submit(specs[:1])
    with pytest.raises(
        ClusterError, match=rf"1 of 1 simulation jobs .* gave no result within 2s: {job_name(specs[0])}"
    ):
        admin.collect(specs[:1], timeout_s=2)


def test_jobs_no_controller_picks_up_are_reported_long_before_the_timeout(
    k8s: K8s, simulation_crd: None, specs: list[CaseSpec], caplog: pytest.LogCaptureFixture
) -> None:
    admin = JobAdministrator(k8s.api, k8s.namespace, unattended_after_s=0.5)
    admin.submit(specs[:1])
    with pytest.raises(ClusterError):
        admin.collect(specs[:1], timeout_s=3)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(
        f"no job controller has picked up any of the 1 SimulationJobs in namespace {k8s.namespace}" in w
        for w in warnings
    ), warnings


def test_the_controller_account_cannot_touch_other_namespaces(controller_api: Any) -> None:
    from kubernetes import client

    with pytest.raises(client.ApiException) as refused:
        client.CustomObjectsApi(controller_api).list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)
    assert refused.value.status == 403


def test_status_lists_the_jobs_with_their_phase(
    k8s: K8s, controller_api: Any, specs: list[CaseSpec], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from controller.cli import main

    admin = JobAdministrator(k8s.api, k8s.namespace)
    admin.submit(specs[:1])
    admin.submit(specs[1:], "ianvs-lab/controller:1")
    JobController(controller_api, k8s.namespace, tmp_path).reconcile(_job(k8s, specs[0]))
    code = main(
        [
            "simulation",
            "status",
            "--kubeconfig",
            str(k8s.env.kubeconfig),
            "-n",
            k8s.namespace,
            "--benchmarking-job",
            specs[0].benchmarking_job,
        ]
    )
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "BENCHMARKING-JOB", "ALGORITHM", "PHASE", "IMAGE", "MESSAGE"]
    phases = {line.split()[0]: (line.split()[3], line.split()[4]) for line in lines[1:]}
    assert phases == {job_name(specs[0]): ("Succeeded", "-"), job_name(specs[1]): ("Pending", "ianvs-lab/controller:1")}


def test_status_of_a_namespace_the_account_may_not_read_names_it(controller_kubeconfig: Path) -> None:
    from controller.simulation.job_admin import JobAdministrator as Admin
    from controller.simulation.kube import api_client

    with pytest.raises(ClusterError, match="SimulationJobs in namespace default: .*forbidden"):
        Admin(api_client(controller_kubeconfig), "default").list_jobs()


def test_the_work_queue_holds_a_job_once_until_it_is_taken() -> None:
    from controller.simulation.job_controller import _WorkQueue

    work = _WorkQueue()
    for name in ("a", "b", "a", "a"):
        work.put(name)
    assert [work.get(0.01), work.get(0.01), work.get(0.01)] == ["a", "b", None]
    work.put("a")  # taken, so it may be queued again
    assert work.get(0.01) == "a"


def test_the_printed_manifests_apply_with_kubectl_to_a_namespace_that_does_not_exist_yet(
    k8s: K8s, simulation_crd: None
) -> None:
    import secrets
    import subprocess
    import sys

    namespace = f"ianvs-fresh-{secrets.token_hex(4)}"
    printed = subprocess.run(
        [sys.executable, "-m", "controller", "simulation", "manifests", "--namespace", namespace],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    try:
        applied = subprocess.run(
            [k8s.env.kubectl, "--kubeconfig", str(k8s.env.kubeconfig), "apply", "-f", "-"],
            input=printed,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert applied.returncode == 0, applied.stderr
        assert f"namespace/{namespace} created" in applied.stdout
        assert k8s.core.read_namespaced_service_account("ianvs-simulation-job-controller", namespace)
    finally:
        subprocess.run(
            [
                k8s.env.kubectl,
                "--kubeconfig",
                str(k8s.env.kubeconfig),
                "delete",
                "namespace",
                namespace,
                "--ignore-not-found",
                "--wait=false",
            ],
            capture_output=True,
            timeout=60,
        )
