"""A test case's result in a ConfigMap (written by the job controller, harvested by the job administrator).

One ConfigMap per case, ``ianvs-simulation-job-result-<case id>``, labelled with the benchmarking job and the case id so
the administrator list-watches exactly its own results; the spec hash is an annotation, so a result of an older
version of the case is never mistaken for the current one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from controller.errors import ClusterError
from controller.results import CaseResult
from controller.simulation.manifests import (
    LABEL_BENCHMARKING_JOB,
    LABEL_CASE_ID,
    LABEL_COMPONENT,
    RESULT_COMPONENT,
    benchmarking_job_label,
    result_configmap_name,
)

RESULT_KEY = "result.json"
ANNOTATION_SPEC_HASH = "ianvs-lab.io/spec-hash"
# The API server refuses objects over 1 MiB (etcd's request limit); keep room for metadata.
MAX_RESULT_BYTES = 1024 * 1024 - 16 * 1024


def result_configmap(result: CaseResult, namespace: str, spec_hash: str) -> dict[str, Any]:
    payload = json.dumps(result.to_dict(), sort_keys=True, allow_nan=False)
    if len(payload.encode()) > MAX_RESULT_BYTES:
        raise ClusterError(
            f"result of case {result.case_id} is {len(payload.encode())} bytes; a ConfigMap holds at most "
            f"{MAX_RESULT_BYTES} (drop per-round details or use fewer rounds)"
        )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": result_configmap_name(result.case_id),
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/part-of": "ianvs-lab",
                LABEL_COMPONENT: RESULT_COMPONENT,
                LABEL_BENCHMARKING_JOB: benchmarking_job_label(result.benchmarking_job),
                LABEL_CASE_ID: result.case_id,
            },
            "annotations": {ANNOTATION_SPEC_HASH: spec_hash},
        },
        "data": {RESULT_KEY: payload},
    }


def result_from_configmap(configmap: dict[str, Any], wanted_metrics: Iterable[str] = ()) -> CaseResult:
    """The CaseResult stored in a result ConfigMap (a plain dict as the API returns it); ClusterError when it is
    not the record of an ended case, or claims ok without one of ``wanted_metrics`` (the testenv's)."""
    name = configmap.get("metadata", {}).get("name", "?")
    try:
        result = CaseResult.from_dict(json.loads(configmap["data"][RESULT_KEY]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ClusterError(f"ConfigMap {name}: not a readable case result ({exc})") from None
    missing = result.missing_metrics(wanted_metrics) if result.ok else []
    if missing:
        raise ClusterError(
            f"ConfigMap {name}: claims status ok but lacks {', '.join(missing)}, which the testenv asks for"
        )
    return result


def stored_spec_hash(configmap: dict[str, Any]) -> str | None:
    return (configmap.get("metadata", {}).get("annotations") or {}).get(ANNOTATION_SPEC_HASH)


def result_selector(benchmarking_job: str) -> str:
    return f"{LABEL_COMPONENT}={RESULT_COMPONENT},{LABEL_BENCHMARKING_JOB}={benchmarking_job_label(benchmarking_job)}"


def store_result(api: Any, namespace: str, result: CaseResult, spec_hash: str, configmap_name: str) -> None:
    """Create or overwrite the result ConfigMap ``configmap_name`` (the job controller and case Pods write it)."""
    from kubernetes import client

    body = result_configmap(result, namespace, spec_hash)
    body["metadata"]["name"] = configmap_name
    core = client.CoreV1Api(api)
    try:
        core.create_namespaced_config_map(namespace, body)
    except client.ApiException as exc:
        if exc.status != 409:
            raise
        current = core.read_namespaced_config_map(configmap_name, namespace)
        body["metadata"]["resourceVersion"] = current.metadata.resource_version
        core.replace_namespaced_config_map(configmap_name, namespace, body)
