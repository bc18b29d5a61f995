"""The SimulationJob custom resource: one test case for the Simulation Job Controller, as a typed view.

This module is the one place that knows the resource's field names (``spec.caseId``, ``status.observedSpecHash``,
...); the rest of the simulation package reads and writes SimulationJobs through `SimulationJob` and `JobStatus`.
The CRD in ``templates/simulation/simulationjob-crd.yaml.j2`` is the schema the API server enforces.

Identity: ``specHash`` hashes the test case's content, files included (`controller.plan.config_hash`). The job
carries the sha256 of every file the case names (``contentDigests``), so whoever receives it checks the hash
against the JSON alone, without the files (a job controller that starts case Pods never needs them), and the one
who runs the case says which file it lacks ("not mounted: PATH") or which changed since submission.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from controller.bounds import CaseBounds
from controller.plan import CaseSpec, config_hash, content_digests, file_digest
from controller.results import STATUS_FAILED, CaseResult
from controller.simulation.case_data import CaseData
from controller.simulation.manifests import (
    LABEL_BENCHMARKING_JOB,
    LABEL_CASE_ID,
    benchmarking_job_label,
    dns_label,
    render,
    result_configmap_name,
)

PENDING, RUNNING, SUCCEEDED, FAILED = "Pending", "Running", "Succeeded", "Failed"
TERMINAL_PHASES = (SUCCEEDED, FAILED)


def job_name(spec: CaseSpec) -> str:
    """The SimulationJob of a test case: ``<benchmarking job>-<case id>`` as a DNS label."""
    return dns_label(f"{spec.benchmarking_job}-{spec.case_id}")


def spec_hash(spec: CaseSpec, digests: Mapping[str, str] | None = None) -> str:
    """The hash of the test case's whole content (files by their digests: read now, or as submitted)."""
    return config_hash(spec, digests)


@dataclass(frozen=True)
class JobStatus:
    """``status`` of a SimulationJob, as the job controller sets it."""

    phase: str = ""
    message: str = ""
    observed_spec_hash: str = ""
    result_configmap: str = ""
    start_time: str = ""
    completion_time: str = ""

    @classmethod
    def from_object(cls, status: Mapping[str, Any] | None) -> JobStatus:
        status = status or {}
        return cls(
            phase=str(status.get("phase") or ""),
            message=str(status.get("message") or ""),
            observed_spec_hash=str(status.get("observedSpecHash") or ""),
            result_configmap=str(status.get("resultConfigMap") or ""),
            start_time=str(status.get("startTime") or ""),
            completion_time=str(status.get("completionTime") or ""),
        )

    def finished_for(self, spec_hash: str) -> bool:
        """Succeeded or Failed for exactly this version of the case."""
        return self.phase in TERMINAL_PHASES and self.observed_spec_hash == spec_hash


def status_patch(
    *,
    phase: str | None = None,
    message: str | None = None,
    observed_spec_hash: str | None = None,
    result_configmap: str | None = None,
    start_time: str | None = None,
    completion_time: str | None = None,
) -> dict[str, Any]:
    """A merge patch of the status subresource setting the given fields (the others stay as they are)."""
    fields = {
        "phase": phase,
        "message": message,
        "observedSpecHash": observed_spec_hash,
        "resultConfigMap": result_configmap,
        "startTime": start_time,
        "completionTime": completion_time,
    }
    return {"status": {key: value for key, value in fields.items() if value is not None}}


