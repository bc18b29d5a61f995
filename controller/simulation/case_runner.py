"""What a case Pod runs (``controller simulation run-case``): read its SimulationJob, run the case with the same
``run_case`` as every other runtime, and write the result ConfigMap the administrator harvests.

A case that fails is a result like any other (status "failed", exit code 0). Only a runner that cannot read its
job or write its result exits non-zero; the job controller then reports the Pod's last log line as the reason.
A case Pod stopped by a signal (its Pod deleted or evicted: SIGTERM) writes its interrupted record, so the job
fails with that reason, and exits 130; ``controller run --resume`` runs it again.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from controller.errors import ClusterError
from controller.results import CaseResult
from controller.runtime.case import Runner, run_case
from controller.runtime.interrupt import Interrupted
from controller.simulation.case_data import DEFAULT_DATA_CACHE, materialise
from controller.simulation.kube import reason
from controller.simulation.manifests import GROUP, PLURAL, VERSION
from controller.simulation.result_store import store_result
from controller.simulation.simulation_job import SimulationJob

log = logging.getLogger(__name__)


def run_job_case(
    api: Any,
    namespace: str,
    name: str,
    workspace: Path,
    runner: Runner = run_case,
    data_cache: Path = Path(DEFAULT_DATA_CACHE),
) -> CaseResult:
    from kubernetes import client

    try:
        job = SimulationJob.from_object(
            client.CustomObjectsApi(api).get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        )
    except client.ApiException as exc:
        raise ClusterError(f"SimulationJob {namespace}/{name}: {reason(exc)}") from None
    data: dict[str, Any] = {}
    try:
        case = job.test_case()
        if job.case_data is not None:
            data = _fetch_case_data(job, data_cache)
        job.check_files()
    except ValueError as exc:
        result = _with_data(job.failed_result(str(exc)), data)
    else:
        log.info(
            "%s: running case %s (%s) in Pod %s", name, case.case_id, case.algorithm, os.environ.get("HOSTNAME", "?")
        )
        try:
            result = runner(case, workspace)
        except Interrupted as stopped:
            for record in stopped.cases:
                _store(api, job, _with_data(_in_pod(record, job), data))
            raise
        result = _with_data(_in_pod(result, job), data)
    _store(api, job, result)
    return result


def _in_pod(result: CaseResult, job: SimulationJob) -> CaseResult:
    result.provenance = {
        **result.provenance,
        "case_pod": {
            "image": job.image,
            "pod": os.environ.get("HOSTNAME", ""),
            "node": os.environ.get("NODE_NAME", ""),
        },
    }
    return result


def _fetch_case_data(job: SimulationJob, cache: Path) -> dict[str, Any]:
    """The job's case data in the node's cache and linked where the case reads it; its provenance."""
    assert job.case_data is not None
    log.info("%s: case data %s into %s", job.name, job.case_data.url, cache)
    done = materialise(job.case_data, cache)
    log.info("%s: case data %s at %s", job.name, "fetched" if done.fetched else "found in the node's cache", done.path)
    return done.provenance(job.case_data)


def _with_data(result: CaseResult, data: dict[str, Any]) -> CaseResult:
    if data:
        result.provenance = {**result.provenance, "case_data": data}
    return result


def _store(api: Any, job: SimulationJob, result: CaseResult) -> None:
    from kubernetes import client

    try:
        store_result(api, job.namespace, result, job.spec_hash, job.result_configmap_name)
    except client.ApiException as exc:
        raise ClusterError(
            f"cannot write result ConfigMap {job.namespace}/{job.result_configmap_name}: {reason(exc)}"
        ) from None
    log.info("%s: %s%s", job.name, result.status, f" ({result.error})" if result.error else "")
