"""The Simulation Job Controller: watch SimulationJobs, run each case with ``run_case``, write its result.

Idempotent by case id and spec hash, so a restart, a re-list after 410 Gone or a replayed event never runs a case
twice: a job whose status already records its spec hash as finished is skipped, and a result ConfigMap written
for the same spec hash (a crash between writing the result and the status) only restores the status.
Cases run one at a time, in this process, exactly as ``controller run`` runs them locally.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from controller.plan import CaseSpec
from controller.results import CaseResult
from controller.runtime.case import run_case
from controller.simulation.kube import list_then_watch, reason
from controller.simulation.manifests import GROUP, PLURAL, VERSION, result_configmap_name, spec_hash
from controller.simulation.result_store import result_configmap, result_from_configmap, stored_spec_hash

log = logging.getLogger(__name__)

TERMINAL_PHASES = ("Succeeded", "Failed")
Runner = Callable[[CaseSpec, Path], CaseResult]


@dataclass
class JobController:
    api: Any
    namespace: str
    workspace: Path
    runner: Runner = run_case
    stop_event: threading.Event | None = None
    runs: int = 0
    """cases this controller executed (not counting restored statuses)"""

    def run_once(self) -> int:
        """Reconcile every SimulationJob that exists now, then return how many cases were executed."""
        listed = self._custom().list_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL)
        for item in listed.get("items", []):
            self.reconcile(item)
        return self.runs

    def run_forever(self) -> None:
        """List, then watch, reconciling each added or changed job, until ``stop_event`` is set."""
        stop = self.stop_event or threading.Event()
        log.info("job controller: watching %s in namespace %s, workspace %s", PLURAL, self.namespace, self.workspace)
        custom = self._custom()
        for event in list_then_watch(
            custom.list_namespaced_custom_object, stop=stop.is_set, server_timeout_s=10,
            group=GROUP, version=VERSION, namespace=self.namespace, plural=PLURAL,
        ):
            if event.type in ("ADDED", "MODIFIED"):
                self.reconcile(event.object)

    # ------------------------------------------------------------------------------------------ reconcile

    def reconcile(self, job: dict[str, Any]) -> None:
        name = job["metadata"]["name"]
        spec = job.get("spec") or {}
        status = job.get("status") or {}
        wanted = spec.get("specHash", "")
        if status.get("phase") in TERMINAL_PHASES and status.get("observedSpecHash") == wanted:
            return
        configmap_name = spec.get("resultConfigMap") or result_configmap_name(spec.get("caseId", name))
        stored = self._read_configmap(configmap_name)
        if stored is not None and stored_spec_hash(stored) == wanted:
            log.info("%s: result already stored in %s; restoring the status", name, configmap_name)
            self._finish(name, result_from_configmap(stored), wanted, configmap_name)
            return
        result = self._execute(name, spec, wanted)
        self._store(result, wanted, configmap_name)
        self._finish(name, result, wanted, configmap_name)

    def _execute(self, name: str, spec: dict[str, Any], wanted: str) -> CaseResult:
        try:
            case = CaseSpec.from_dict(spec["case"])
        except (KeyError, TypeError, ValueError) as exc:
            return _rejected(spec, f"spec.case is not a test case: {type(exc).__name__}: {exc}")
        if case.case_id != spec.get("caseId") or spec_hash(case) != wanted:
            return _rejected(spec, "spec.case does not match spec.caseId/spec.specHash (edited by hand?)")
        self._patch_status(name, {"phase": "Running", "startTime": _now(), "observedSpecHash": wanted, "message": ""})
        log.info("%s: running case %s (%s)", name, case.case_id, case.algorithm)
        self.runs += 1
        return self.runner(case, self.workspace)

    def _store(self, result: CaseResult, wanted: str, configmap_name: str) -> None:
        from kubernetes import client

        body = result_configmap(result, self.namespace, wanted)
        body["metadata"]["name"] = configmap_name
        core = client.CoreV1Api(self.api)
        try:
            core.create_namespaced_config_map(self.namespace, body)
        except client.ApiException as exc:
            if exc.status != 409:
                raise
            current = core.read_namespaced_config_map(configmap_name, self.namespace)
            body["metadata"]["resourceVersion"] = current.metadata.resource_version
            core.replace_namespaced_config_map(configmap_name, self.namespace, body)

    def _finish(self, name: str, result: CaseResult, wanted: str, configmap_name: str) -> None:
        phase = "Succeeded" if result.ok else "Failed"
        message = result.error or ", ".join(
            f"{k}={v:.4f}" for k, v in list(result.metrics.items())[:3] if isinstance(v, float)
        )
        self._patch_status(name, {
            "phase": phase, "message": message, "observedSpecHash": wanted,
            "completionTime": _now(), "resultConfigMap": configmap_name,
        })
        log.info("%s: %s %s", name, phase, message)

    # ------------------------------------------------------------------------------------------ API calls

    def _custom(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.api)

    def _patch_status(self, name: str, status: dict[str, Any]) -> None:
        from kubernetes import client

        try:
            self._custom().patch_namespaced_custom_object_status(
                GROUP, VERSION, self.namespace, PLURAL, name, {"status": status}
            )
        except client.ApiException as exc:
            if exc.status == 404:  # deleted while it ran: nothing to report to
                log.info("%s: deleted before its status could be set", name)
                return
            log.error("%s: cannot set status: %s", name, reason(exc))
            raise

    def _read_configmap(self, name: str) -> dict[str, Any] | None:
        from kubernetes import client

        core = client.CoreV1Api(self.api)
        try:
            return self.api.sanitize_for_serialization(core.read_namespaced_config_map(name, self.namespace))
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise


def _rejected(spec: dict[str, Any], error: str) -> CaseResult:
    """A failed result for a job that cannot run, so the administrator hears about it instead of waiting."""
    return CaseResult(
        case_id=str(spec.get("caseId", "")), job=str(spec.get("benchmark", "")),
        algorithm=str(spec.get("algorithm", "")), paradigm="", modules={}, hyperparameters={},
        status="failed", error=error,
    )


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
