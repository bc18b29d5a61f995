"""Cases of SimulationJobs with an image run in their own Pods: the job controller's half (the case Job) and the
case runner's half (`controller simulation run-case`) against the real control plane, each acting as its own
service account. tests/simulation/test_sim_in_cluster.py runs the Pods on the test node."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from infra.fixtures import K8s, poll

from controller.bounds import CaseBounds
from controller.config.loader import load_job
from controller.plan import CaseSpec, build_plan
from controller.runtime.case import run_case
from controller.simulation.case_pods import CASE_SELECTOR
from controller.simulation.case_runner import run_job_case
from controller.simulation.job_admin import JobAdministrator
from controller.simulation.job_controller import JobController
from controller.simulation.manifests import GROUP, PLURAL, VERSION
from controller.simulation.simulation_job import SimulationJob, job_name, status_patch
from tests.simulation.conftest import watching

IMAGE = "ianvs-lab/controller:case-pod-test"


def _simulation_job(k8s: K8s, spec: CaseSpec) -> dict[str, Any]:
    return k8s.custom.get_namespaced_custom_object(GROUP, VERSION, k8s.namespace, PLURAL, job_name(spec))


def _case_jobs(k8s: K8s) -> list[Any]:
    from kubernetes import client

    return client.BatchV1Api(k8s.api).list_namespaced_job(k8s.namespace, label_selector=CASE_SELECTOR).items


def _submit_where_no_pod_may_be_created(k8s: K8s, spec: CaseSpec) -> None:
    """A quota of zero Pods: kube-controller-manager's Job controller is refused every case Pod."""
    k8s.core.create_namespaced_resource_quota(
        k8s.namespace, {"metadata": {"name": "no-pods"}, "spec": {"hard": {"pods": "0"}}}
    )
    JobAdministrator(k8s.api, k8s.namespace).submit([spec], IMAGE)


def test_a_job_with_an_image_gets_one_case_job_owned_by_it(
    k8s: K8s, controller_api: Any, specs: list[CaseSpec], tmp_path: Path
) -> None:
    spec = specs[0]
    JobAdministrator(k8s.api, k8s.namespace).submit([spec], IMAGE)
    controller = JobController(controller_api, k8s.namespace, tmp_path)
    assert controller.run_once() == 0  # nothing ran in the controller's process
    controller.run_once()  # a replayed event creates nothing new
    assert JobController(controller_api, k8s.namespace, tmp_path).run_once() == 0

    (case_job,) = _case_jobs(k8s)
    assert controller.pods_started == 1
    owner = _simulation_job(k8s, spec)
    assert [(o.kind, o.name, o.uid) for o in case_job.metadata.owner_references] == [
        ("SimulationJob", owner["metadata"]["name"], owner["metadata"]["uid"])
    ]
    assert case_job.spec.template.spec.containers[0].image == IMAGE
    assert owner["status"]["phase"] == "Running"
    # (followed by why its Pod waits, where a node is up but the Pod does not tolerate its taint)
    assert owner["status"]["message"].startswith(f"case Pod of Job {case_job.metadata.name}")


def test_the_result_a_case_pod_writes_finishes_the_job_and_equals_a_local_run(
    k8s: K8s, controller_api: Any, case_runner_api: Any, specs: list[CaseSpec], tmp_path: Path
) -> None:
    spec = specs[0]
    admin = JobAdministrator(k8s.api, k8s.namespace)
    admin.submit([spec], IMAGE)
    JobController(controller_api, k8s.namespace, tmp_path).run_once()

    # what the case Pod runs, as the case runner's service account (its Role is exercised)
    written = run_job_case(case_runner_api, k8s.namespace, job_name(spec), tmp_path / "pod-workspace")
    assert written.ok, written.error
    assert written.provenance["case_pod"]["image"] == IMAGE
    JobController(controller_api, k8s.namespace, tmp_path).run_once()

    assert _simulation_job(k8s, spec)["status"]["phase"] == "Succeeded"
    harvested = admin.collect([spec], timeout_s=10)[spec.case_id]
    local = run_case(spec, tmp_path / "local")
    assert harvested.metrics == local.metrics
    assert harvested.matrix == local.matrix


