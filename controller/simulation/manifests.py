"""Kubernetes manifests of the simulation runtime, rendered from the Jinja templates in ``templates/simulation``.

The controller renders, then submits with the kubernetes client; ``controller simulation manifests`` prints the
same documents for ``kubectl apply`` or the Ansible role that deploys the job controller.
"""
from __future__ import annotations

import hashlib
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from controller.plan import CaseSpec, config_hash
from controller.results import CaseResult

GROUP = "simulation.ianvs-lab.io"
VERSION = "v1alpha1"
PLURAL = "simulationjobs"
KIND = "SimulationJob"
CRD_NAME = f"{PLURAL}.{GROUP}"
# The proposal's name for the result ConfigMap; one ConfigMap per case (``<prefix>-<case id>``), because a single
# shared ConfigMap would hit the 1 MiB object limit and make every writer race on its resourceVersion.
RESULT_CONFIGMAP_PREFIX = "ianvs-simulation-job-result"
LABEL_BENCHMARK = "ianvs-lab.io/benchmark"
LABEL_CASE_ID = "ianvs-lab.io/case-id"
LABEL_COMPONENT = "ianvs-lab.io/component"
RESULT_COMPONENT = "simulation-job-result"
JOB_CONTROLLER_SERVICE_ACCOUNT = "ianvs-simulation-job-controller"
CASE_RUNNER_SERVICE_ACCOUNT = "ianvs-simulation-case-runner"

_DNS_LABEL_MAX = 63
# libyaml's loader where PyYAML has it: a SimulationJob carries its whole case, and submitting hundreds of cases
# spent most of its time parsing them with the pure-Python loader
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def templates_dir() -> Path:
    """``templates/`` of this checkout (``IANVS_LAB_TEMPLATES`` overrides, e.g. inside an image)."""
    override = os.environ.get("IANVS_LAB_TEMPLATES")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "templates"


@lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir() / "simulation"),
        undefined=jinja2.StrictUndefined,  # a missing value is an error, not an empty string in a manifest
        trim_blocks=True,  # as Ansible's template lookup renders them (roles/simulation_controller)
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - YAML, not HTML
    )


def render(template: str, **values: Any) -> list[dict[str, Any]]:
    """Render one template into its YAML documents (empty documents dropped)."""
    text = _environment().get_template(template).render(group=GROUP, version=VERSION, **values)
    return [doc for doc in yaml.load_all(text, Loader=_LOADER) if doc]



def dns_label(text: str, max_len: int = _DNS_LABEL_MAX) -> str:
    """``text`` as a DNS-1123 label; too long or changed by cleaning -> shortened with a hash suffix (stays unique)."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "x"
    if cleaned == text and len(cleaned) <= max_len:
        return cleaned
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{cleaned[: max_len - 9].rstrip('-')}-{digest}"


def job_name(spec: CaseSpec) -> str:
    return dns_label(f"{spec.job}-{spec.case_id}")


def result_configmap_name(case_id: str) -> str:
    return f"{RESULT_CONFIGMAP_PREFIX}-{case_id}"


def result_configmap_of(job_spec: dict[str, Any], job_name: str) -> str:
    """The result ConfigMap a SimulationJob names (or the default name for its case id, else its own name)."""
    return job_spec.get("resultConfigMap") or result_configmap_name(str(job_spec.get("caseId", job_name)))


def benchmark_label(benchmark: str) -> str:
    """Label value naming a benchmarking job (label values: <= 63 chars of [A-Za-z0-9._-])."""
    return dns_label(benchmark)


def spec_hash(spec: CaseSpec) -> str:
    return config_hash(spec)


def case_of(job_spec: dict[str, Any]) -> CaseSpec:
    """The CaseSpec a SimulationJob's spec carries, checked against its caseId and specHash (ValueError if not)."""
    try:
        case = CaseSpec.from_dict(job_spec["case"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"spec.case is not a test case: {type(exc).__name__}: {exc}") from None
    if case.case_id != job_spec.get("caseId") or spec_hash(case) != job_spec.get("specHash"):
        raise ValueError("spec.case does not match spec.caseId/spec.specHash (edited by hand?)")
    return case


def asked_metrics(job_spec: dict[str, Any]) -> list[str]:
    """The metrics the SimulationJob's testenv asks for (read without checking the case: a result is judged even
    for a job whose case cannot be read)."""
    metrics = ((job_spec.get("case") or {}).get("testenv") or {}).get("metrics") or []
    return [str(metric["name"]) for metric in metrics if isinstance(metric, dict) and "name" in metric]


def failed_result(job_spec: dict[str, Any], error: str) -> CaseResult:
    """A failed result for a SimulationJob that gave none, so the administrator hears why instead of waiting."""
    return CaseResult(
        case_id=str(job_spec.get("caseId", "")), job=str(job_spec.get("benchmark", "")),
        algorithm=str(job_spec.get("algorithm", "")), paradigm="", modules={}, hyperparameters={},
        status="failed", error=error,
    )


def crd() -> dict[str, Any]:
    (document,) = render("simulationjob-crd.yaml.j2")
    return document


def simulation_job(spec: CaseSpec, namespace: str, image: str = "") -> dict[str, Any]:
    (document,) = render(
        "simulationjob.yaml.j2",
        name=job_name(spec),
        namespace=namespace,
        labels={"benchmark": LABEL_BENCHMARK, "case_id": LABEL_CASE_ID},
        benchmark=spec.job,
        benchmark_label=benchmark_label(spec.job),
        case_id=spec.case_id,
        spec_hash=spec_hash(spec),
        algorithm=spec.algorithm,
        image=image,
        result_configmap=result_configmap_name(spec.case_id),
        case=spec.to_dict(),
    )
    return document


def job_controller_rbac(namespace: str, service_account: str = JOB_CONTROLLER_SERVICE_ACCOUNT) -> list[dict[str, Any]]:
    """The job controller's and the case runner's ServiceAccount, Role and RoleBinding."""
    return render("job-controller-rbac.yaml.j2", namespace=namespace, service_account=service_account,
                  case_service_account=CASE_RUNNER_SERVICE_ACCOUNT)


def job_controller_deployment(
    namespace: str,
    image: str,
    workspace: str,
    host_paths: list[str] | None = None,
    *,
    service_account: str = JOB_CONTROLLER_SERVICE_ACCOUNT,
    image_pull_policy: str = "IfNotPresent",
    node_selector: dict[str, str] | None = None,
    tolerations: list[dict[str, Any]] | None = None,
    host_network: bool = False,
    kubeconfig: str = "",
    case_kubeconfig: str = "",
    case_resources: dict[str, Any] | None = None,
) -> dict[str, Any]:
    (document,) = render(
        "job-controller-deployment.yaml.j2",
        namespace=namespace,
        image=image,
        workspace=workspace,
        host_paths=sorted(set(host_paths or [])),
        service_account=service_account,
        image_pull_policy=image_pull_policy,
        node_selector=node_selector or {},
        tolerations=tolerations or [],
        host_network=host_network,
        kubeconfig=kubeconfig,
        case_kubeconfig=case_kubeconfig,
        case_resources=case_resources or {},
    )
    return document
