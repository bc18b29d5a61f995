"""Fixtures for the simulation runtime: test-case specs from the example job, the CRD on the test control plane,
and clients/kubeconfigs that act as the job controller's own service account (so its RBAC Role is exercised)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from infra.fixtures import K8s

from tests.conftest import keep_algorithms

if TYPE_CHECKING:
    from controller.simulation.job_controller import JobController

FAST = ("pixel-softmax-kb", "majority-class")


@contextlib.contextmanager
def watching(controller: JobController) -> Iterator[JobController]:
    """The controller's watch loop in a thread for the duration of the block; its error, if any, fails the test."""
    errors: list[BaseException] = []
    stop = controller.stop_event = threading.Event()

    def loop() -> None:
        try:
            controller.run_forever()
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield controller
    finally:
        stop.set()
        thread.join(30)
    if errors:
        raise errors[0]


@pytest.fixture
def fast_job(job_dir: Path) -> Path:
    """The example job on the tiny dataset with its two fastest algorithms."""
    keep_algorithms(job_dir, *FAST)
    return job_dir / "benchmarkingjob.yaml"


@pytest.fixture
def specs(fast_job: Path) -> list[Any]:
    from controller.config.loader import load_job
    from controller.plan import build_plan

    return build_plan(load_job(fast_job))


@pytest.fixture(scope="session")
def controller_image(base_images: Any) -> str:
    """``controller simulation build-image`` on the local base image (about a minute; dependencies cached)."""
    import subprocess
    import sys

    tag = "ianvs-lab/controller:test"
    proc = subprocess.run(
        [sys.executable, "-m", "controller", "simulation", "build-image", "--tag", tag, "--base", base_images.base],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == tag
    return tag


@pytest.fixture(scope="session")
def simulation_crd(k8s_env: Any) -> None:
    """The SimulationJob CRD, installed once per session on the test control plane (it is cluster-scoped)."""
    from kubernetes import config

    from controller.simulation.kube import ensure_crd
    from controller.simulation.manifests import crd

    api = config.new_client_from_config(config_file=str(k8s_env.kubeconfig))
    try:
        ensure_crd(api, crd())
    finally:
        api.close()


def _token(k8s: K8s, service_account: str) -> str:
    from kubernetes import client

    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600))
    return k8s.core.create_namespaced_service_account_token(service_account, k8s.namespace, request).status.token


def _admin_cluster(k8s: K8s) -> dict[str, Any]:
    """The admin kubeconfig's cluster entry with the CA embedded, so the file works where the CA file is absent
    (inside a Pod)."""
    import base64

    cluster = dict(yaml.safe_load(k8s.env.kubeconfig.read_text())["clusters"][0]["cluster"])
    ca_file = cluster.pop("certificate-authority", None)
    if ca_file:
        cluster["certificate-authority-data"] = base64.b64encode(Path(ca_file).read_bytes()).decode()
    return cluster


@pytest.fixture
def controller_account(k8s: K8s, simulation_crd: None) -> str:
    """The job controller's (and the case runner's) ServiceAccount, Role and RoleBinding from templates/simulation,
    in the test namespace."""
    from controller.simulation.kube import apply
    from controller.simulation.manifests import JOB_CONTROLLER_SERVICE_ACCOUNT, job_controller_rbac

    for document in job_controller_rbac(k8s.namespace):
        apply(k8s.api, document)
    return JOB_CONTROLLER_SERVICE_ACCOUNT


def _account_api(k8s: K8s, service_account: str) -> Any:
    """An API client authenticated as ``service_account`` of the test namespace."""
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = _admin_cluster(k8s)["server"]
    configuration.ssl_ca_cert = yaml.safe_load(k8s.env.kubeconfig.read_text())["clusters"][0]["cluster"][
        "certificate-authority"
    ]
    token = _token(k8s, service_account)
    # client >= 36 reads "BearerToken", older ones "authorization"; both are set so either works
    configuration.api_key = {"BearerToken": token, "authorization": token}
    configuration.api_key_prefix = {"BearerToken": "Bearer", "authorization": "Bearer"}
    return client.ApiClient(configuration)


