"""A test case in its own Pod: the batch Job the job controller creates for a SimulationJob with ``spec.image``,
and how the Job's and its Pod's state is read back into an outcome.

Why a Pod per case: the algorithm runs in the image it was built into (its dependencies, not the controller's),
cases run in parallel across the lab's nodes, and a case that crashes or runs out of memory takes down its own
Pod, not the controller. The Pod writes its result ConfigMap itself (``controller simulation run-case``); the
controller only reads Job/Pod state to turn a Pod that could not deliver a result into a failed result.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from controller.bounds import UNBOUNDED, CaseBounds
from controller.errors import ConfigError
from controller.simulation.case_data import DEFAULT_DATA_CACHE
from controller.simulation.manifests import (
    CASE_RUNNER_SERVICE_ACCOUNT,
    LABEL_CASE_ID,
    LABEL_COMPONENT,
    dns_label,
    render,
)
from controller.simulation.result_store import ANNOTATION_SPEC_HASH
from controller.simulation.simulation_job import SimulationJob

CASE_COMPONENT = "simulation-case"
LABEL_SIMULATION_JOB = "ianvs-lab.io/simulation-job"
CASE_SELECTOR = f"{LABEL_COMPONENT}={CASE_COMPONENT}"
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
# Waiting reasons after which a container will not start without someone changing the image or the cluster.
STUCK_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "ErrImageNeverPull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)


@dataclass(frozen=True)
class CasePodSettings:
    """Where and how case Pods run; the Deployment passes the controller's own host folders and placement."""

    workspace: str
    host_paths: tuple[str, ...] = ()
    service_account: str = CASE_RUNNER_SERVICE_ACCOUNT
    kubeconfig: str = ""
    """a kubeconfig file on the node for the case Pod (else the in-cluster service-account config)"""
    host_network: bool = False
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = ()
    image_pull_policy: str = "IfNotPresent"
    deadline_s: int = 0
    """activeDeadlineSeconds of a case Pod; 0: no limit"""
    resources: dict[str, Any] = field(default_factory=dict)
    """the case container's ``resources`` (requests/limits, e.g. ``{"limits": {"nvidia.com/gpu": 1}}``)"""
    data_cache: str = DEFAULT_DATA_CACHE
    """the node-local dataset cache (hostPath) a case Pod fills with its job's case data, when the job has some"""

    def __post_init__(self) -> None:
        if self.image_pull_policy not in PULL_POLICIES:
            raise ConfigError(
                f"case image pull policy: expected one of {', '.join(PULL_POLICIES)}, got {self.image_pull_policy!r}"
            )
        if self.deadline_s < 0:
            raise ConfigError(f"case deadline: expected seconds >= 0, got {self.deadline_s}")
        unknown = sorted(set(self.resources) - {"requests", "limits"})
        if unknown or not all(isinstance(v, dict) for v in self.resources.values()):
            raise ConfigError(
                f'case resources: expected {{"requests": {{...}}, "limits": {{...}}}}, got {json.dumps(self.resources)}'
            )


def parse_tolerations(text: str) -> tuple[dict[str, Any], ...]:
    """``--case-tolerations``: a JSON list of Pod tolerations, as in a Pod spec."""
    value = _json_option("--case-tolerations", text)
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ConfigError(
            "--case-tolerations: expected a JSON list of objects, e.g. "
            '[{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]'
        )
    return tuple(value)


def parse_resources(text: str) -> dict[str, Any]:
    """``--case-resources``: the case container's resources as JSON, as in a Pod spec."""
    value = _json_option("--case-resources", text)
    if not isinstance(value, dict):
        raise ConfigError('--case-resources: expected a JSON object, e.g. {"limits": {"nvidia.com/gpu": 1}}')
    return value


