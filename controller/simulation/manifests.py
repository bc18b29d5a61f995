"""Kubernetes manifests of the simulation runtime, rendered from the Jinja templates in ``templates/simulation``,
and the names they share (API group, labels, service accounts, result ConfigMaps).

The controller renders, then submits with the kubernetes client; ``controller simulation manifests`` prints the
same documents for ``kubectl apply`` or the Ansible role that deploys the job controller. What a SimulationJob
holds and means is `simulation_job.SimulationJob`'s business; this module only renders.
"""

from __future__ import annotations

import hashlib
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

GROUP = "simulation.ianvs-lab.io"
VERSION = "v1alpha1"
PLURAL = "simulationjobs"
KIND = "SimulationJob"
CRD_NAME = f"{PLURAL}.{GROUP}"
# The proposal's name for the result ConfigMap; one ConfigMap per case (``<prefix>-<case id>``), because a single
# shared ConfigMap would hit the 1 MiB object limit and make every writer race on its resourceVersion.
RESULT_CONFIGMAP_PREFIX = "ianvs-simulation-job-result"
LABEL_BENCHMARKING_JOB = "ianvs-lab.io/benchmarking-job"
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


def result_configmap_name(case_id: str) -> str:
    return f"{RESULT_CONFIGMAP_PREFIX}-{case_id}"


def benchmarking_job_label(benchmarking_job: str) -> str:
    """Label value naming a benchmarking job (label values: <= 63 chars of [A-Za-z0-9._-])."""
    return dns_label(benchmarking_job)


def namespace(name: str) -> dict[str, Any]:
    """The namespace the job controller and its jobs live in (first in `controller simulation manifests`, so a
    plain ``kubectl apply -f -`` of the output works in a fresh cluster)."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "ianvs-lab"}},
    }


def crd() -> dict[str, Any]:
    (document,) = render("simulationjob-crd.yaml.j2")
    return document


def job_controller_rbac(namespace: str, service_account: str = JOB_CONTROLLER_SERVICE_ACCOUNT) -> list[dict[str, Any]]:
    """The job controller's and the case runner's ServiceAccount, Role and RoleBinding."""
    return render(
        "job-controller-rbac.yaml.j2",
        namespace=namespace,
        service_account=service_account,
        case_service_account=CASE_RUNNER_SERVICE_ACCOUNT,
    )


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
