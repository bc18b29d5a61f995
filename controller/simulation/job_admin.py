"""The Simulation Job Administrator: submit test cases as SimulationJobs and harvest their results.

Submission is idempotent: a job that already exists with the same spec hash is left alone (its result, if any,
is reused) unless it failed (or was interrupted): that one runs again, as a local `--resume` reruns every case
that is not a finished success; one with another hash is replaced. Results are harvested by list-watching the result ConfigMaps of
the benchmarking job (label selector), accepting only those written for the submitted spec hash.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from controller.errors import ClusterError
from controller.plan import CaseSpec
from controller.results import STATUS_FAILED, CaseResult
from controller.runtime.case import case_result
from controller.simulation.case_data import CaseData
from controller.simulation.case_pods import case_job_name
from controller.simulation.kube import ensure_crd, list_then_watch, reason
from controller.simulation.manifests import (
    GROUP,
    LABEL_BENCHMARKING_JOB,
    LABEL_CASE_ID,
    PLURAL,
    VERSION,
    benchmarking_job_label,
    crd,
    result_configmap_name,
)
from controller.simulation.result_store import result_from_configmap, result_selector, stored_spec_hash
from controller.simulation.simulation_job import FAILED, PENDING, SimulationJob, job_name, spec_hash, status_patch

log = logging.getLogger(__name__)

OnResult = Callable[[CaseSpec, CaseResult], None]
SUBMIT_THREADS = 4
# After this long without any job controller touching a submitted job, warn (the timeout may be an hour away).
UNATTENDED_AFTER_S = 60.0


@dataclass
class JobAdministrator:
    api: Any
    namespace: str
    unattended_after_s: float = UNATTENDED_AFTER_S

    def install_crd(self) -> None:
        try:
            ensure_crd(self.api, crd())
        except ClusterError as exc:
            raise ClusterError(
                f"{exc} (installing the CRD needs cluster-admin rights; an admin can run "
                "`controller simulation manifests | kubectl apply -f -` once)"
            ) from None

    def submit(
        self,
        specs: Sequence[CaseSpec],
        image: str = "",
        images: Mapping[str, str] | None = None,
        case_data: CaseData | None = None,
    ) -> None:
        """``image`` for every case, or ``images[algorithm]`` where given (no image: the controller runs the case);
        ``case_data``: where the case Pods get the files the cases read (nodes without the controller's folders).

        One list call finds the jobs that exist already, so resubmitting a benchmarking job costs one request, not one
        per case; new jobs are created by a few threads (each create waits on the API server's validation and
        etcd write: 4 in flight measured 5x faster than 1, benchmarks/simulation_bench.py)."""
        from kubernetes import client

        custom = client.CustomObjectsApi(self.api)
        existing = {job.name: job for job in map(SimulationJob.from_object, self.list_jobs())}
        reused, new = 0, []
        for spec in specs:
            job = SimulationJob.of_case(spec, self.namespace, (images or {}).get(spec.algorithm, image), case_data)
            current = existing.get(job.name)
            if current is None:
                new.append(job)
            else:
                reused += self._replace_if_changed(custom, current, job)
        if new:
            with ThreadPoolExecutor(max_workers=min(SUBMIT_THREADS, len(new)), thread_name_prefix="submit") as pool:
                reused += sum(pool.map(lambda job: self._create(custom, job), new))
        if reused:
            log.info(
                "%d SimulationJob%s in %s exist for the same spec; reusing them",
                reused,
                "s"[: reused != 1],
                self.namespace,
            )

    def _create(self, custom: Any, job: SimulationJob) -> bool:
        """Create a job; True when it turned out to exist for the same spec (created since the list)."""
        from kubernetes import client

        try:
            custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, job.to_manifest())
            log.info("submitted SimulationJob %s/%s (%s)", self.namespace, job.name, job.algorithm)
            return False
        except client.ApiException as exc:
            if exc.status != 409:
                raise ClusterError(f"SimulationJob {self.namespace}/{job.name}: {reason(exc)}") from None
        current = custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, job.name)
        return self._replace_if_changed(custom, SimulationJob.from_object(current), job)

    def _replace_if_changed(self, custom: Any, current: SimulationJob, job: SimulationJob) -> bool:
        """True when ``current`` already is the job for this spec (nothing to do)."""
        if current.spec_hash == job.spec_hash:
            if current.status.phase != FAILED:
                return True  # bounds are no part of the hash: a case that ran (or runs) is not redone for them
            # a failed case rerun under other bounds, or with its data served elsewhere, must carry them to its Pod
            if current.bounds != job.bounds or current.case_data != job.case_data:
                body = job.to_manifest()
                body["metadata"]["resourceVersion"] = current.resource_version
                custom.replace_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, job.name, body)
            self._rerun(custom, current)
            return False
        body = job.to_manifest()
        body["metadata"]["resourceVersion"] = current.resource_version
        custom.replace_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, job.name, body)
        # The old status described the old spec: clear it so the controller runs the new one.
        custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, self.namespace, PLURAL, job.name, status_patch(phase=PENDING, observed_spec_hash="")
        )
        log.info("SimulationJob %s/%s replaced (the case changed)", self.namespace, job.name)
        return False

    def _rerun(self, custom: Any, job: SimulationJob) -> None:
        """Run a failed job again: its result and its last case Job go, its status goes back to Pending."""
        from kubernetes import client

        core, batch = client.CoreV1Api(self.api), client.BatchV1Api(self.api)
        _delete_if_present(
            f"SimulationJob {self.namespace}/{job.name}: cannot reset it to run again",
            partial(core.delete_namespaced_config_map, job.result_configmap_name, self.namespace),
            # Foreground: the Job stays until its Pods are gone, so the rerun's Pods are never confused with them
            partial(
                batch.delete_namespaced_job,
                case_job_name(job.name, job.spec_hash),
                self.namespace,
                propagation_policy="Foreground",
            ),
        )
        custom.patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            job.name,
            status_patch(
                phase=PENDING,
                observed_spec_hash="",
                message=f"runs again (last attempt: {job.status.message or 'failed'})",
            ),
        )
        log.info("SimulationJob %s/%s failed before; running it again", self.namespace, job.name)

    def collect(
        self, specs: Sequence[CaseSpec], timeout_s: float, on_result: OnResult | None = None
    ) -> dict[str, CaseResult]:
        """Results by case id, as the job controller writes them; raises ClusterError naming the cases still
        missing after ``timeout_s``."""
        from kubernetes import client

        if not specs:
            return {}
        submitted = {spec.case_id: (spec, spec_hash(spec)) for spec in specs}
        results: dict[str, CaseResult] = {}
        deadline = time.monotonic() + timeout_s
        core = client.CoreV1Api(self.api)

        def done() -> bool:
            return len(results) == len(submitted) or time.monotonic() >= deadline

        benchmarking_job = specs[0].benchmarking_job
        watchdog = threading.Timer(
            min(self.unattended_after_s, timeout_s / 2), self._warn_if_unattended, (benchmarking_job, results)
        )
        watchdog.daemon = True
        watchdog.start()
        try:
            self._harvest(core, benchmarking_job, submitted, results, done, timeout_s, on_result)
        finally:
            watchdog.cancel()
        missing = [job_name(spec) for case_id, (spec, _) in submitted.items() if case_id not in results]
        if missing:
            raise ClusterError(
                f"{len(missing)} of {len(submitted)} simulation jobs in namespace {self.namespace} gave no result within "
                f"{timeout_s:.0f}s: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''} "
                f"(is the job controller running? `controller simulation status -n {self.namespace}`)"
            )
        return results

    def _harvest(
        self,
        core: Any,
        benchmarking_job: str,
        submitted: dict[str, tuple[CaseSpec, str]],
        results: dict[str, CaseResult],
        done: Callable[[], bool],
        timeout_s: float,
        on_result: OnResult | None,
    ) -> None:
        for event in list_then_watch(
            core.list_namespaced_config_map,
            stop=done,
            server_timeout_s=max(1, min(30, int(timeout_s))),
            namespace=self.namespace,
            label_selector=result_selector(benchmarking_job),
        ):
            if event.type == "DELETED":
                continue
            result = self._accept(event.object, submitted)
            if result is not None and result.case_id not in results:
                results[result.case_id] = result
                if on_result is not None:
                    on_result(submitted[result.case_id][0], result)

    def _warn_if_unattended(self, benchmarking_job: str, results: dict[str, CaseResult]) -> None:
        """No result and no job touched by a controller a while after submitting: say so long before the timeout."""
        if results:
            return
        try:
            jobs = self.list_jobs(benchmarking_job)
        except ClusterError:
            return
        if jobs and all(not SimulationJob.from_object(job).status.phase for job in jobs):
            log.warning(
                "no job controller has picked up any of the %d SimulationJobs in namespace %s yet; is one "
                "running there? (`controller lab deploy -e simulation_controller_namespace=%s`, or "
                "`controller simulation job-controller -n %s --workspace DIR`)",
                len(jobs),
                self.namespace,
                self.namespace,
                self.namespace,
            )

    @staticmethod
    def _accept(configmap: dict[str, Any], submitted: dict[str, tuple[CaseSpec, str]]) -> CaseResult | None:
        labels = configmap.get("metadata", {}).get("labels") or {}
        case_id = labels.get(LABEL_CASE_ID)
        if case_id not in submitted or stored_spec_hash(configmap) != submitted[case_id][1]:
            return None  # another benchmarking job's case, or a result of an older version of this one
        spec = submitted[case_id][0]
        try:
            return result_from_configmap(configmap, [metric.name for metric in spec.testenv.metrics])
        except ClusterError as exc:  # never harvested as it claims: the case is failed, so --resume reruns it
            log.error("%s", exc)
            return case_result(spec, status=STATUS_FAILED, error=str(exc))

    def list_jobs(self, benchmarking_job: str | None = None) -> list[dict[str, Any]]:
        """The SimulationJobs of the namespace (of one benchmarking job), oldest first."""
        from kubernetes import client

        selector = f"{LABEL_BENCHMARKING_JOB}={benchmarking_job_label(benchmarking_job)}" if benchmarking_job else None
        try:
            listed = client.CustomObjectsApi(self.api).list_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, **({"label_selector": selector} if selector else {})
            )
        except client.ApiException as exc:
            raise ClusterError(f"SimulationJobs in namespace {self.namespace}: {reason(exc)}") from None
        return sorted(
            listed.get("items", []), key=lambda j: (j["metadata"].get("creationTimestamp", ""), j["metadata"]["name"])
        )

    def delete(self, specs: Sequence[CaseSpec]) -> None:
        """Remove the jobs and their result ConfigMaps (after harvesting)."""
        from kubernetes import client

        custom = client.CustomObjectsApi(self.api)
        core = client.CoreV1Api(self.api)
        for spec in specs:
            name = job_name(spec)
            _delete_if_present(
                f"deleting {name}",
                partial(custom.delete_namespaced_custom_object, GROUP, VERSION, self.namespace, PLURAL, name),
                partial(core.delete_namespaced_config_map, result_configmap_name(spec.case_id), self.namespace),
            )


def _delete_if_present(what: str, *deletions: Callable[[], object]) -> None:
    """Run each deletion; an object already gone (404) is what was wanted, any other refusal is a ClusterError."""
    from kubernetes import client

    for delete in deletions:
        try:
            delete()
        except client.ApiException as exc:
            if exc.status != 404:
                raise ClusterError(f"{what}: {reason(exc)}") from None
