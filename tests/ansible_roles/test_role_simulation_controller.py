"""The simulation_controller role deploys the job controller with kubernetes.core.k8s into the real control plane."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from infra.fixtures import K8s

from controller.simulation import manifests

from .conftest import PlayResult

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = "playbooks/simulation_controller.yml"


def _inventory(tmp_path: Path) -> Path:
    inventory = {
        "lab": {
            "children": {
                "cloud": {
                    "hosts": {
                        "localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
                    }
                }
            }
        }
    }
    path = tmp_path / "hosts.yml"
    path.write_text(json.dumps(inventory))
    return path


@pytest.fixture
def deploy(k8s: K8s, play: Callable[..., PlayResult], tmp_path: Path) -> Callable[..., PlayResult]:
    def run(**extra: Any) -> PlayResult:
        variables = {
            "simulation_controller_kubeconfig": str(k8s.env.kubeconfig),
            "simulation_controller_namespace": k8s.namespace,
            "simulation_controller_image": "ianvs-lab/controller:test",
            "simulation_controller_host_paths": [str(tmp_path / "data")],
            **extra,
        }
        return play(PLAYBOOK, _inventory(tmp_path), extra_vars=variables, timeout_s=300)

    return run


def test_role_constants_match_the_python_controller() -> None:
    role_vars = yaml.safe_load((REPO / "roles/simulation_controller/vars/main.yml").read_text())
    assert role_vars["__simulation_controller_group"] == manifests.GROUP
    assert role_vars["__simulation_controller_version"] == manifests.VERSION
    assert role_vars["__simulation_controller_service_account"] == manifests.JOB_CONTROLLER_SERVICE_ACCOUNT
    assert role_vars["__simulation_controller_crd_name"] == manifests.CRD_NAME
    assert role_vars["__simulation_controller_result_selector"] == (
        f"{manifests.LABEL_COMPONENT}={manifests.RESULT_COMPONENT}"
    )


def test_the_role_deploys_what_the_python_controller_renders(
    k8s: K8s, deploy: Callable[..., PlayResult], tmp_path: Path
) -> None:
    from kubernetes import client

    resources = {"limits": {"nvidia.com/gpu": 1, "memory": "8Gi"}}
    result = deploy(simulation_controller_case_resources=resources)
    assert result.returncode == 0, result.output
    apps = client.AppsV1Api(k8s.api)
    deployed = apps.read_namespaced_deployment("ianvs-simulation-job-controller", k8s.namespace)
    expected = manifests.job_controller_deployment(
        k8s.namespace,
        "ianvs-lab/controller:test",
        "/var/lib/ianvs-lab/workspace",
        [str(tmp_path / "data")],
        case_resources=resources,
    )
    (container,) = deployed.spec.template.spec.containers
    (want,) = expected["spec"]["template"]["spec"]["containers"]
    assert container.image == want["image"] and container.args == want["args"]
    assert [m.mount_path for m in container.volume_mounts] == [m["mountPath"] for m in want["volumeMounts"]]
    assert deployed.spec.template.spec.service_account_name == manifests.JOB_CONTROLLER_SERVICE_ACCOUNT
    crd = client.ApiextensionsV1Api(k8s.api).read_custom_resource_definition(manifests.CRD_NAME)
    assert any(c.type == "Established" and c.status == "True" for c in crd.status.conditions)
    rbac = client.RbacAuthorizationV1Api(k8s.api)
    assert rbac.read_namespaced_role("ianvs-simulation-job-controller", k8s.namespace).rules
    # and the account case Pods run as
    client.CoreV1Api(k8s.api).read_namespaced_service_account(manifests.CASE_RUNNER_SERVICE_ACCOUNT, k8s.namespace)
    assert rbac.read_namespaced_role("ianvs-simulation-case-runner", k8s.namespace).rules


def test_a_second_run_changes_nothing(deploy: Callable[..., PlayResult]) -> None:
    assert deploy().returncode == 0
    again = deploy()
    assert again.returncode == 0, again.output
    assert again.recap()["localhost"]["changed"] == 0, again.output


def test_state_absent_removes_the_deployment_and_its_rights(k8s: K8s, deploy: Callable[..., PlayResult]) -> None:
    from kubernetes import client

    assert deploy().returncode == 0
    removed = deploy(simulation_controller_state="absent")
    assert removed.returncode == 0, removed.output
    with pytest.raises(client.ApiException) as gone:
        client.RbacAuthorizationV1Api(k8s.api).read_namespaced_role("ianvs-simulation-job-controller", k8s.namespace)
    assert gone.value.status == 404


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("simulation_controller_namespace", "Not_A_Label", "simulation_controller_namespace must be a DNS label"),
        (
            "simulation_controller_host_paths",
            ["relative/data"],
            "every simulation_controller_host_paths entry absolute",
        ),
        ("simulation_controller_image_pull_policy", "Sometimes", "simulation_controller_image_pull_policy"),
    ],
)
def test_bad_inputs_are_refused_by_name(
    deploy: Callable[..., PlayResult], variable: str, value: Any, message: str
) -> None:
    result = deploy(**{variable: value})
    assert result.returncode != 0
    assert message in result.output
