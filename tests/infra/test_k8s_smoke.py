"""Smoke tests proving the Kubernetes test environment is a real control plane, not a mock.

Each test pins one behaviour that a mock would have to fake and that our controller relies on: CRD establishment,
structural-schema validation (422), list+watch from the list's resourceVersion, bookmarks, 410 Gone for an expired
resourceVersion, RBAC (403), and the built-in controllers (Job -> Pod) and scheduler.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from .fixtures import K8s, K8sEnv, poll

WATCH_TIMEOUT_S = 7  # the API server sends a bookmark ~2 s before a watch's deadline; 7 s leaves margin


def wait_until(predicate: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.2) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` when ``timeout_s`` passes."""
    value = poll(predicate, timeout_s, interval_s)
    if not value:
        pytest.fail(f"timed out after {timeout_s}s waiting for {what}")
    return value


def config_map(name: str, labels: dict[str, str] | None = None) -> Any:
    from kubernetes import client

    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels), data={"k": "v"})


# --------------------------------------------------------------------------------------------- CRDs


@dataclass(frozen=True)
class WidgetCRD:
    """A namespaced CRD with one schema rule: ``spec.size`` is a required integer >= 1."""

    group: str
    version: str
    plural: str
    kind: str
    resource_version_before: str  # a cluster resourceVersion taken just before the CRD existed

    def body(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": f"{self.group}/{self.version}",
            "kind": self.kind,
            "metadata": {"name": name},
            "spec": spec,
        }


def _crd_manifest(group: str) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["size"],
                "properties": {"size": {"type": "integer", "minimum": 1}},
            }
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}}],
        },
    }


def _established(apiextensions: Any, name: str) -> bool:
    crd = apiextensions.read_custom_resource_definition(name)
    return any(c.type == "Established" and c.status == "True" for c in (crd.status.conditions or []))


@pytest.fixture(scope="module")
def widget_crd(k8s_env: K8sEnv) -> Iterator[WidgetCRD]:
    """A CRD with a unique group (CRDs are cluster-wide), Established before the first test, deleted after the module.

    Module scope because the API server needs ~3 s to serve a new CRD's first create (handler, cache and OpenAPI
    warm-up); the objects themselves live in each test's own namespace.
    """
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(k8s_env.kubeconfig))
    apiextensions = client.ApiextensionsV1Api(api)
    group = f"w{secrets.token_hex(4)}.smoke.ianvs-lab.io"
    name = f"widgets.{group}"
    before = client.CoreV1Api(api).list_namespace(limit=1).metadata.resource_version
    apiextensions.create_custom_resource_definition(_crd_manifest(group))
    try:
        wait_until(lambda: _established(apiextensions, name), 30, f"CRD {name} to become Established")
        yield WidgetCRD(group=group, version="v1", plural="widgets", kind="Widget", resource_version_before=before)
    finally:
        apiextensions.delete_custom_resource_definition(name)
        api.close()


def test_crd_becomes_established_and_serves_its_resource(k8s: K8s, widget_crd: WidgetCRD) -> None:
    listed = k8s.custom.list_namespaced_custom_object(
        widget_crd.group, widget_crd.version, k8s.namespace, widget_crd.plural
    )
    assert listed["items"] == []


def test_custom_object_matching_the_schema_is_stored(k8s: K8s, widget_crd: WidgetCRD) -> None:
    c = widget_crd
    k8s.custom.create_namespaced_custom_object(c.group, c.version, k8s.namespace, c.plural, c.body("ok", {"size": 3}))
    stored = k8s.custom.get_namespaced_custom_object(c.group, c.version, k8s.namespace, c.plural, "ok")
    assert stored["spec"] == {"size": 3}


