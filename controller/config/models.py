"""Pydantic models of the three Ianvs configuration files.

The models check shape, types and values; paths are resolved and checked by `controller.config.loader`,
which knows which file named them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from controller.config.rank import RankConfig

PARADIGMS = ("singletasklearning", "lifelonglearning")

MODULE_TYPES = (
    "basemodel",
    "task_definition",
    "task_allocation",
    "unseen_sample_recognition",
    "task_relationship_discovery",
    "task_remodeling",
    "inference_integrate",
    "task_update_decision",
    "unseen_task_allocation",
    "unseen_sample_re_recognition",
    "hard_example_mining",
    "dataset_processor",
)


class Section(BaseModel):
    """Extra keys are kept (not rejected) so that the loader can warn about each one by name."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


# ---------------------------------------------------------------- benchmarkingjob.yaml


class CaseBoundKeys(Section):
    """``case_timeout`` (seconds) and ``case_memory`` (MiB): the bounds of each test case (controller/bounds.py),
    as ``--case-timeout``/``--case-memory`` set them on the command line."""

    case_timeout: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    case_memory: int | None = Field(default=None, gt=0)


class AlgorithmRef(CaseBoundKeys):
    """One algorithm of the job; its case bounds, when set, replace the job's."""

    name: str = Field(min_length=1)
    url: str = Field(min_length=1)


class TestObject(Section):
    type: Literal["algorithms"] = "algorithms"
    algorithms: list[AlgorithmRef] = Field(min_length=1)

    @field_validator("algorithms")
    @classmethod
    def _unique_names(cls, value: list[AlgorithmRef]) -> list[AlgorithmRef]:
        names = [a.name for a in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"algorithm names must be unique, repeated: {', '.join(duplicates)}")
        return value


DEFAULT_KUBERNETES_VERSION = "v1.34.12"
EDGE_NODE_LABELS: Mapping[str, str] = MappingProxyType({"node-role.kubernetes.io/edge": "", "ianvs-lab/role": "edge"})
"""the labels of the lab's edge nodes (plain Kubernetes nodes, not KubeEdge)"""

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_KUBERNETES_VERSION = re.compile(r"v1\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")


def _dns_label(value: str, longest: int) -> str:
    if len(value) > longest or not _DNS_LABEL.fullmatch(value):
        raise ValueError(
            "expected a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit, "
            f"at most {longest} characters, got {value!r}"
        )
    return value


@dataclass(frozen=True)
class LabNode:
    """One node of the lab as kind creates it: its container (and Kubernetes node) name and its role."""

    name: str
    role: Literal["cloud", "edge"]
    control_plane: bool


