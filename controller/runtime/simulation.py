"""The simulation runtime: the same test cases, run by the Simulation Job Controller inside a cluster.

Cases are submitted as SimulationJobs; results come back through ConfigMaps and are written into the local
workspace (``<workspace>/<job>/<case-id>/result.json``) exactly where the local runtime writes them, so the
leaderboard and the report do not know where a case ran. Models and logs stay in the controller's workspace.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.plan import CaseSpec
from controller.results import SPEC_FILE, CaseResult, write_json_atomic, write_result
from controller.runtime.case import case_dir
from controller.runtime.local import Progress, report_progress, reuse_finished
from controller.simulation.case_data import CaseData

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClusterTarget:
    kubeconfig: Path | None = None
    context: str | None = None
    namespace: str = "default"
    image: str = ""
    """run each case in its own Pod of this image (empty: in the job controller's process)"""
    algorithm_images: bool = False
    """build one image per algorithm FROM ``image`` (or the default controller image) and run its cases in it"""
    timeout_s: float = 3600.0
    cleanup: bool = False
    """delete the SimulationJobs and result ConfigMaps once their results are harvested"""
    case_data: CaseData | None = None
    """where case Pods get the files the cases read, when the nodes do not have the controller's folders"""


def run_cases_in_cluster(
    specs: Sequence[CaseSpec],
    workspace: Path,
    target: ClusterTarget,
    *,
    resume: bool = False,
    progress: Progress | None = None,
) -> list[CaseResult]:
    """Results in the order of ``specs`` (as ``run_cases`` returns them)."""
    from controller.simulation.job_admin import JobAdministrator
    from controller.simulation.kube import api_client

    results, pending = reuse_finished(specs, workspace, resume, progress)
    if pending:
        api = api_client(target.kubeconfig, target.context)
        admin = JobAdministrator(api, target.namespace)
        roles = _NodeRoles(api)
        admin.install_crd()
        admin.submit(pending, target.image, _algorithm_images(pending, target), target.case_data)
        log.info(
            "submitted %d simulation job%s to namespace %s; waiting for results",
            len(pending),
            "s"[: len(pending) != 1],
            target.namespace,
        )

        def harvest(spec: CaseSpec, result: CaseResult) -> None:
            local = case_dir(workspace, spec)
            result.provenance = {
                **result.provenance,
                "runtime": {
                    "kind": "simulation",
                    "namespace": target.namespace,
                    "controller_case_dir": result.case_dir,
                },
            }
            case_pod = result.provenance.get("case_pod")
            if isinstance(case_pod, dict) and case_pod.get("node"):
                result.provenance["case_pod"] = {**case_pod, "role": roles.of(str(case_pod["node"]))}
            result.case_dir = str(local)
            write_json_atomic(local / SPEC_FILE, spec.to_dict())  # as a local run leaves it: what the case asked for
            write_result(result, local)
            results[spec.case_id] = result
            report_progress(progress, len(results), len(specs), result, False)

        admin.collect(pending, target.timeout_s, on_result=harvest)
        if target.cleanup:
            admin.delete(pending)
    return [results[spec.case_id] for spec in specs]


def _algorithm_images(specs: Sequence[CaseSpec], target: ClusterTarget) -> dict[str, str]:
    if not target.algorithm_images:
        return {}
    from controller.simulation.algorithm_images import build_algorithm_images
    from controller.simulation.controller_image import DEFAULT_TAG

    images = build_algorithm_images(specs, target.image or DEFAULT_TAG)
    for built in images.values():
        log.info("algorithm %s runs in %s", built.algorithm, built.tag)
    return {algorithm: built.tag for algorithm, built in images.items()}


class _NodeRoles:
    """The lab role (``ianvs-lab/role`` label: cloud or edge) of the node a case Pod ran on, for provenance."""

    def __init__(self, api: Any) -> None:
        self._api = api
        self._roles: dict[str, str] = {}

    def of(self, node: str) -> str:
        if node not in self._roles:
            from kubernetes import client

            try:
                labels = client.CoreV1Api(self._api).read_node(node).metadata.labels or {}
            except client.ApiException as exc:  # e.g. no RBAC to read nodes: provenance without a role
                log.debug("cannot read node %s: %s", node, exc.reason)
                labels = {}
            self._roles[node] = str(labels.get("ianvs-lab/role", ""))
        return self._roles[node]
