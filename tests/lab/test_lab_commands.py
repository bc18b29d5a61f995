"""`controller lab check|up`: the Simulation System Administrator runs the playbooks through ansible-runner."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_roles.conftest import host_state, write_inventory
from infra.fixtures import DockerEngine, LabHost

from controller.errors import ConfigError
from controller.lab.commands import parse_extra_vars
from controller.lab.runner import run_playbook
from tests.conftest import edit_yaml

CONTROLLER = [sys.executable, "-m", "controller"]
RELAXED = ["-e", "host_check_min_memory_mb=512", "-e", "host_check_min_disk_gb=1", "-e", "host_check_min_cpus=1"]


def _lab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CONTROLLER, "lab", *args], capture_output=True, text=True, timeout=900)


def test_check_prints_every_check_of_every_host_and_passes() -> None:
    proc = _lab("check", *RELAXED)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["host", "check", "value", "required", "ok"]
    assert [line.split()[1] for line in lines[1:]] == ["cpus", "memory_mb", "disk_gb", "os_family"]
    assert all(line.split()[-1] == "yes" for line in lines[1:])


def test_a_failed_check_is_named_and_exits_1() -> None:
    proc = _lab("check", "-e", "host_check_min_cpus=4096")
    assert proc.returncode == 1
    assert "error: localhost: cpus is" in proc.stderr and "needs 4096" in proc.stderr


REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("inventory", "extra", "expected"),
    [
        ("inventories/multi-host", {}, True),
        ("inventories/single-host", {}, False),
        ("inventories/multi-host", {"lab_kube_cluster": False}, False),
    ],
)
def test_an_inventory_that_makes_a_kubeadm_cluster_is_recognised(
    inventory: str, extra: dict[str, Any], expected: bool
) -> None:
    from controller.lab.commands import builds_kube_cluster

    assert builds_kube_cluster(REPO / inventory, extra) is expected


def test_down_of_a_kubeadm_lab_takes_its_machines_out_of_the_cluster(tmp_path: Path) -> None:
    # a machine that cannot be reached: the teardown is tried on it and names it, nothing else is touched
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "lab": {
                    "vars": {"lab_kube_cluster": True, "ansible_connection": "community.docker.docker"},
                    "children": {"cloud": {"hosts": {"gone-1": {"ansible_host": "ianvs-lab-no-such-container"}}}},
                }
            }
        )
    )
    proc = _lab("down", "-i", str(inventory))
    assert proc.returncode == 1
    assert "from " + str(inventory) + " (playbooks/teardown.yml)" in proc.stderr
    assert "gone-1: ok=1 changed=0 failed=0 unreachable=1" in proc.stderr  # ok: the role's argument check
    assert "error: gone-1: Kube reset | Look for kubeadm's state:" in proc.stderr


def test_status_of_a_multi_host_lab_that_is_not_up_says_so_and_exits_1(job_dir: Path, tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all: {}\n")
    job = job_dir / "benchmarkingjob-sim.yaml"
    edit_yaml(job, lambda d: d["benchmarkingjob"]["simulation"].update(inventory=str(inventory), cluster_name="absent"))
    proc = subprocess.run(
        [*CONTROLLER, "lab", "status", str(job)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")},
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines()[0].split() == ["node", "role", "ready"]
    assert f"(no kubeconfig at {tmp_path / 'state' / 'ianvs-lab' / 'labs' / 'absent' / 'kubeconfig'}" in proc.stdout


def test_a_missing_inventory_is_bad_input() -> None:
    proc = _lab("check", "-i", "/nonexistent/inventory")
    assert proc.returncode == 2
    assert "error: /nonexistent/inventory: no such inventory file or folder" in proc.stderr


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["a=1"], {"a": 1}),
        (["flag=true", "name=lab"], {"flag": True, "name": "lab"}),
        (["paths=[/a, /b]"], {"paths": ["/a", "/b"]}),
        (["empty="], {"empty": ""}),
        (["a=1", "a=2"], {"a": 2}),
    ],
)
def test_extra_vars_are_parsed_like_ansible_playbook_does(values: list[str], expected: dict[str, Any]) -> None:
    assert parse_extra_vars(values) == expected


def test_extra_vars_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "vars.yml").write_text("docker_users: [lab]\n")
    assert parse_extra_vars([f"@{tmp_path / 'vars.yml'}"]) == {"docker_users": ["lab"]}


@pytest.mark.parametrize("value", ["novalue", "1a=2", "=x"])
def test_malformed_extra_vars_are_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="expected VAR=VALUE or @FILE"):
        parse_extra_vars([value])


def test_no_runner_files_and_no_secret_are_left_behind(tmp_path: Path) -> None:
    before = set(glob.glob(f"{tempfile.gettempdir()}/ianvs-lab-ansible-*"))
    run = run_playbook(
        "playbooks/host_check.yml",
        Path("inventories/single-host").resolve(),
        extravars={"host_check_min_memory_mb": 512, "host_check_min_disk_gb": 1, "lab_api_token": "s3cr3t-t0ken-value"},
    )
    assert run.ok, run
    assert set(glob.glob(f"{tempfile.gettempdir()}/ianvs-lab-ansible-*")) == before
    assert run.stats["localhost"]["failed"] == 0 and run.stats["localhost"]["ok"] > 0


def test_an_unreachable_host_is_reported_as_such(docker_engine: DockerEngine, tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "lab": {
                    "hosts": {
                        "ghost": {
                            "ansible_connection": "community.docker.docker",
                            "ansible_host": "no-such-container-ianvs-lab",
                        }
                    }
                }
            }
        )
    )
    run = run_playbook("playbooks/host_check.yml", inventory)
    assert not run.ok
    (failure,) = run.failures
    assert failure.host == "ghost" and failure.unreachable
    assert failure.task == "Gathering Facts" and failure.message.startswith("Task failed")


def test_up_builds_a_lab_host_and_a_second_run_changes_nothing(
    labhosts: Callable[..., list[LabHost]], local_apt_repo: Callable[..., Path], kind_binary: Path, tmp_path: Path
) -> None:
    (host,) = labhosts(1, apt_repo=local_apt_repo("docker.io"))
    inventory = write_inventory(tmp_path / "hosts.yml", {"cloud": [host]}, {"ansible_become": True})
    (tmp_path / "vars.yml").write_text(
        yaml.safe_dump(
            {
                "docker_daemon_options": {"storage-driver": "vfs"},
                "kind_binary_src": str(kind_binary),
                "host_check_min_memory_mb": 512,
                "host_check_min_disk_gb": 1,
                "host_check_min_cpus": 1,
            }
        )
    )
    first = _lab("up", "-i", str(inventory), "-e", f"@{tmp_path / 'vars.yml'}")
    assert first.returncode == 0, first.stderr
    state = host_state(host)
    assert state.package("docker.io").is_installed and state.service("docker").is_running
    assert state.check_output("docker info --format %s", "{{.Driver}}") == "vfs"
    assert state.check_output("kind version").startswith("kind v")
    second = _lab("up", "-i", str(inventory), "-e", f"@{tmp_path / 'vars.yml'}")
    assert second.returncode == 0, second.stderr
    assert "labhost-1: ok=" in second.stderr and " changed=0 " in second.stderr


@pytest.fixture
def restore_simulation_crd(k8s: Any) -> Any:
    """`lab down --purge` deletes the cluster-wide CRD that other tests share: put it back afterwards."""
    yield
    from controller.simulation.kube import ensure_crd
    from controller.simulation.manifests import crd

    ensure_crd(k8s.api, crd())


def _deploy_vars(k8s: Any) -> list[str]:
    return [
        "-e",
        f"simulation_controller_kubeconfig={k8s.env.kubeconfig}",
        "-e",
        f"simulation_controller_namespace={k8s.namespace}",
    ]


def test_deploy_then_down_purge_leaves_nothing_of_the_simulation_runtime(
    k8s: Any, restore_simulation_crd: None, job_dir: Path
) -> None:
    from kubernetes import client

    from controller.config.loader import load_job
    from controller.plan import build_plan
    from controller.results import CaseResult
    from controller.simulation.job_admin import JobAdministrator
    from controller.simulation.manifests import CRD_NAME
    from controller.simulation.result_store import result_configmap

    deployed = _lab("deploy", *_deploy_vars(k8s))
    assert deployed.returncode == 0, deployed.stderr
    assert client.AppsV1Api(k8s.api).read_namespaced_deployment("ianvs-simulation-job-controller", k8s.namespace)
    spec = build_plan(load_job(job_dir / "benchmarkingjob.yaml"))[0]
    JobAdministrator(k8s.api, k8s.namespace).submit([spec])
    result = CaseResult(
        case_id=spec.case_id,
        benchmarking_job=spec.benchmarking_job,
        algorithm=spec.algorithm,
        paradigm=spec.paradigm,
        modules={},
        hyperparameters={},
        status="ok",
        metrics={"mIoU": 0.5},
    )
    k8s.core.create_namespaced_config_map(k8s.namespace, result_configmap(result, k8s.namespace, "f" * 64))

    removed = _lab("down", "--purge", *_deploy_vars(k8s))
    assert removed.returncode == 0, removed.stderr
    with pytest.raises(client.ApiException) as gone:
        client.AppsV1Api(k8s.api).read_namespaced_deployment("ianvs-simulation-job-controller", k8s.namespace)
    assert gone.value.status == 404
    with pytest.raises(client.ApiException) as gone:
        client.ApiextensionsV1Api(k8s.api).read_custom_resource_definition(CRD_NAME)
    assert gone.value.status == 404
    assert (
        k8s.core.list_namespaced_config_map(
            k8s.namespace, label_selector="ianvs-lab.io/component=simulation-job-result"
        ).items
        == []
    )
    again = _lab("down", "--purge", *_deploy_vars(k8s))
    assert again.returncode == 0, again.stderr
    assert "changed=0" in again.stderr


def test_down_without_purge_keeps_the_jobs_and_results(k8s: Any) -> None:
    from kubernetes import client

    from controller.simulation.manifests import CRD_NAME

    assert _lab("deploy", *_deploy_vars(k8s)).returncode == 0
    removed = _lab("down", *_deploy_vars(k8s))
    assert removed.returncode == 0, removed.stderr
    assert client.ApiextensionsV1Api(k8s.api).read_custom_resource_definition(CRD_NAME)
    with pytest.raises(client.ApiException) as gone:
        client.RbacAuthorizationV1Api(k8s.api).read_namespaced_role("ianvs-simulation-case-runner", k8s.namespace)
    assert gone.value.status == 404
