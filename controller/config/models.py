"""Pydantic models of the three Ianvs configuration files.

The models check shape and types only; paths are resolved and checked by `controller.config.loader`,
which knows which file named them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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


class SimulationConfig(Section):
    """Ianvs's cluster-size block (cloud/edge node counts, versions): accepted for compatibility; the lab's size
    is set in the Ansible inventory (inventories/), not here."""

    cloud_number: int = Field(default=0, ge=0)
    edge_number: int = Field(default=0, ge=0)
    cluster_name: str = ""
    kubeedge_version: str = ""
    sedna_version: str = ""


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