@pytest.mark.parametrize(
    ("spec", "message_part"),
    [
        ({}, "spec.size: Required value"),
        ({"size": "big"}, "spec.size in body must be of type integer"),
        ({"size": 0}, "spec.size in body should be greater than or equal to 1"),
    ],
    ids=["missing", "wrong-type", "below-minimum"],
)
def test_custom_object_violating_the_schema_is_rejected_with_422(
    k8s: K8s, widget_crd: WidgetCRD, spec: dict[str, Any], message_part: str
) -> None:
    from kubernetes.client import ApiException

    c = widget_crd
    with pytest.raises(ApiException) as caught:
        k8s.custom.create_namespaced_custom_object(c.group, c.version, k8s.namespace, c.plural, c.body("bad", spec))
    assert caught.value.status == 422
    assert message_part in json.loads(caught.value.body)["message"]


# --------------------------------------------------------------------------------------------- list + watch


def test_watch_from_the_list_resource_version_sees_only_later_changes(k8s: K8s) -> None:
    from kubernetes import watch

    k8s.core.create_namespaced_config_map(k8s.namespace, config_map("before", {"app": "smoke"}))
    listed = k8s.core.list_namespaced_config_map(k8s.namespace, label_selector="app=smoke")
    k8s.core.create_namespaced_config_map(k8s.namespace, config_map("after", {"app": "smoke"}))

    w = watch.Watch()
    events = []
    for event in w.stream(
        k8s.core.list_namespaced_config_map,
        k8s.namespace,
        label_selector="app=smoke",
        resource_version=listed.metadata.resource_version,
        allow_watch_bookmarks=True,
        timeout_seconds=WATCH_TIMEOUT_S,
        _request_timeout=WATCH_TIMEOUT_S + 10,
    ):
        events.append((event["type"], event["object"].metadata.name))
        w.stop()  # the first event is the one under test
    assert [item.metadata.name for item in listed.items] == ["before"]
    assert events == [("ADDED", "after")]


def test_watch_bookmark_reports_progress_past_changes_the_selector_filters_out(k8s: K8s) -> None:
    """Why bookmarks matter: a quiet, filtered watch still learns a recent resourceVersion to resume from."""
    from kubernetes import watch

    listed = k8s.core.list_namespaced_config_map(k8s.namespace, label_selector="app=smoke")
    unmatched = k8s.core.create_namespaced_config_map(k8s.namespace, config_map("unlabelled"))

    w = watch.Watch()
    received: list[tuple[str, str]] = []
    for event in w.stream(
        k8s.core.list_namespaced_config_map,
        k8s.namespace,
        label_selector="app=smoke",
        resource_version=listed.metadata.resource_version,
        allow_watch_bookmarks=True,
        timeout_seconds=WATCH_TIMEOUT_S,
        _request_timeout=WATCH_TIMEOUT_S + 10,
    ):
        obj = event["object"]
        rv = obj["metadata"]["resourceVersion"] if isinstance(obj, dict) else obj.metadata.resource_version
        received.append((event["type"], rv))
        if event["type"] == "BOOKMARK":
            w.stop()
    assert [kind for kind, _ in received] == ["BOOKMARK"]
    # resourceVersions are opaque to clients; comparing them is valid only for this etcd-backed test server.
    assert int(received[0][1]) >= int(unmatched.metadata.resource_version)


def test_watch_from_a_resource_version_older_than_the_watch_cache_is_410_gone(k8s: K8s, widget_crd: WidgetCRD) -> None:
    """The Widget watch cache starts when the CRD is created, so an RV from before that has expired for it."""
    from kubernetes import watch
    from kubernetes.client import ApiException

    c = widget_crd
    with pytest.raises(ApiException) as caught:
        for _ in watch.Watch().stream(
            k8s.custom.list_namespaced_custom_object,
            c.group,
            c.version,
            k8s.namespace,
            c.plural,
            resource_version=c.resource_version_before,
            timeout_seconds=WATCH_TIMEOUT_S,
            _request_timeout=WATCH_TIMEOUT_S + 10,
        ):
            pass
    assert caught.value.status == 410


# --------------------------------------------------------------------------------------------- RBAC