class SimulationConfig(Section):
    """The ``simulation:`` section of a benchmarking job: the lab's system config, which ``controller lab up JOB.yaml``
    builds and ``controller run`` runs the job's test cases in.

    Ianvs's keys: ``cloud_number`` cloud nodes (the first is the control plane, so at least one), ``edge_number`` edge
    nodes, ``cluster_name``; ``kubeedge_version`` and ``sedna_version`` are accepted and ignored (the loader warns
    once): this release deploys plain Kubernetes nodes, edge nodes labelled `EDGE_NODE_LABELS`, not KubeEdge/Sedna.

    Ours: the Kubernetes version and kind node image, where case Pods go, whether the lab outlives the run, an
    existing cluster (``kubeconfig``: the node counts are then ignored), the namespace, how long the lab may take to
    come up, and whether kind's node containers run unprivileged.
    """

    cloud_number: int = Field(default=1, strict=True)  # strict here and below: `true` is not a count
    """cloud nodes; the first is the control plane"""
    edge_number: int = Field(default=0, ge=0, strict=True)
    cluster_name: str = "ianvs-lab"
    """the kind cluster's name, a prefix of its node containers' names (`node_names`)"""
    kubeedge_version: str = ""
    """Ianvs's key, ignored (a warning says so)"""
    sedna_version: str = ""
    """Ianvs's key, ignored (a warning says so)"""
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    """v1.MINOR.PATCH of the lab's nodes"""
    node_image: str = ""
    """kind's node image; "" = the one ianvs-lab builds offline, ``ianvs-lab/kind-node:<kubernetes_version>``
    (`effective_node_image`)"""
    case_placement: Literal["edge", "cloud", "any"] = "edge"
    """which nodes run case Pods: edge nodes, cloud nodes, or any node"""
    keep_lab: bool = Field(default=False, strict=True)
    """leave the lab running after ``controller run`` (default: remove the lab it built)"""
    kubeconfig: Path | None = None
    """use this existing cluster instead of building one (node counts ignored); absolute after `load_job`, which
    resolves it relative to the job file"""
    inventory: Path | None = None
    """a multi-host lab: this Ansible inventory's ``cloud`` and ``edge`` machines joined into one Kubernetes cluster
    (playbooks/kube_cluster.yml) instead of a kind cluster on this host; the node counts are the inventory's groups;
    absolute after `load_job`, which resolves it relative to the job file"""
    namespace: str = "ianvs-lab"
    """where the SimulationJobs, the job controller and the case Pods live"""
    timeout: int = Field(default=600, gt=0, strict=True)
    """seconds the lab may take to come up"""
    unprivileged: bool | Literal["auto"] = "auto"
    """start kind's node containers without --privileged, through the project's docker wrapper; "auto": only when
    the host refuses privileged containers"""

    @field_validator("cloud_number")
    @classmethod
    def _control_plane(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"at least one cloud node (the control plane) is needed, got {value}")
        return value

    @field_validator("cluster_name")
    @classmethod
    def _cluster_name(cls, value: str) -> str:
        return _dns_label(value, 40)

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        return _dns_label(value, 63)

    @field_validator("kubernetes_version")
    @classmethod
    def _kubernetes_version(cls, value: str) -> str:
        if not _KUBERNETES_VERSION.fullmatch(value):
            raise ValueError(
                f"expected a Kubernetes version v1.MINOR.PATCH such as {DEFAULT_KUBERNETES_VERSION}, got {value!r}"
            )
        return value

    @field_validator("kubeedge_version", "sedna_version", mode="before")
    @classmethod
    def _any_version(cls, value: Any) -> Any:
        # ignored anyway: a YAML number (`sedna_version: 0.4`) or an empty key is not worth an error
        if value is None:
            return ""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("kubeconfig", "inventory", mode="before")
    @classmethod
    def _path(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or isinstance(value, Path):
            return value
        if not isinstance(value, str) or not value.strip():
            what = "a kubeconfig file" if info.field_name == "kubeconfig" else "an Ansible inventory file or folder"
            raise ValueError(f"expected the path of {what}, got {_describe(value)}")
        return value

    @model_validator(mode="after")
    def _one_cluster(self) -> SimulationConfig:
        if self.kubeconfig is not None and self.inventory is not None:
            raise ValueError(
                "kubeconfig (an existing cluster) and inventory (a lab built on those machines) exclude each other: "
                "keep one"
            )
        return self

    @field_validator("unprivileged", mode="before")
    @classmethod
    def _unprivileged(cls, value: Any) -> Any:
        if not isinstance(value, bool) and value != "auto":
            raise ValueError(f"expected true, false or auto, got {_describe(value)}")
        return value

    def nodes(self) -> list[LabNode]:
        """The nodes kind creates, in its order: the control plane (the first cloud node), then the workers
        ``<cluster_name>-worker``, ``-worker2``, ...: the other cloud nodes first, then the edge nodes."""
        cloud: list[Literal["cloud", "edge"]] = ["cloud"] * (self.cloud_number - 1)
        edge: list[Literal["cloud", "edge"]] = ["edge"] * self.edge_number
        roles = cloud + edge
        nodes = [LabNode(f"{self.cluster_name}-control-plane", "cloud", control_plane=True)]
        for number, role in enumerate(roles, start=1):
            suffix = "" if number == 1 else str(number)
            nodes.append(LabNode(f"{self.cluster_name}-worker{suffix}", role, control_plane=False))
        return nodes

    def node_names(self) -> list[str]:
        """kind's node container names (also the Kubernetes node names), in `nodes` order."""
        return [node.name for node in self.nodes()]

    def effective_node_image(self) -> str:
        """``node_image``, or the image ianvs-lab builds offline for ``kubernetes_version``."""
        return self.node_image or f"ianvs-lab/kind-node:{self.kubernetes_version}"


def _describe(value: Any) -> str:
    kind = {dict: "mapping", list: "list", str: "string", type(None): "null"}.get(type(value), type(value).__name__)
    return f"{kind} {value!r}" if value is not None else kind


class BenchmarkingJob(CaseBoundKeys):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    workspace: str = "./workspace"
    testenv: str = Field(min_length=1)
    test_object: TestObject
    rank: RankConfig = Field(default_factory=RankConfig)
    simulation: SimulationConfig | None = None


# ---------------------------------------------------------------- testenv.yaml


class IndexSpec(Section):
    train: str | None = None
    test: str | None = None


class DatasetConfig(Section):
    train_index: str | None = None
    test_index: str | None = None
    # automatic download (controller/datasets/provision.py): url/path/catalog name -> dataset_path
    dataset_url: str | None = Field(default=None, min_length=1, repr=False)  # may hold a presigned token
    dataset_path: str | None = Field(default=None, min_length=1)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    layout: Literal["cityscapes", "ianvs-segmentation", "cloud-robotics", "flat"] | None = None
    index: IndexSpec | None = None
    """names of the index files inside dataset_path (default train-index.txt / test-index.txt)"""
    tasks: Literal["by-city", "by-folder"] | None = None
    """group generated index lines task by task"""
    drop_test_cities: bool = False
    """leave official Cityscapes test-split cities (dummy labels) out of generated index files"""

    @model_validator(mode="before")
    @classmethod
    def _legacy_aliases(cls, data: Any) -> Any:
        # train_url/test_url are the pre-2024 Ianvs names; accept them (the loader warns).
        if isinstance(data, dict):
            data = dict(data)
            for old, new in (("train_url", "train_index"), ("test_url", "test_index")):
                if old in data:
                    if new in data:
                        raise ValueError(f"both {old} (legacy) and {new} are set; keep only {new}")
                    data[new] = data.pop(old)
        return data


class MetricRef(Section):
    name: str = Field(min_length=1)
    url: str | None = None


class ModelMetric(Section):
    name: str = Field(min_length=1)
    url: str | None = None
    mode: str | None = None


class ModelEval(Section):
    model_metric: ModelMetric
    threshold: float = 0.9
    operator: Literal[">", "<", "=", ">=", "<="] = ">"


class TestEnv(Section):
    dataset: DatasetConfig
    metrics: list[MetricRef] = Field(min_length=1)
    model_eval: ModelEval | None = None
    incremental_rounds: int | None = Field(default=None, ge=1)
    use_gpu: bool = False
    seed: int = 0
    num_classes: int = Field(default=19, ge=1, le=255)
    ignore_index: int = Field(default=255, ge=0, le=255)
    class_names: list[str] | None = None

    @model_validator(mode="after")
    def _class_names_match(self) -> TestEnv:
        if self.class_names is not None and len(self.class_names) != self.num_classes:
            raise ValueError(f"class_names has {len(self.class_names)} names but num_classes is {self.num_classes}")
        return self


# ---------------------------------------------------------------- algorithm.yaml


class DataSetting(Section):
    train_ratio: float = Field(default=0.8, gt=0, le=1)
    splitting_method: str = "default"


class Package(Section):
    name: str
    url: str | None = None


class HyperParameterValues(Section):
    values: list[Any] = Field(min_length=1)


class ModuleConfig(Section):
    type: str
    name: str = Field(min_length=1)
    url: str | None = None
    hyperparameters: list[dict[str, HyperParameterValues]] = Field(default_factory=list)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in MODULE_TYPES:
            raise ValueError(f"unknown module type {value!r}; expected one of: {', '.join(MODULE_TYPES)}")
        return value

    @field_validator("hyperparameters")
    @classmethod
    def _one_key_each(cls, value: list[dict[str, HyperParameterValues]]) -> list[dict[str, HyperParameterValues]]:
        seen: set[str] = set()
        for item in value:
            if len(item) != 1:
                raise ValueError(f"each hyperparameter item must have exactly one name, got {sorted(item)}")
            (name,) = item
            if name in seen:
                raise ValueError(f"hyperparameter {name!r} is listed twice")
            seen.add(name)
        return value

    def grid(self) -> dict[str, list[Any]]:
        return {name: spec.values for item in self.hyperparameters for name, spec in item.items()}


class Algorithm(Section):
    paradigm_type: str
    initial_model_url: str | None = None
    lifelong_learning_data_setting: DataSetting = Field(default_factory=DataSetting)
    incremental_learning_data_setting: DataSetting | None = None
    third_party_packages: list[Package] = Field(default_factory=list)
    modules: list[ModuleConfig] = Field(min_length=1)

    @field_validator("paradigm_type")
    @classmethod
    def _known_paradigm(cls, value: str) -> str:
        if value not in PARADIGMS:
            raise ValueError(f"unknown paradigm {value!r}; expected one of: {', '.join(PARADIGMS)}")
        return value

    @model_validator(mode="after")
    def _modules_fit_paradigm(self) -> Algorithm:
        types = [m.type for m in self.modules]
        if types.count("basemodel") != 1:
            raise ValueError(f"exactly one module of type 'basemodel' is required, found {types.count('basemodel')}")
        repeated = sorted({t for t in types if types.count(t) > 1})
        if repeated:
            raise ValueError(f"module types must be unique, repeated: {', '.join(repeated)}")
        return self


ROOT_KEYS: dict[str, type[BaseModel]] = {
    "benchmarkingjob": BenchmarkingJob,
    "testenv": TestEnv,
    "algorithm": Algorithm,
}
