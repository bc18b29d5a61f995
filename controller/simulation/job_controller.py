"""The Simulation Job Controller: watch SimulationJobs, run each case, make sure its result is written.

A job without ``spec.image`` runs here, with ``run_case``, exactly as ``controller run`` runs it locally (one at a
time). A job with an image runs in its own Pod (``case_pods``): the controller creates a batch Job, the Pod writes
the result ConfigMap, and the controller only steps in when the Pod cannot deliver one (image missing, crash,
deadline), writing a failed result that says why.

Idempotent by case id and spec hash, so a restart, a re-list after 410 Gone or a replayed event never runs a case
twice: a job whose status already records its spec hash as finished is skipped, and a result ConfigMap written
for the same spec hash (a crash between writing the result and the status, or a case Pod's result) only sets
the status. Events of SimulationJobs, case Jobs and case Pods all feed one work queue of SimulationJob names, and
one worker reconciles them, so a job is never reconciled twice at the same time.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from controller.errors import ClusterError
from controller.results import CaseResult
from controller.runtime.case import Runner, run_case
from controller.runtime.interrupt import Interrupted
from controller.simulation.case_pods import (
    CASE_SELECTOR,
    LABEL_SIMULATION_JOB,
    CasePodSettings,
    case_job,
    case_job_name,
    case_outcome,
)
from controller.simulation.kube import list_then_watch, reason
from controller.simulation.manifests import GROUP, PLURAL, VERSION
from controller.simulation.result_store import result_from_configmap, store_result, stored_spec_hash
from controller.simulation.simulation_job import (
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    TERMINAL_PHASES,
    SimulationJob,
    status_patch,
)

log = logging.getLogger(__name__)

WATCH_TIMEOUT_S = 10
RESYNC_S = 30.0
_QUEUE_POLL_S = 0.5


@dataclass
class JobController:
    api: Any
    namespace: str
    workspace: Path
    runner: Runner = run_case
    stop_event: threading.Event | None = None
    case_pods: CasePodSettings | None = None
    """how case Pods run (jobs with an image); default: this controller's workspace, nothing else mounted"""
    runs: int = 0
    """cases this controller executed in its own process (not counting restored statuses)"""
    pods_started: int = 0
    """case Pods (batch Jobs) this controller created"""
    resync_s: float = RESYNC_S
    """how often ``run_forever`` looks at every unfinished job again, events or not"""
    _queue: _WorkQueue = field(default_factory=lambda: _WorkQueue(), init=False, repr=False)
    _accounts_seen: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.case_pods is None:
            self.case_pods = CasePodSettings(workspace=str(self.workspace))

    def run_once(self) -> int:
        """Reconcile every SimulationJob that exists now (starting case Pods, not waiting for them); return how many
        cases were executed in this process."""
        listed = self._custom().list_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL)
        for item in listed.get("items", []):
            self.reconcile(item)
        return self.runs

    def run_forever(self) -> None:
        """Watch SimulationJobs and case Jobs/Pods, reconciling the jobs they concern, until ``stop_event`` is set."""
        from kubernetes import client

        stop = self.stop_event or threading.Event()
        log.info("job controller: watching %s in namespace %s, workspace %s", PLURAL, self.namespace, self.workspace)
        custom, core, batch = self._custom(), client.CoreV1Api(self.api), client.BatchV1Api(self.api)
        sources: list[tuple[str, Callable[..., Any], dict[str, Any], Callable[[dict[str, Any]], str | None]]] = [
            (
                "simulationjobs",
                custom.list_namespaced_custom_object,
                {"group": GROUP, "version": VERSION, "namespace": self.namespace, "plural": PLURAL},
                lambda obj: obj["metadata"]["name"],
            ),
            (
                "case jobs",
                batch.list_namespaced_job,
                {"namespace": self.namespace, "label_selector": CASE_SELECTOR},
                _owning_job,
            ),
            (
                "case pods",
                core.list_namespaced_pod,
                {"namespace": self.namespace, "label_selector": CASE_SELECTOR},
                _owning_job,
            ),
        ]
        for what, list_fn, kwargs, key in sources:
            threading.Thread(
                target=self._feed, args=(what, list_fn, kwargs, key, stop), daemon=True, name=f"watch {what}"
            ).start()
        next_resync = time.monotonic() + self.resync_s
        try:
            while not stop.is_set():
                if time.monotonic() >= next_resync:
                    self._resync()
                    next_resync = time.monotonic() + self.resync_s
                item = self._queue.get(timeout_s=_QUEUE_POLL_S)
                if isinstance(item, BaseException):
                    raise item  # a watch that cannot go on (e.g. 403): the controller must not silently go deaf
                if item is not None:
                    self.reconcile_named(item)
        finally:
            stop.set()  # the watch threads end with the worker, whatever ended it

    def _resync(self) -> None:
        """Queue every unfinished job again: some changes raise no watch event here (a case Job whose Pod cannot be
        created only gets Events), and a periodic resync is how controllers notice them."""
        listed = self._custom().list_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL)
        for obj in listed.get("items", []):
            job = SimulationJob.from_object(obj)
            if job.status.phase not in TERMINAL_PHASES:
                self._queue.put(job.name)

    def _feed(
        self,
        what: str,
        list_fn: Callable[..., Any],
        kwargs: dict[str, Any],
        key: Callable[[dict[str, Any]], str | None],
        stop: threading.Event,
    ) -> None:
        try:
            for event in list_then_watch(list_fn, stop=stop.is_set, server_timeout_s=WATCH_TIMEOUT_S, **kwargs):
                name = key(event.object)
                if name:  # DELETED too: a removed case Job lets a rerun start its new one
                    self._queue.put(name)
        except BaseException as exc:  # noqa: BLE001 - handed to the worker, which re-raises it
            log.error("job controller: watching %s failed: %s", what, reason(exc))
            self._queue.put(exc)

    # ------------------------------------------------------------------------------------------ reconcile

    def reconcile_named(self, name: str) -> None:
        """Reconcile the SimulationJob ``name`` as it is now (gone: nothing to do)."""
        from kubernetes import client

        try:
            job = self._custom().get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)
        except client.ApiException as exc:
            if exc.status == 404:
                return
            raise
        self.reconcile(job)

    def reconcile(self, obj: dict[str, Any]) -> None:
        job = SimulationJob.from_object(obj)
        if job.status.finished_for(job.spec_hash):
            return
        if self._restore(job):
            return
        try:
            case = job.test_case()
        except ValueError as exc:
            self._deliver(job, job.failed_result(str(exc)))
            return
        if job.image:
            self._reconcile_case_pod(job)
            return
        self._patch_status(
            job.name, status_patch(phase=RUNNING, start_time=_now(), observed_spec_hash=job.spec_hash, message="")
        )
        log.info("%s: running case %s (%s)", job.name, case.case_id, case.algorithm)
        if case.bounds.bounded:  # a case in this process cannot be stopped without stopping the controller
            log.warning(
                "%s: case bounds apply to case Pods (SimulationJobs with an image); this case runs unbounded", job.name
            )
        self.runs += 1
        try:
            job.check_files()
            result = self.runner(case, self.workspace)
        except ValueError as exc:
            result = job.failed_result(str(exc))
        except Interrupted as stopped:
            # Nothing is harvested from an interrupted case: the job waits for the next controller, which runs it.
            self._patch_status(
                job.name,
                status_patch(
                    phase=PENDING,
                    observed_spec_hash="",
                    message=(
                        f"interrupted by {stopped.signal_name} in the job controller; the case runs again when a job "
                        "controller picks it up"
                    ),
                ),
            )
            raise
        self._deliver(job, result)

    def _restore(self, job: SimulationJob) -> bool:
        """Set the status from a result already stored for this spec hash; False when there is none, or when the
        stored one is no record of an ended case (then the case runs again and its result replaces it)."""
        stored = self._read_configmap(job.result_configmap_name)
        if stored is None or stored_spec_hash(stored) != job.spec_hash:
            return False
        try:
            result = result_from_configmap(stored, job.asked_metrics())
        except ClusterError as exc:
            log.warning("%s: %s; not restoring it", job.name, exc)
            return False
        log.info("%s: result stored in %s; setting the status", job.name, job.result_configmap_name)
        self._finish(job, result)
        return True

    def _reconcile_case_pod(self, job: SimulationJob) -> None:
        from kubernetes import client

        batch = client.BatchV1Api(self.api)
        job_name = case_job_name(job.name, job.spec_hash)
        try:
            current = self.api.sanitize_for_serialization(batch.read_namespaced_job(job_name, self.namespace))
        except client.ApiException as exc:
            if exc.status != 404:
                raise
            self._start_case_pod(job, job_name)
            return
        if current["metadata"].get("deletionTimestamp"):
            return  # a rerun's administrator removes the last attempt's Job: its DELETED event brings us back
        core = client.CoreV1Api(self.api)
        pods = self.api.sanitize_for_serialization(
            core.list_namespaced_pod(self.namespace, label_selector=f"job-name={job_name}").items
        )
        events = (
            []
            if pods
            else self.api.sanitize_for_serialization(
                core.list_namespaced_event(
                    self.namespace, field_selector=f"involvedObject.kind=Job,involvedObject.name={job_name}"
                ).items
            )
        )
        outcome = case_outcome(current, pods, events, job.bounds)
        if not outcome.finished:
            running = f"case Pod of Job {job_name}"
            message = f"{running}: {outcome.message}" if outcome.message else running
            if job.status.message != message:  # say why it waits, once per change
                self._patch_status(job.name, status_patch(message=message))
            return
        # The Pod writes its result before it exits: read once more in case it landed after the first look.
        if self._restore(job):
            return
        error = (
            outcome.message
            if not outcome.succeeded
            else (
                f"case Pod of Job {job_name} finished without writing its result ConfigMap {job.result_configmap_name}"
            )
        )
        log.error("%s: %s", job.name, error)
        self._deliver(job, job.failed_result(error))
        if not outcome.succeeded:
            # a Pod stuck on its image would retry forever; its events and logs go with it, the reason is kept
            batch.delete_namespaced_job(job_name, self.namespace, propagation_policy="Background")

    def _start_case_pod(self, job: SimulationJob, job_name: str) -> None:
        from kubernetes import client

        assert self.case_pods is not None
        missing = self._missing_service_account()
        if missing:
            self._deliver(job, job.failed_result(missing))
            return
        try:
            client.BatchV1Api(self.api).create_namespaced_job(self.namespace, case_job(job, self.case_pods))
        except client.ApiException as exc:
            if exc.status != 409:  # already created (replayed event): nothing to do
                log.error("%s: cannot create case Job %s: %s", job.name, job_name, reason(exc))
                raise
            return
        self.pods_started += 1
        log.info("%s: running case %s in a Pod of %s (Job %s)", job.name, job.case_id, job.image, job_name)
        self._patch_status(
            job.name,
            status_patch(
                phase=RUNNING,
                start_time=_now(),
                observed_spec_hash=job.spec_hash,
                message=f"case Pod of Job {job_name}",
            ),
        )

    def _missing_service_account(self) -> str:
        """Why case Pods cannot be created for certain (their service account is missing), else ''. Without this
        the Job controller would retry forever and the case would wait for the administrator's timeout."""
        from kubernetes import client

        assert self.case_pods is not None
        account = self.case_pods.service_account
        if account in self._accounts_seen:
            return ""
        try:
            client.CoreV1Api(self.api).read_namespaced_service_account(account, self.namespace)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
            return (
                f"service account {self.namespace}/{account} for case Pods does not exist; apply "
                f"`controller simulation manifests --namespace {self.namespace}` (or the simulation_controller "
                "role) to create it"
            )
        self._accounts_seen.add(account)
        return ""

    def _deliver(self, job: SimulationJob, result: CaseResult) -> None:
        store_result(self.api, self.namespace, result, job.spec_hash, job.result_configmap_name)
        self._finish(job, result)

    def _finish(self, job: SimulationJob, result: CaseResult) -> None:
        phase = SUCCEEDED if result.ok else FAILED
        message = result.error or ", ".join(
            f"{k}={v:.4f}" for k, v in list(result.metrics.items())[:3] if isinstance(v, float)
        )
        self._patch_status(
            job.name,
            status_patch(
                phase=phase,
                message=message,
                observed_spec_hash=job.spec_hash,
                completion_time=_now(),
                result_configmap=job.result_configmap_name,
            ),
        )
        log.info("%s: %s %s", job.name, phase, message)

    # ------------------------------------------------------------------------------------------ API calls

    def _custom(self) -> Any:
        from kubernetes import client

        return client.CustomObjectsApi(self.api)

    def _patch_status(self, name: str, patch: dict[str, Any]) -> None:
        from kubernetes import client

        try:
            self._custom().patch_namespaced_custom_object_status(GROUP, VERSION, self.namespace, PLURAL, name, patch)
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
            configmap: dict[str, Any] = self.api.sanitize_for_serialization(
                core.read_namespaced_config_map(name, self.namespace)
            )
            return configmap
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise


class _WorkQueue:
    """Names of jobs to reconcile, each queued at most once until it is taken (a burst of Pod events or a resync
    does not pile up reconciles of one job behind a long case), plus errors from the watch threads."""

    def __init__(self) -> None:
        self._items: queue.Queue[str | BaseException] = queue.Queue()
        self._queued: set[str] = set()
        self._lock = threading.Lock()

    def put(self, item: str | BaseException) -> None:
        with self._lock:
            if isinstance(item, str):
                if item in self._queued:
                    return
                self._queued.add(item)
            self._items.put(item)

    def get(self, timeout_s: float) -> str | BaseException | None:
        try:
            item = self._items.get(timeout=timeout_s)
        except queue.Empty:
            return None
        with self._lock:
            if isinstance(item, str):
                self._queued.discard(item)
        return item


def _owning_job(obj: dict[str, Any]) -> str | None:
    """The SimulationJob a case Job or case Pod belongs to (by label)."""
    return (obj.get("metadata", {}).get("labels") or {}).get(LABEL_SIMULATION_JOB)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