def test_restricted_account_may_list_configmaps_in_its_namespace(k8s: K8s) -> None:
    from kubernetes import client

    core = client.CoreV1Api(k8s.restricted_api())
    listed = core.list_namespaced_config_map(k8s.env.restricted_namespace)
    assert listed.kind == "ConfigMapList"


@pytest.mark.parametrize(
    "attempt",
    [
        pytest.param(
            lambda core, env, own: core.list_namespaced_secret(env.restricted_namespace), id="secrets-in-own-namespace"
        ),
        pytest.param(lambda core, env, own: core.list_namespaced_config_map(own), id="configmaps-in-other-namespace"),
        pytest.param(lambda core, env, own: core.list_namespace(), id="list-namespaces"),
        pytest.param(
            lambda core, env, own: core.delete_namespaced_service_account(
                env.restricted_service_account, env.restricted_namespace
            ),
            id="delete-own-serviceaccount",
        ),
    ],
)
def test_restricted_account_is_forbidden_outside_its_role(k8s: K8s, attempt: Callable[[Any, K8sEnv, str], Any]) -> None:
    from kubernetes import client
    from kubernetes.client import ApiException

    core = client.CoreV1Api(k8s.restricted_api())
    with pytest.raises(ApiException) as caught:
        attempt(core, k8s.env, k8s.namespace)
    assert caught.value.status == 403
    assert (
        f"system:serviceaccount:{k8s.env.restricted_namespace}:{k8s.env.restricted_service_account}"
        in caught.value.body
    )


# --------------------------------------------------------------------------------------------- controllers


def _never_pulled_container() -> Any:
    from kubernetes import client

    # No kubelet runs, so the image is never pulled; `.invalid` guarantees it could not be by accident.
    return client.V1Container(name="main", image="registry.invalid/ianvs-lab/never-pulled:1", command=["true"])


def test_job_controller_creates_the_pod_of_a_job(k8s: K8s) -> None:
    from kubernetes import client

    job = client.V1Job(
        metadata=client.V1ObjectMeta(name="smoke"),
        spec=client.V1JobSpec(
            backoff_limit=0,
            template=client.V1PodTemplateSpec(
                spec=client.V1PodSpec(restart_policy="Never", containers=[_never_pulled_container()])
            ),
        ),
    )
    created = k8s.batch.create_namespaced_job(k8s.namespace, job)

    def job_pods() -> list[Any]:
        return k8s.core.list_namespaced_pod(k8s.namespace, label_selector="batch.kubernetes.io/job-name=smoke").items

    pods = wait_until(job_pods, 30, "kube-controller-manager to create the Job's Pod")
    assert len(pods) == 1
    owner = pods[0].metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.uid) == ("Job", "smoke", created.metadata.uid)


def test_scheduler_marks_a_pod_unschedulable_when_no_node_accepts_it(k8s: K8s) -> None:
    """The control plane alone has no Node; the opt-in test node (scripts/testenv node-up) is tainted, and this Pod
    does not tolerate the taint. Either way the scheduler must refuse to bind it, and say which case it met."""
    from kubernetes import client

    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="waits"), spec=client.V1PodSpec(containers=[_never_pulled_container()])
    )
    k8s.core.create_namespaced_pod(k8s.namespace, pod)

    def scheduled_condition() -> Any:
        conditions = k8s.core.read_namespaced_pod(name="waits", namespace=k8s.namespace).status.conditions or []
        return next((c for c in conditions if c.type == "PodScheduled"), None)

    condition = wait_until(scheduled_condition, 30, "kube-scheduler to report on the Pod")
    assert (condition.status, condition.reason) == ("False", "Unschedulable")
    # "no nodes available to schedule pods" without a node; "0/1 nodes are available: 1 node(s) had untolerated
    # taint ..." with the test node up.
    assert re.match(r"no nodes available to schedule pods|0/\d+ nodes are available", condition.message), (
        condition.message
    )