def _account_kubeconfig(k8s: K8s, service_account: str, path: Path) -> Path:
    """A kubeconfig file for ``service_account`` (CA embedded, so it also works inside a Pod)."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "testenv", "cluster": _admin_cluster(k8s)}],
        "users": [{"name": service_account, "user": {"token": _token(k8s, service_account)}}],
        "contexts": [
            {
                "name": service_account,
                "context": {"cluster": "testenv", "user": service_account, "namespace": k8s.namespace},
            }
        ],
        "current-context": service_account,
    }
    path.write_text(yaml.safe_dump(document))
    path.chmod(0o600)
    return path


@pytest.fixture
def controller_api(k8s: K8s, controller_account: str) -> Any:
    """An API client authenticated as the job controller's service account."""
    api = _account_api(k8s, controller_account)
    yield api
    api.close()


@pytest.fixture
def controller_kubeconfig(k8s: K8s, controller_account: str, tmp_path: Path) -> Path:
    """A kubeconfig file for the job controller's service account (for `controller simulation job-controller`)."""
    return _account_kubeconfig(k8s, controller_account, tmp_path / "controller.kubeconfig")


@pytest.fixture
def case_runner_api(k8s: K8s, controller_account: str) -> Any:
    """An API client authenticated as the case Pods' service account (its Role comes with the controller's)."""
    from controller.simulation.manifests import CASE_RUNNER_SERVICE_ACCOUNT

    api = _account_api(k8s, CASE_RUNNER_SERVICE_ACCOUNT)
    yield api
    api.close()


@pytest.fixture
def case_runner_kubeconfig(k8s: K8s, controller_account: str, tmp_path: Path) -> Path:
    """A kubeconfig file for the case Pods' service account (mounted into case Pods on the test node)."""
    from controller.simulation.manifests import CASE_RUNNER_SERVICE_ACCOUNT

    return _account_kubeconfig(k8s, CASE_RUNNER_SERVICE_ACCOUNT, tmp_path / "case-runner.kubeconfig")


@pytest.fixture
def custom_algorithm_job(fast_job: Path, tiny_dataset: Path) -> Path:
    """The fast job plus an algorithm of the user's own: a plugin file importing a sibling module and a
    sub-package, beside data that must not end up in an image. The testenv names the dataset by its real path,
    so a case Pod needs only the dataset folder mounted, not the job folder."""
    from tests.conftest import edit_yaml, write

    job_dir = fast_job.parent
    write(
        job_dir / "plugins" / "custom_majority.py",
        """
        from controller import register
        from controller.algorithms.majority import MajorityClassSegmenter

        from helper import GREETING
        from tools.names import NAME

        @register(NAME, kind="basemodel")
        class CustomMajority(MajorityClassSegmenter):
            greeting = GREETING
    """,
    )
    write(job_dir / "plugins" / "helper.py", 'GREETING = "hello from the image"\n')
    write(job_dir / "plugins" / "tools" / "__init__.py", "")
    write(job_dir / "plugins" / "tools" / "names.py", 'NAME = "CustomMajority"\n')
    write(job_dir / "plugins" / "weights" / "model.yaml", "not a package: stays out\n")
    write(job_dir / "plugins" / "notes.txt", "data, not source\n")
    (job_dir / "plugins" / "blob.bin").write_bytes(b"\0" * 1024)
    write(
        job_dir / "algorithm-custom.yaml",
        """
        algorithm:
          paradigm_type: lifelonglearning
          lifelong_learning_data_setting:
            train_ratio: 0.75
          modules:
            - type: basemodel
              name: CustomMajority
              url: ./plugins/custom_majority.py
            - type: task_definition
              name: TaskDefinitionByAttribute
              hyperparameters:
                - attribute: {values: [city]}
            - type: task_allocation
              name: TaskAllocationLatest
    """,
    )
    edit_yaml(
        fast_job,
        lambda d: d["benchmarkingjob"]["test_object"]["algorithms"].append(
            {"name": "custom-majority", "url": "./algorithm-custom.yaml"}
        ),
    )

    def real_paths(doc: dict[str, Any]) -> None:
        dataset = doc["testenv"]["dataset"]
        dataset["train_index"] = str(tiny_dataset / "train-index.txt")
        dataset["test_index"] = str(tiny_dataset / "test-index.txt")

    edit_yaml(job_dir / "testenv.yaml", real_paths)
    return fast_job