def _json_option(option: str, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{option}: not JSON ({exc})") from None


def parse_node_selector(pairs: list[str]) -> dict[str, str]:
    """``--case-node-selector KEY=VALUE`` (repeatable)."""
    selector: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--case-node-selector: expected KEY=VALUE, got {pair!r}")
        selector[key] = value
    return selector


def case_job_name(simulation_job: str, spec_hash: str) -> str:
    """One Job per version of a case: a changed spec gets a new Job instead of racing the old one's deletion."""
    return dns_label(f"{simulation_job}-{spec_hash[:10]}")


def bounded(settings: CasePodSettings, bounds: CaseBounds) -> CasePodSettings:
    """``settings`` with a case's own bounds in place of the controller's defaults, so that ``--case-timeout`` and
    ``--case-memory`` mean on a case Pod what they mean locally: the Job's activeDeadlineSeconds (rounded up to whole
    seconds) and the container's memory limit (the other resources stay). The kernel enforces the limit on the
    container's cgroup: resident memory of every process in it, as the local runtime counts the case's tree. A memory
    request above the bound (``--case-resources``) makes the API server refuse the Job, which fails the case."""
    changes: dict[str, Any] = {}
    if bounds.timeout_s is not None:
        changes["deadline_s"] = bounds.deadline_s
    if bounds.memory_mib is not None:
        limits = {**settings.resources.get("limits", {}), "memory": f"{bounds.memory_mib}Mi"}
        changes["resources"] = {**settings.resources, "limits": limits}
    return replace(settings, **changes) if changes else settings


def case_job(job: SimulationJob, settings: CasePodSettings) -> dict[str, Any]:
    """The batch Job that runs ``job``'s case in a Pod of its image, within the case's bounds."""
    settings = bounded(settings, job.bounds)
    (document,) = render(
        "case-job.yaml.j2",
        name=case_job_name(job.name, job.spec_hash),
        namespace=job.namespace,
        labels={"component": LABEL_COMPONENT, "simulation_job": LABEL_SIMULATION_JOB, "case_id": LABEL_CASE_ID},
        annotations={"spec_hash": ANNOTATION_SPEC_HASH},
        component=CASE_COMPONENT,
        simulation_job=job.name,
        owner_uid=job.uid,
        case_id=job.case_id,
        spec_hash=job.spec_hash,
        image=job.image,
        workspace=settings.workspace,
        host_paths=sorted(set(settings.host_paths)),
        service_account=settings.service_account,
        kubeconfig=settings.kubeconfig,
        host_network=settings.host_network,
        node_selector=settings.node_selector,
        tolerations=list(settings.tolerations),
        image_pull_policy=settings.image_pull_policy,
        deadline_s=settings.deadline_s,
        resources=settings.resources,
        data_cache=settings.data_cache if job.case_data else "",
    )
    return document


@dataclass(frozen=True)
class CaseOutcome:
    finished: bool
    succeeded: bool = False
    message: str = ""
    """why it failed; while it runs: why its Pod is waiting (e.g. not schedulable), if it is"""


RUNNING = CaseOutcome(finished=False)


def case_outcome(
    job: dict[str, Any],
    pods: Sequence[dict[str, Any]],
    events: Sequence[dict[str, Any]] = (),
    bounds: CaseBounds = UNBOUNDED,
) -> CaseOutcome:
    """What a case Job, its Pods and the Job's events (plain dicts as the API returns them) say: still running,
    done, or failed why (first the case's bound, when the Job or the kernel stopped it for one)."""
    for pod in pods:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (status.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in STUCK_REASONS:
                image = status.get("image", "")
                return CaseOutcome(
                    True,
                    message=_one_line(
                        f"case Pod cannot start ({image}): {waiting['reason']}: {waiting.get('message', '')}"
                    ),
                )
    conditions = {
        c.get("type"): c for c in (job.get("status") or {}).get("conditions") or [] if c.get("status") == "True"
    }
    if "Complete" in conditions:
        return CaseOutcome(True, succeeded=True)
    if "Failed" in conditions:
        failed = conditions["Failed"]
        detail = _termination(pods)
        message = f"case Pod failed: {failed.get('reason', 'Failed')}: {failed.get('message', '')}" + (
            f"; {detail}" if detail else ""
        )
        exceeded = _exceeded(failed.get("reason"), _last_terminated(pods), bounds)
        return CaseOutcome(True, message=_one_line(f"{exceeded}; {message}" if exceeded else message))
    waiting = _unscheduled(pods) or ("" if pods else _not_created(events))
    return CaseOutcome(False, message=waiting) if waiting else RUNNING


def _not_created(events: Sequence[dict[str, Any]]) -> str:
    """Why the Job controller cannot create the case Pod (quota, admission, ...), from the Job's newest
    FailedCreate event; it keeps retrying, so this is a wait, not yet a failure."""
    failed = [e for e in events if e.get("reason") == "FailedCreate"]
    if not failed:
        return ""
    newest = max(failed, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    return _one_line(f"case Pod cannot be created: {newest.get('message', '')}")


def _unscheduled(pods: Sequence[dict[str, Any]]) -> str:
    """Why a case Pod is not scheduled yet (it may be later: a node frees up or is added), else ''."""
    for pod in pods:
        for condition in (pod.get("status") or {}).get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                return _one_line(
                    f"case Pod waits for a node: {condition.get('reason', '')}: {condition.get('message', '')}"
                )
    return ""


def _exceeded(job_reason: Any, terminated: dict[str, Any] | None, bounds: CaseBounds) -> str:
    """Which of the case's bounds stopped its Pod, in the local runtime's words ('' when none did)."""
    if bounds.timeout_s is not None and job_reason == "DeadlineExceeded":
        return bounds.timeout_exceeded()
    if bounds.memory_mib is not None and terminated and terminated.get("reason") == "OOMKilled":
        # the kernel stops the container at its limit and Kubernetes keeps no peak: say so rather than guess
        return bounds.memory_exceeded(unmeasured="container OOMKilled, peak not measured")
    return ""


def _last_terminated(pods: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The last container termination of the Pods (newest Pod first)."""
    for pod in sorted(pods, key=lambda p: p.get("metadata", {}).get("creationTimestamp") or "", reverse=True):
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            terminated = (status.get("state") or {}).get("terminated")
            if terminated:
                return dict(terminated)
    return None


def _termination(pods: Sequence[dict[str, Any]]) -> str:
    """The last container termination of the Pods: reason, exit code and message (the log tail on error)."""
    terminated = _last_terminated(pods)
    if not terminated:
        return ""
    message = (terminated.get("message") or "").strip().splitlines()
    return f"container {terminated.get('reason', 'terminated')} with exit code {terminated.get('exitCode')}" + (
        f": {message[-1]}" if message else ""
    )


def _one_line(text: str, limit: int = 500) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