@pytest.mark.parametrize("forbidden", ["set a job's status", "create a batch Job", "read another namespace"])
def test_the_case_runner_account_may_do_nothing_else(
    k8s: K8s, case_runner_api: Any, specs: list[CaseSpec], forbidden: str
) -> None:
    from kubernetes import client

    JobAdministrator(k8s.api, k8s.namespace).submit(specs[:1], IMAGE)
    calls = {
        "set a job's status": lambda: client.CustomObjectsApi(case_runner_api).patch_namespaced_custom_object_status(
            GROUP, VERSION, k8s.namespace, PLURAL, job_name(specs[0]), {"status": {"phase": "Succeeded"}}
        ),
        "create a batch Job": lambda: client.BatchV1Api(case_runner_api).create_namespaced_job(
            k8s.namespace,
            {
                "metadata": {"name": "x"},
                "spec": {
                    "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "x", "image": IMAGE}]}}
                },
            },
        ),
        "read another namespace": lambda: client.CoreV1Api(case_runner_api).list_namespaced_config_map("default"),
    }
    with pytest.raises(client.ApiException) as refused:
        calls[forbidden]()
    assert refused.value.status == 403


def test_a_case_runner_for_a_job_that_does_not_exist_names_it(k8s: K8s, case_runner_api: Any, tmp_path: Path) -> None:
    from controller.errors import ClusterError

    with pytest.raises(ClusterError, match=rf"SimulationJob {k8s.namespace}/no-such-job: .*not found"):
        run_job_case(case_runner_api, k8s.namespace, "no-such-job", tmp_path)


def test_a_case_pod_without_a_plugin_file_fails_its_job_saying_which_is_not_mounted(
    k8s: K8s, controller_api: Any, case_runner_api: Any, gated_job: Path, tmp_path: Path
) -> None:
    spec = next(s for s in build_plan(load_job(gated_job)) if s.algorithm == "gated-a")
    JobAdministrator(k8s.api, k8s.namespace).submit([spec], IMAGE)
    plugin = gated_job.parent / "gated.py"
    plugin.rename(tmp_path / "elsewhere.py")  # as in a Pod that mounts the dataset but not the job's folder

    written = run_job_case(case_runner_api, k8s.namespace, job_name(spec), tmp_path / "pod-workspace")
    assert written.status == "failed"
    assert written.error == f"not mounted: {plugin} (the case names it; mount its folder where the case runs)"
    JobController(controller_api, k8s.namespace, tmp_path).run_once()
    status = _simulation_job(k8s, spec)["status"]
    assert (status["phase"], status["message"]) == ("Failed", written.error)


def test_a_bounded_case_gets_a_case_job_with_its_deadline_and_memory_limit(
    k8s: K8s, controller_api: Any, specs: list[CaseSpec], tmp_path: Path
) -> None:
    """The API server takes the bounds as the case Job's fields (the kubelet enforcing them is its own business)."""
    spec = dataclasses.replace(specs[0], bounds=CaseBounds(timeout_s=29.5, memory_mib=512))
    JobAdministrator(k8s.api, k8s.namespace).submit([spec], IMAGE)
    JobController(controller_api, k8s.namespace, tmp_path).run_once()
    (case_job,) = _case_jobs(k8s)
    assert case_job.spec.active_deadline_seconds == 30
    assert case_job.spec.template.spec.containers[0].resources.limits == {"memory": "512Mi"}


