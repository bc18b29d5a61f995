"""Kubernetes plumbing shared by the job administrator and the job controller.

The Python client has no informer, so ``list_then_watch`` implements the documented pattern: list, watch from the
list's resourceVersion with bookmarks and a server-side timeout, resume from the last seen resourceVersion after a
timeout or a dropped connection, and list again on 410 Gone (handlers must be idempotent: a re-list replays every
object as ADDED).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.errors import ClusterError

log = logging.getLogger(__name__)

WATCH_SERVER_TIMEOUT_S = 60
# Client socket timeout: longer than the server-side timeout, so a silently dropped connection cannot hang forever.
WATCH_CLIENT_TIMEOUT_S = WATCH_SERVER_TIMEOUT_S + 15


def api_client(kubeconfig: Path | None = None, context: str | None = None) -> Any:
    """A client from ``kubeconfig`` (or $KUBECONFIG / ~/.kube/config), or the in-cluster service account."""
    from kubernetes import config

    if kubeconfig is None and _in_cluster():
        config.load_incluster_config()
        from kubernetes import client

        return client.ApiClient()
    try:
        return config.new_client_from_config(config_file=str(kubeconfig) if kubeconfig else None, context=context)
    except (config.ConfigException, OSError) as exc:
        where = kubeconfig or "$KUBECONFIG or ~/.kube/config"
        raise ClusterError(f"{where}: cannot load a kubeconfig: {exc}") from None


def api_server_url(kubeconfig: Path, context: str | None = None) -> str:
    """The API server URL of ``kubeconfig``'s current (or named) context."""
    import yaml

    try:
        data = yaml.safe_load(kubeconfig.read_text()) or {}
        name = context or data.get("current-context")
        cluster = next(c["context"]["cluster"] for c in data["contexts"] if c["name"] == name)
        return str(next(c["cluster"]["server"] for c in data["clusters"] if c["name"] == cluster))
    except (OSError, yaml.YAMLError, KeyError, TypeError, StopIteration) as exc:
        raise ClusterError(f"{kubeconfig}: no API server for context {context or '(current)'}: {exc!r}") from None


def _in_cluster() -> bool:
    return Path("/var/run/secrets/kubernetes.io/serviceaccount/token").is_file()


@dataclass(frozen=True)
class NodeState:
    role: str  # the ianvs-lab/role label, "-" without one
    ready: bool


def node_states(kubeconfig: Path) -> dict[str, NodeState]:
    """Every node the API server of `kubeconfig` knows, by name; raises what the client raises when it does not
    answer within 10 s."""
    from kubernetes import client

    nodes = client.CoreV1Api(api_client(kubeconfig)).list_node(_request_timeout=10).items
    return {
        node.metadata.name: NodeState(
            role=(node.metadata.labels or {}).get("ianvs-lab/role", "-"),
            ready=any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or []),
        )
        for node in nodes
    }


def reason(exc: BaseException) -> str:
    """The API server's message of an ApiException (its JSON Status), else the exception text."""
    import json

    body = getattr(exc, "body", None)
    if body:
        try:
            return str(json.loads(body).get("message") or body)
        except (ValueError, AttributeError):
            return str(body)
    return f"{type(exc).__name__}: {exc}"


def ensure_crd(api: Any, document: dict[str, Any], timeout_s: float = 60) -> None:
    """Create or update a CRD, then wait until it is Established (before that, its resources answer 404)."""
    from kubernetes import client

    ext = client.ApiextensionsV1Api(api)
    name = document["metadata"]["name"]
    try:
        try:
            ext.create_custom_resource_definition(document)
            log.info("created CustomResourceDefinition %s", name)
        except client.ApiException as exc:
            if exc.status != 409:
                raise
            # An update with identical content is a no-op for the API server (no new resourceVersion).
            current = ext.read_custom_resource_definition(name)
            body = {
                **document,
                "metadata": {**document["metadata"], "resourceVersion": current.metadata.resource_version},
            }
            ext.replace_custom_resource_definition(name, body)
    except client.ApiException as exc:
        raise ClusterError(f"CustomResourceDefinition {name}: {reason(exc)}") from None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = ext.read_custom_resource_definition(name).status
        if any(c.type == "Established" and c.status == "True" for c in (status.conditions or [])):
            return
        time.sleep(0.2)
    raise ClusterError(f"CustomResourceDefinition {name} not Established after {timeout_s:.0f}s")


def apply(api: Any, document: dict[str, Any]) -> None:
    """Create a namespaced or cluster object, or replace it when it exists (idempotent)."""
    from kubernetes import client, dynamic

    resources = dynamic.DynamicClient(api).resources
    kind, api_version = document["kind"], document["apiVersion"]
    meta = document["metadata"]
    resource = resources.get(api_version=api_version, kind=kind)
    namespace = meta.get("namespace")
    try:
        resource.create(body=document, namespace=namespace)
    except client.ApiException as exc:
        if exc.status != 409:
            raise ClusterError(f"{kind} {namespace + '/' if namespace else ''}{meta['name']}: {reason(exc)}") from None
        current = resource.get(name=meta["name"], namespace=namespace)
        body = {**document, "metadata": {**meta, "resourceVersion": current.metadata.resourceVersion}}
        resource.replace(body=body, namespace=namespace)


@dataclass(frozen=True)
class Event:
    type: str  # ADDED | MODIFIED | DELETED (a re-list replays every object as ADDED)
    object: dict[str, Any]


def list_then_watch(
    list_fn: Callable[..., Any],
    *,
    stop: Callable[[], bool],
    server_timeout_s: int = WATCH_SERVER_TIMEOUT_S,
    **kwargs: Any,
) -> Iterator[Event]:
    """Every object of ``list_fn(**kwargs)`` as ADDED, then the changes, until ``stop()`` is true.

    ``list_fn`` is a list call of the client that returns plain dicts (CustomObjectsApi) or models (CoreV1Api);
    objects are yielded as dicts in both cases.
    """
    from kubernetes import client, watch
    from urllib3.exceptions import HTTPError

    serializer = client.ApiClient()
    resource_version: str | None = None
    while not stop():
        if resource_version is None:
            listed = _as_dict(serializer, list_fn(**kwargs))
            resource_version = listed["metadata"]["resourceVersion"]
            for item in listed.get("items", []):
                yield Event("ADDED", item)
                if stop():
                    return
        watcher = watch.Watch()
        try:
            for raw in watcher.stream(
                list_fn,
                resource_version=resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=server_timeout_s,
                _request_timeout=server_timeout_s + 15,
                **kwargs,
            ):
                obj = _as_dict(serializer, raw["object"])
                resource_version = obj.get("metadata", {}).get("resourceVersion") or resource_version
                if raw["type"] != "BOOKMARK":
                    yield Event(raw["type"], obj)
                if stop():
                    watcher.stop()
                    return
        except client.ApiException as exc:
            if exc.status != 410:
                raise
            log.info("watch: resourceVersion %s expired (410 Gone); listing again", resource_version)
            resource_version = None
        except HTTPError as exc:  # dropped connection or socket timeout: resume where we were
            log.info("watch interrupted (%s); resuming from resourceVersion %s", type(exc).__name__, resource_version)
            time.sleep(0.5)


def _as_dict(serializer: Any, obj: Any) -> dict[str, Any]:
    return obj if isinstance(obj, dict) else serializer.sanitize_for_serialization(obj)
