"""The opt-in test node really runs Pods: a kubelet built from source with its own containerd runs images we built.

``scripts/testenv node-up`` (docs/testenv-node.md) adds one tainted Node to the session's control plane; this module
brings it up once and takes it down afterwards. Each test pins one behaviour the controller will rely on when it
runs benchmark workers as Pods: registration and readiness, the taint that keeps other Pods away, a Pod of our base
image running to completion with its log readable through the API (API server -> kubelet), and a Job completing.
A failure carries the Pod's state, its events and the tails of the kubelet and containerd logs.
"""

from __future__ import annotations

from typing import Any

import pytest

from .fixtures import K8s, NodeEnv, poll

pytestmark = pytest.mark.k8s

POD_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def node(k8s_node: NodeEnv) -> NodeEnv:
    return k8s_node


# --------------------------------------------------------------------------------------------- helpers


def explain_pod(k8s: K8s, node: NodeEnv, name: str) -> str:
    """Everything needed to see why a Pod did not finish: phase, container states, events, node-side logs."""
    pod = k8s.core.read_namespaced_pod(name, k8s.namespace)
    states = [f"{s.name}: {s.state}" for s in (pod.status.container_statuses or [])]
    events = k8s.core.list_namespaced_event(k8s.namespace, field_selector=f"involvedObject.name={name}").items
    lines = [f"{e.reason}: {e.message}" for e in events]
    return (
        f"pod {k8s.namespace}/{name} phase={pod.status.phase} node={pod.spec.node_name}\n"
        f"containers: {states}\nevents:\n  " + "\n  ".join(lines) + "\n" + node.log_tails()
    )


def wait_for_default_service_account(k8s: K8s) -> None:
    """A Pod is rejected until the controller manager has created its namespace's "default" ServiceAccount."""
    from kubernetes.client import ApiException

    def exists() -> bool:
        try:
            k8s.core.read_namespaced_service_account("default", k8s.namespace)
            return True
        except ApiException as err:
            if err.status != 404:
                raise
            return False

    if not poll(exists, 30):
        pytest.fail(f"ServiceAccount {k8s.namespace}/default was not created within 30s")


def pod_spec(node: NodeEnv, command: str, tolerate: bool = True) -> Any:
    """A one-container Pod of our base image: never pulled (imported into the node), never restarted."""
    from kubernetes import client

    tolerations = (
        [client.V1Toleration(key=node.taint_key, operator="Exists", effect="NoSchedule")] if tolerate else None
    )
    container = client.V1Container(
        name="main", image=node.image, image_pull_policy="Never", command=["sh", "-c", command]
    )
    return client.V1PodSpec(restart_policy="Never", tolerations=tolerations, containers=[container])


def phase_when_finished(k8s: K8s, name: str) -> str | None:
    phase = k8s.core.read_namespaced_pod(name, k8s.namespace).status.phase
    return phase if phase in ("Succeeded", "Failed") else None


# --------------------------------------------------------------------------------------------- tests


def test_node_registers_and_becomes_ready(k8s: K8s, node: NodeEnv) -> None:
    found = k8s.core.read_node(node.name)
    ready = next(c for c in found.status.conditions if c.type == "Ready")
    assert (ready.status, found.status.node_info.kubelet_version) == ("True", k8s.env.k8s_version), node.log_tails()


def test_node_carries_the_taint_that_keeps_other_pods_away(k8s: K8s, node: NodeEnv) -> None:
    taints = [(t.key, t.value, t.effect) for t in k8s.core.read_node(node.name).spec.taints or []]
    assert (node.taint_key, "true", "NoSchedule") in taints


def test_pod_without_the_toleration_is_not_scheduled_on_the_node(k8s: K8s, node: NodeEnv) -> None:
    from kubernetes import client

    wait_for_default_service_account(k8s)
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name="intolerant"), spec=pod_spec(node, "true", tolerate=False))
    k8s.core.create_namespaced_pod(k8s.namespace, pod)

    def scheduled_condition() -> Any:
        conditions = k8s.core.read_namespaced_pod("intolerant", k8s.namespace).status.conditions or []
        return next((c for c in conditions if c.type == "PodScheduled"), None)

    condition = poll(scheduled_condition, 30)
    assert condition is not None, "kube-scheduler did not report on the Pod within 30s"
    assert (condition.status, condition.reason) == ("False", "Unschedulable")
    assert "untolerated taint" in condition.message


def test_pod_of_our_image_runs_to_succeeded_and_its_log_is_read_through_the_kubelet(k8s: K8s, node: NodeEnv) -> None:
    from kubernetes import client

    wait_for_default_service_account(k8s)
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name="hello"), spec=pod_spec(node, "echo hello-from-pod"))
    k8s.core.create_namespaced_pod(k8s.namespace, pod)

    phase = poll(lambda: phase_when_finished(k8s, "hello"), POD_TIMEOUT_S)
    assert phase == "Succeeded", f"Pod did not succeed within {POD_TIMEOUT_S}s:\n{explain_pod(k8s, node, 'hello')}"
    # Raw bytes: this client version returns str(bytes) ("b'...'") when it decodes a log itself.
    response = k8s.core.read_namespaced_pod_log("hello", k8s.namespace, container="main", _preload_content=False)
    assert response.data.decode() == "hello-from-pod\n"


def test_job_pod_completes_and_the_job_reports_one_success(k8s: K8s, node: NodeEnv) -> None:
    from kubernetes import client

    job = client.V1Job(
        metadata=client.V1ObjectMeta(name="once"),
        spec=client.V1JobSpec(
            backoff_limit=0,
            template=client.V1PodTemplateSpec(spec=pod_spec(node, "test \"$(cat /etc/debian_version)\" != ''")),
        ),
    )
    k8s.batch.create_namespaced_job(k8s.namespace, job)

    def finished() -> Any:
        status = k8s.batch.read_namespaced_job_status("once", k8s.namespace).status
        return status if status.succeeded or status.failed else None

    status = poll(finished, POD_TIMEOUT_S)
    if status is None or status.failed:
        pods = k8s.core.list_namespaced_pod(k8s.namespace, label_selector="batch.kubernetes.io/job-name=once").items
        why = explain_pod(k8s, node, pods[0].metadata.name) if pods else f"no Pod was created\n{node.log_tails()}"
        pytest.fail(f"Job {k8s.namespace}/once did not succeed within {POD_TIMEOUT_S}s:\n{why}")
    assert status.succeeded == 1