def test_a_failed_case_submitted_again_under_other_bounds_runs_again_under_them(
    k8s: K8s, controller_api: Any, specs: list[CaseSpec]
) -> None:
    admin = JobAdministrator(k8s.api, k8s.namespace)
    tight = dataclasses.replace(specs[0], bounds=CaseBounds(timeout_s=1))
    admin.submit([tight], IMAGE)
    failed = status_patch(
        phase="Failed",
        observed_spec_hash=SimulationJob.of_case(tight, k8s.namespace).spec_hash,
        message="exceeded --case-timeout 1 s",
    )
    k8s.custom.patch_namespaced_custom_object_status(GROUP, VERSION, k8s.namespace, PLURAL, job_name(tight), failed)
    admin.submit([dataclasses.replace(tight, bounds=CaseBounds(timeout_s=600))], IMAGE)
    job = SimulationJob.from_object(_simulation_job(k8s, tight))
    assert job.bounds == CaseBounds(timeout_s=600)
    assert job.status.phase == "Pending"


def test_deleting_the_simulation_job_garbage_collects_its_case_job(
    k8s: K8s, controller_api: Any, specs: list[CaseSpec], tmp_path: Path
) -> None:
    JobAdministrator(k8s.api, k8s.namespace).submit(specs[:1], IMAGE)
    JobController(controller_api, k8s.namespace, tmp_path).run_once()
    assert len(_case_jobs(k8s)) == 1
    JobAdministrator(k8s.api, k8s.namespace).delete(specs[:1])
    # kube-controller-manager's garbage collector follows the ownerReference
    assert poll(lambda: not _case_jobs(k8s), timeout_s=60), [j.metadata.name for j in _case_jobs(k8s)]


def test_a_missing_case_runner_account_fails_the_case_at_once_saying_how_to_fix_it(
    k8s: K8s, controller_api: Any, specs: list[CaseSpec], tmp_path: Path
) -> None:
    from controller.simulation.manifests import CASE_RUNNER_SERVICE_ACCOUNT

    k8s.core.delete_namespaced_service_account(CASE_RUNNER_SERVICE_ACCOUNT, k8s.namespace)
    JobAdministrator(k8s.api, k8s.namespace).submit(specs[:1], IMAGE)
    JobController(controller_api, k8s.namespace, tmp_path).run_once()

    status = _simulation_job(k8s, specs[0])["status"]
    assert status["phase"] == "Failed"
    assert status["message"] == (
        f"service account {k8s.namespace}/{CASE_RUNNER_SERVICE_ACCOUNT} for case Pods does not exist; apply "
        f"`controller simulation manifests --namespace {k8s.namespace}` (or the simulation_controller role) to create it"
    )
    assert not _case_jobs(k8s)


def test_a_case_pod_the_cluster_refuses_to_create_keeps_the_job_running_and_says_why(
    k8s: K8s, controller_api: Any, specs: list[CaseSpec], tmp_path: Path
) -> None:
    _submit_where_no_pod_may_be_created(k8s, specs[0])
    controller = JobController(controller_api, k8s.namespace, tmp_path)
    controller.run_once()  # creates the case Job; kube-controller-manager's Job controller is refused its Pod

    def message() -> str:
        controller.run_once()
        return _simulation_job(k8s, specs[0])["status"].get("message", "")

    assert poll(lambda: "cannot be created" in message(), timeout_s=60), message()
    assert "exceeded quota" in message()
    assert _simulation_job(k8s, specs[0])["status"]["phase"] == "Running"


def test_the_watching_controller_notices_a_refused_pod_by_resyncing(
    k8s: K8s, controller_api: Any, specs: list[CaseSpec], tmp_path: Path
) -> None:
    # a Pod that cannot be created changes nothing the controller watches; only its periodic resync sees it
    _submit_where_no_pod_may_be_created(k8s, specs[0])
    controller = JobController(controller_api, k8s.namespace, tmp_path, resync_s=1.0)
    with watching(controller):
        said = poll(
            lambda: "exceeded quota" in (_simulation_job(k8s, specs[0]).get("status") or {}).get("message", ""),
            timeout_s=60,
        )
    assert said, _simulation_job(k8s, specs[0])