@dataclass(frozen=True)
class SimulationJob:
    """One SimulationJob: which test case (``case``, as ``CaseSpec.to_dict()``), where its result goes, its status."""

    name: str
    namespace: str
    benchmarking_job: str
    """the benchmarking job the test case belongs to"""
    case_id: str
    spec_hash: str
    algorithm: str
    case: Mapping[str, Any]
    image: str = ""
    """run the case in a case Pod of this image (empty: in the job controller's own process)"""
    result_configmap: str = ""
    content_digests: Mapping[str, str] = field(default_factory=dict)
    case_data: CaseData | None = None
    """where the case Pod gets the files the case reads when its node does not have them (a multi-host lab); no
    part of the spec hash: it says how the files travel, not what they are"""
    status: JobStatus = field(default_factory=JobStatus)
    resource_version: str = ""
    uid: str = ""

    @classmethod
    def of_case(
        cls, spec: CaseSpec, namespace: str, image: str = "", case_data: CaseData | None = None
    ) -> SimulationJob:
        digests = content_digests(spec)
        return cls(
            name=job_name(spec),
            namespace=namespace,
            benchmarking_job=spec.benchmarking_job,
            case_id=spec.case_id,
            spec_hash=spec_hash(spec, digests),
            algorithm=spec.algorithm,
            case=spec.to_dict(),
            image=image,
            result_configmap=result_configmap_name(spec.case_id),
            content_digests=digests,
            case_data=case_data,
        )

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> SimulationJob:
        """The job as the API returns it (a plain dict); fields the API server let through unchecked default."""
        meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
        return cls(
            name=str(meta.get("name", "")),
            namespace=str(meta.get("namespace", "")),
            benchmarking_job=str(spec.get("benchmarkingJob", "")),
            case_id=str(spec.get("caseId", "")),
            spec_hash=str(spec.get("specHash", "")),
            algorithm=str(spec.get("algorithm", "")),
            case=spec.get("case") or {},
            image=str(spec.get("image") or ""),
            result_configmap=str(spec.get("resultConfigMap") or ""),
            content_digests=dict(spec.get("contentDigests") or {}),
            case_data=_case_data(spec.get("caseData")),
            status=JobStatus.from_object(obj.get("status")),
            resource_version=str(meta.get("resourceVersion", "")),
            uid=str(meta.get("uid", "")),
        )

    def to_manifest(self) -> dict[str, Any]:
        (document,) = render(
            "simulationjob.yaml.j2",
            name=self.name,
            namespace=self.namespace,
            labels={"benchmarking_job": LABEL_BENCHMARKING_JOB, "case_id": LABEL_CASE_ID},
            benchmarking_job=self.benchmarking_job,
            benchmarking_job_label=benchmarking_job_label(self.benchmarking_job),
            case_id=self.case_id,
            spec_hash=self.spec_hash,
            algorithm=self.algorithm,
            image=self.image,
            result_configmap=self.result_configmap or result_configmap_name(self.case_id),
            content_digests=dict(self.content_digests),
            case_data=self.case_data.to_object() if self.case_data else None,
            case=dict(self.case),
        )
        return document

    @property
    def result_configmap_name(self) -> str:
        """The result ConfigMap the job names (or the default name for its case id, else its own name)."""
        return self.result_configmap or result_configmap_name(self.case_id or self.name)

    def with_status(self, status: JobStatus) -> SimulationJob:
        return replace(self, status=status)

    def test_case(self) -> CaseSpec:
        """The test case the job carries, checked against its caseId and specHash from the JSON alone (ValueError
        if it is not the case they describe). Files are not read: see `check_files`."""
        try:
            case = CaseSpec.from_dict(dict(self.case))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"spec.case is not a test case: {type(exc).__name__}: {exc}") from None
        # Jobs submitted before contentDigests existed are checked against the files, as they were then.
        if case.case_id != self.case_id or spec_hash(case, self.content_digests or None) != self.spec_hash:
            raise ValueError("spec.case does not match spec.caseId/spec.specHash (edited by hand?)")
        return case

    def check_files(self) -> None:
        """Whoever runs the case first: every file it names is here and unchanged since submission (ValueError
        naming the first that is not)."""
        for path, digest in sorted(self.content_digests.items()):
            if not Path(path).is_file():
                raise ValueError(f"not mounted: {path} (the case names it; mount its folder where the case runs)")
            if file_digest(path) != digest:
                raise ValueError(f"changed since submission: {path} (submit the job again)")

    @property
    def bounds(self) -> CaseBounds:
        """The case's bounds (``spec.case.bounds``), read without checking the case: they shape its case Pod, and a
        job whose case cannot be read fails before any Pod exists. Unreadable bounds are none."""
        try:
            return CaseBounds.from_dict((self.case or {}).get("bounds"))
        except (AttributeError, TypeError, ValueError):
            return CaseBounds()

    def asked_metrics(self) -> list[str]:
        """The metrics the case's testenv asks for, read without checking the case (a stored result is judged
        even for a job whose case cannot be read)."""
        metrics = ((self.case or {}).get("testenv") or {}).get("metrics") or []
        return [str(metric["name"]) for metric in metrics if isinstance(metric, Mapping) and "name" in metric]

    def failed_result(self, error: str) -> CaseResult:
        """A failed result for a job that gave none, so the administrator hears why instead of waiting."""
        return CaseResult(
            case_id=self.case_id,
            benchmarking_job=self.benchmarking_job,
            algorithm=self.algorithm,
            paradigm="",
            modules={},
            hyperparameters={},
            status=STATUS_FAILED,
            error=error,
        )


def _case_data(value: Any) -> CaseData | None:
    try:
        return CaseData.from_object(value)
    except (KeyError, TypeError, ValueError):  # the CRD's schema keeps this out; a hand-made object may not
        return None
