"""Turn a JobConfig into test-case specs: plain, JSON-able data with stable ids.

A spec carries everything needed to run one case (modules, hyper-parameters, testenv, seed), so
the local runtime and the in-cluster job controller run it the same way. Its id is a hash of that
content: file *contents* rather than absolute paths, so the same case on another machine (or in a
container) has the same id, and `--resume` recognises finished work.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, overload

from controller.bounds import CaseBounds
from controller.config.loader import JobConfig, MetricSpec, ResolvedAlgorithm, ResolvedTestEnv
from controller.config.paths import resolve

log = logging.getLogger(__name__)

ID_LENGTH = 12


@dataclass(frozen=True)
class ModuleSpec:
    type: str
    name: str
    url: str | None
    hyperparameters: dict[str, Any]


@dataclass(frozen=True)
class TestEnvSpec:
    train_index: str
    test_index: str
    metrics: tuple[MetricSpec, ...]
    model_metric: MetricSpec | None
    model_eval: dict[str, Any] | None
    incremental_rounds: int | None
    use_gpu: bool
    num_classes: int
    ignore_index: int
    class_names: tuple[str, ...] | None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CaseSpec:
    benchmarking_job: str
    algorithm: str
    algorithm_url: str
    paradigm: str
    modules: tuple[ModuleSpec, ...]
    data_setting: dict[str, Any]
    initial_model_url: str | None
    third_party_packages: tuple[dict[str, Any], ...]
    testenv: TestEnvSpec
    seed: int
    case_id: str = ""
    bounds: CaseBounds = CaseBounds()
    """how long the case may run and how much memory it may hold; not part of its identity (see `fingerprint`)"""

    def module(self, type_: str) -> ModuleSpec | None:
        return next((m for m in self.modules if m.type == type_), None)

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """Flattened as the leaderboard shows them: ``<moduletype>-<hpname>``."""
        return {f"{m.type}-{k}": v for m in self.modules for k, v in m.hyperparameters.items()}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        # An unbounded case's spec stays exactly as before bounds existed, so older readers (a job controller not
        # yet upgraded, stored spec.json files) still take it.
        if self.bounds.bounded:
            data["bounds"] = self.bounds.to_dict()
        else:
            del data["bounds"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseSpec:
        env = dict(data["testenv"])
        env["metrics"] = tuple(MetricSpec(**m) for m in env["metrics"])
        env["model_metric"] = MetricSpec(**env["model_metric"]) if env.get("model_metric") else None
        env["class_names"] = tuple(env["class_names"]) if env.get("class_names") else None
        fields = dict(data)
        if "job" in fields:  # written before the benchmarking job had one name everywhere
            fields["benchmarking_job"] = fields.pop("job")
        fields["testenv"] = TestEnvSpec(**env)
        fields["modules"] = tuple(ModuleSpec(**m) for m in data["modules"])
        fields["third_party_packages"] = tuple(data.get("third_party_packages", ()))
        fields["bounds"] = CaseBounds.from_dict(data.get("bounds"))
        return cls(**fields)


def build_plan(config: JobConfig, bounds: CaseBounds | None = None) -> list[CaseSpec]:
    """One spec per algorithm x Cartesian product of every module's hyper-parameter values.

    ``bounds`` (the command line's) win over the algorithm's and the job's, bound by bound."""
    given = bounds or CaseBounds()
    testenv = _testenv_spec(config.testenv)
    specs: list[CaseSpec] = []
    for algorithm in config.algorithms:
        for modules in _module_combinations(algorithm):
            spec = CaseSpec(
                benchmarking_job=config.job.name,
                algorithm=algorithm.name,
                algorithm_url=str(algorithm.file),
                paradigm=algorithm.config.paradigm_type,
                modules=modules,
                data_setting=algorithm.config.lifelong_learning_data_setting.model_dump(),
                initial_model_url=algorithm.initial_model_url,
                third_party_packages=_packages(algorithm),
                testenv=testenv,
                seed=config.testenv.config.seed,
                bounds=given.over(algorithm.bounds),
            )
            spec = _with_id(spec)
            if any(s.case_id == spec.case_id for s in specs):
                log.warning(
                    "algorithm %s: hyper-parameters %s repeat an earlier combination; run once",
                    algorithm.name,
                    spec.hyperparameters,
                )
                continue
            specs.append(spec)
    return specs


def _module_combinations(algorithm: ResolvedAlgorithm) -> list[tuple[ModuleSpec, ...]]:
    # product within a module, then across modules, in the order the YAML lists them
    per_module: list[list[ModuleSpec]] = []
    for module in algorithm.modules:
        names = list(module.grid)
        choices = [
            ModuleSpec(module.type, module.name, module.url, dict(zip(names, values)))
            for values in itertools.product(*(module.grid[n] for n in names))
        ]
        per_module.append(choices)
    return [tuple(combo) for combo in itertools.product(*per_module)]


def _packages(algorithm: ResolvedAlgorithm) -> tuple[dict[str, Any], ...]:
    out = []
    for package in algorithm.config.third_party_packages:
        url = str(resolve(package.url, algorithm.file.parent)) if package.url else None
        out.append({"name": package.name, "url": url})
    return tuple(out)


def _testenv_spec(env: ResolvedTestEnv) -> TestEnvSpec:
    config = env.config
    model_eval = None
    if config.model_eval is not None:
        model_eval = {
            "threshold": config.model_eval.threshold,
            "operator": config.model_eval.operator,
            "mode": config.model_eval.model_metric.mode,
        }
    return TestEnvSpec(
        train_index=str(env.train_index),
        test_index=str(env.test_index),
        metrics=env.metrics,
        model_metric=env.model_metric,
        model_eval=model_eval,
        incremental_rounds=config.incremental_rounds,
        use_gpu=config.use_gpu,
        num_classes=config.num_classes,
        ignore_index=config.ignore_index,
        class_names=tuple(config.class_names) if config.class_names else None,
        extra=dict(env.extra),
    )


def fingerprint(spec: CaseSpec, digests: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The content that identifies a case: paths replaced by the sha256 of what they point at (read now, or taken
    from ``digests``, `content_digests` as made where the case was planned)."""

    def ref(url: str | None) -> str | None:
        if digests is None:
            return _content_ref(url)
        return None if url is None else digests.get(url, url)

    data = spec.to_dict()
    data.pop("case_id", None)
    data.pop("bounds", None)  # how long a case may run is not what it computes: same case, same id
    data.pop("benchmarking_job", None)
    data.pop("algorithm_url", None)
    for module in data["modules"]:
        module["url"] = ref(module["url"])
    env = data["testenv"]
    for key in ("train_index", "test_index"):
        env[key] = ref(env[key])
    for metric in env["metrics"]:
        metric["url"] = ref(metric["url"])
    if env["model_metric"]:
        env["model_metric"]["url"] = ref(env["model_metric"]["url"])
    data["initial_model_url"] = ref(data["initial_model_url"])
    for package in data["third_party_packages"]:
        package["url"] = Path(package["url"]).name if package["url"] else None
    return data


def content_digests(spec: CaseSpec) -> dict[str, str]:
    """``{path: "sha256:..."}`` of every file the case names (what `fingerprint` reads)."""
    urls = [m.url for m in spec.modules] + [spec.testenv.train_index, spec.testenv.test_index, spec.initial_model_url]
    urls += [m.url for m in spec.testenv.metrics]
    if spec.testenv.model_metric is not None:
        urls.append(spec.testenv.model_metric.url)
    return {url: digest for url in urls if url is not None and (digest := _content_ref(url)) != url}


def config_hash(spec: CaseSpec, digests: Mapping[str, str] | None = None) -> str:
    return hashlib.sha256(canonical_json(fingerprint(spec, digests)).encode()).hexdigest()


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def _with_id(spec: CaseSpec) -> CaseSpec:
    from dataclasses import replace

    return replace(spec, case_id=config_hash(spec)[:ID_LENGTH])


@overload
def _content_ref(url: str) -> str: ...
@overload
def _content_ref(url: None) -> None: ...
@overload
def _content_ref(url: str | None) -> str | None: ...


def _content_ref(url: str | None) -> str | None:
    """sha256 of a file's bytes; dotted module names and None stay as they are."""
    if url is None:
        return None
    return file_digest(url) if Path(url).is_file() else url


def file_digest(path: str | Path) -> str:
    """``sha256:<hex>`` of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()
