"""SimulationJob manifests and result ConfigMaps, rendered from templates/simulation (no cluster needed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from controller.errors import ClusterError
from controller.plan import CaseSpec
from controller.results import CaseResult
from controller.simulation import manifests
from controller.simulation.result_store import (
    MAX_RESULT_BYTES,
    result_configmap,
    result_from_configmap,
    stored_spec_hash,
)
from controller.simulation.simulation_job import SimulationJob, spec_hash

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def test_crd_defines_a_namespaced_simulationjob_with_a_status_subresource() -> None:
    crd = manifests.crd()
    assert crd["metadata"]["name"] == "simulationjobs.simulation.ianvs-lab.io"
    assert crd["spec"]["scope"] == "Namespaced"
    (version,) = crd["spec"]["versions"]
    assert version["subresources"] == {"status": {}}
    spec_schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec_schema["required"] == ["benchmarkingJob", "caseId", "specHash", "algorithm", "case"]


def test_simulation_job_carries_the_case_that_runs_locally(specs: list[CaseSpec]) -> None:
    spec = specs[0]
    job = SimulationJob.of_case(spec, "lab", image="ianvs-lab/algo:1").to_manifest()
    assert job["kind"] == "SimulationJob" and job["metadata"]["namespace"] == "lab"
    assert job["spec"]["caseId"] == spec.case_id
    assert job["spec"]["specHash"] == spec_hash(spec)
    assert job["spec"]["image"] == "ianvs-lab/algo:1"
    assert job["spec"]["resultConfigMap"] == f"ianvs-simulation-job-result-{spec.case_id}"
    assert CaseSpec.from_dict(job["spec"]["case"]) == spec


def test_every_case_of_a_job_gets_its_own_name(specs: list[CaseSpec]) -> None:
    names = {SimulationJob.of_case(spec, "lab").to_manifest()["metadata"]["name"] for spec in specs}
    assert len(names) == len(specs)


@pytest.mark.parametrize(
    "text",
    [
        "cityscapes-lifelong-abc123",
        "Cityscapes_Lifelong.Job",
        "a" * 100,
        "--weird--",
        "ünïcode job",
    ],
)
def test_names_are_dns_labels(text: str) -> None:
    label = manifests.dns_label(text)
    assert DNS_LABEL.match(label) and len(label) <= 63


def test_names_that_clean_up_the_same_stay_distinct() -> None:
    assert manifests.dns_label("job_a") != manifests.dns_label("job.a")
    assert manifests.dns_label("x" * 70 + "1") != manifests.dns_label("x" * 70 + "2")


def _rules(role: dict[str, Any]) -> dict[tuple[tuple[str, ...], tuple[str, ...]], set[str]]:
    return {(tuple(r["apiGroups"]), tuple(r["resources"])): set(r["verbs"]) for r in role["rules"]}


def test_rbac_lets_the_controller_manage_jobs_results_and_case_pods_only() -> None:
    account, role, binding, *_ = manifests.job_controller_rbac("lab")
    assert (account["kind"], role["kind"], binding["kind"]) == ("ServiceAccount", "Role", "RoleBinding")
    assert _rules(role) == {
        (("simulation.ianvs-lab.io",), ("simulationjobs",)): {"get", "list", "watch"},
        (("simulation.ianvs-lab.io",), ("simulationjobs/status",)): {"get", "patch", "update"},
        (("",), ("configmaps",)): {"get", "list", "watch", "create", "update"},
        (("batch",), ("jobs",)): {"get", "list", "watch", "create", "delete"},
        (("",), ("pods",)): {"get", "list", "watch"},
        (("",), ("events",)): {"list"},
        (("",), ("serviceaccounts",)): {"get"},
    }
    assert binding["subjects"][0]["name"] == account["metadata"]["name"]


def test_rbac_lets_a_case_pod_read_its_job_and_write_its_result_only() -> None:
    *_, account, role, binding = manifests.job_controller_rbac("lab")
    assert account["metadata"]["name"] == manifests.CASE_RUNNER_SERVICE_ACCOUNT
    assert _rules(role) == {
        (("simulation.ianvs-lab.io",), ("simulationjobs",)): {"get"},
        (("",), ("configmaps",)): {"get", "create", "update"},
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": manifests.CASE_RUNNER_SERVICE_ACCOUNT, "namespace": "lab"}
    ]


def test_deployment_mounts_workspace_and_host_paths_at_the_same_paths() -> None:
    deployment = manifests.job_controller_deployment("lab", "ianvs-lab/controller:1", "/srv/ws", ["/data", "/plugins"])
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    mounts = {m["mountPath"]: m.get("readOnly", False) for m in container["volumeMounts"]}
    assert mounts == {"/srv/ws": False, "/data": True, "/plugins": True}
    assert container["args"][:2] == ["simulation", "job-controller"]
    assert pod["serviceAccountName"] == manifests.JOB_CONTROLLER_SERVICE_ACCOUNT


def test_deployment_hands_its_folders_network_and_placement_on_to_case_pods() -> None:
    from controller.cli import build_parser
    from controller.simulation.commands import _case_pod_settings

    tolerations = [{"key": "edge", "operator": "Exists", "effect": "NoSchedule"}]
    deployment = manifests.job_controller_deployment(
        "lab",
        "img:1",
        "/srv/ws",
        ["/data", "/my plugins"],
        image_pull_policy="Never",
        host_network=True,
        node_selector={"ianvs-lab.io/role": "cloud"},
        tolerations=tolerations,
        case_kubeconfig="/etc/case.kubeconfig",
        case_resources={"limits": {"nvidia.com/gpu": 1}},
    )
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    args = build_parser().parse_args(container["args"])  # what the controller in the Pod will parse
    settings = _case_pod_settings(args, Path("/srv/ws"))
    assert settings.host_paths == ("/data", "/my plugins")
    assert (settings.host_network, settings.image_pull_policy, settings.kubeconfig) == (
        True,
        "Never",
        "/etc/case.kubeconfig",
    )
    assert settings.node_selector == {"ianvs-lab.io/role": "cloud"}
    assert list(settings.tolerations) == tolerations
    assert settings.resources == {"limits": {"nvidia.com/gpu": 1}}


def _result(**changes: Any) -> CaseResult:
    fields: dict[str, Any] = dict(
        case_id="0123456789ab",
        benchmarking_job="cityscapes-lifelong",
        algorithm="majority-class",
        paradigm="lifelonglearning",
        modules={"basemodel": "Majority"},
        hyperparameters={},
        status="ok",
        metrics={"mIoU": 0.25, "BWT": None},
    )
    return CaseResult(**{**fields, **changes})


def test_a_result_survives_the_configmap_round_trip() -> None:
    result = _result()
    configmap = result_configmap(result, "lab", "f" * 64)
    assert configmap["metadata"]["labels"]["ianvs-lab.io/case-id"] == result.case_id
    assert stored_spec_hash(configmap) == "f" * 64
    assert result_from_configmap(configmap) == result


def test_a_result_too_large_for_a_configmap_is_a_clear_error() -> None:
    result = _result(rounds=[{"blob": "x" * MAX_RESULT_BYTES}])
    with pytest.raises(ClusterError, match="result of case 0123456789ab is .* bytes; a ConfigMap holds at most"):
        result_configmap(result, "lab", "f" * 64)


def test_an_unreadable_result_configmap_names_itself() -> None:
    with pytest.raises(ClusterError, match="ConfigMap broken: not a readable case result"):
        result_from_configmap({"metadata": {"name": "broken"}, "data": {"result.json": "{"}})
