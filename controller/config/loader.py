"""Load benchmarkingjob.yaml and the files it names into one resolved, validated `JobConfig`.

Each error names the file, the line, the key path and what was expected, e.g.
``testenv.yaml:9:7: testenv.metrics[1].url: file not found: ./acc.py``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from controller.bounds import CaseBounds
from controller.config.models import (
    EDGE_NODE_LABELS,
    Algorithm,
    BenchmarkingJob,
    ModuleConfig,
    TestEnv,
)
from controller.config.paths import UndefinedVariable, expand, is_dotted_module, resolve
from controller.config.yamlsource import KeyPath, YamlDocument, format_keypath, load_yaml
from controller.datasets.index import TEST_INDEX, TRAIN_INDEX
from controller.errors import ConfigError
from controller.plugins.builtins import BUILTIN_MODULES

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class ResolvedModule:
    type: str
    name: str
    url: str | None  # absolute file path, dotted module name, or None for a built-in
    grid: dict[str, list[Any]]


@dataclass(frozen=True)
class ResolvedAlgorithm:
    name: str
    file: Path
    config: Algorithm
    modules: tuple[ResolvedModule, ...]
    initial_model_url: str | None
    bounds: CaseBounds = CaseBounds()
    """its test cases' bounds from the benchmarking job: its own entry's, else the job's (controller/bounds.py)"""


@dataclass(frozen=True)
class MetricSpec:
    """A metric by name: built in (``url`` None) or the absolute path / dotted module of a plugin.

    Also the metric of a test case's spec (``controller.plan``): plain data, JSON as it is.
    """

    name: str
    url: str | None


@dataclass(frozen=True)
class ResolvedDataset:
    """testenv.dataset's automatic-download keys. ``url`` may hold secrets: it stays out of ``repr``."""

    url: str = field(repr=False)
    path: Path
    sha256: str | None
    layout: str | None
    train_index_name: str
    test_index_name: str
    """the index files that provisioning writes, by name inside ``path``; the job reads
    ``ResolvedTestEnv.train_index``/``test_index`` (the same files unless the testenv names others)"""
    tasks: str | None
    drop_test_cities: bool
    file: Path
    """the testenv file (relative local sources are relative to its folder)"""


@dataclass(frozen=True)
class ResolvedTestEnv:
    file: Path
    config: TestEnv
    train_index: Path
    test_index: Path
    metrics: tuple[MetricSpec, ...]
    model_metric: MetricSpec | None
    extra: dict[str, Any] = field(default_factory=dict)
    dataset: ResolvedDataset | None = None
    """set when the data comes from ``dataset_url``: `controller run` provisions it first"""


@dataclass(frozen=True)
class JobConfig:
    file: Path
    job: BenchmarkingJob
    workspace: Path
    testenv: ResolvedTestEnv
    algorithms: tuple[ResolvedAlgorithm, ...]

    @property
    def job_dir(self) -> Path:
        return self.workspace / self.job.name


def load_job(path: str | Path) -> JobConfig:
    """Parse and check the job file, its testenv and every algorithm file; nothing is run."""
    job_file = Path(os.path.abspath(Path(path).expanduser()))
    doc = load_yaml(job_file, what="benchmarking job file")
    job = _validate(doc, "benchmarkingjob", BenchmarkingJob)
    base = job_file.parent
    job = _simulation(doc, job, base)
    workspace = _resolve(doc, ("benchmarkingjob", "workspace"), job.workspace, base)
    testenv_file = _resolve(doc, ("benchmarkingjob", "testenv"), job.testenv, base, must_exist=True)
    testenv = load_testenv(testenv_file)
    algorithms = []
    job_bounds = CaseBounds(timeout_s=job.case_timeout, memory_mib=job.case_memory)
    for index, ref in enumerate(job.test_object.algorithms):
        keypath = ("benchmarkingjob", "test_object", "algorithms", index, "url")
        algorithm_file = _resolve(doc, keypath, ref.url, base, must_exist=True)
        own = CaseBounds(timeout_s=ref.case_timeout, memory_mib=ref.case_memory)
        algorithms.append(replace(load_algorithm(algorithm_file, ref.name), bounds=own.over(job_bounds)))
    return JobConfig(job_file, job, workspace, testenv, tuple(algorithms))


def _simulation(doc: YamlDocument, job: BenchmarkingJob, base: Path) -> BenchmarkingJob:
    """The lab's system config: Ianvs's KubeEdge/Sedna versions warned about (once), ``kubeconfig`` and ``inventory`` made absolute."""
    sim = job.simulation
    if sim is None:
        return job
    keypath: KeyPath = ("benchmarkingjob", "simulation")
    ignored = [key for key in ("kubeedge_version", "sedna_version") if getattr(sim, key)]
    if ignored:
        line, _ = doc.position(keypath + (ignored[0],))
        labels = " and ".join(f"{k}={v}" if v else k for k, v in EDGE_NODE_LABELS.items())
        log.warning(
            "%s:%s: %s: ignored: this release deploys plain Kubernetes nodes, edge nodes labelled %s, "
            "not KubeEdge/Sedna",
            doc.path,
            line,
            " and ".join(format_keypath(keypath + (key,)) for key in ignored),
            labels,
        )
    paths = {
        key: _resolve(doc, keypath + (key,), str(value), base, must_exist=key == "inventory")
        for key in ("kubeconfig", "inventory")
        if (value := getattr(sim, key)) is not None
    }
    if not paths:
        return job
    return job.model_copy(update={"simulation": sim.model_copy(update=paths)})


def load_testenv(path: Path) -> ResolvedTestEnv:
    doc = load_yaml(path, what="testenv file")
    raw = doc.data.get("testenv") if isinstance(doc.data, dict) else None
    env = _validate(doc, "testenv", TestEnv)
    base = path.parent
    dataset_raw = raw.get("dataset", {}) if isinstance(raw, dict) else {}
    for legacy, current in (("train_url", "train_index"), ("test_url", "test_index")):
        if isinstance(dataset_raw, dict) and legacy in dataset_raw:
            line, _ = doc.position(("testenv", "dataset", legacy))
            log.warning("%s:%s: testenv.dataset.%s is deprecated; rename it to %s", path, line, legacy, current)
    dataset = _dataset(doc, env, base)
    indexes = {}
    for split in ("train_index", "test_index"):
        value = getattr(env.dataset, split)
        keypath: KeyPath = ("testenv", "dataset", split)
        if dataset is not None:
            # provisioned by `controller run`: the files may not exist yet (check_data checks them later)
            name = getattr(dataset, f"{split}_name")
            indexes[split] = _resolve(doc, keypath, value, base) if value else dataset.path / name
            continue
        if value is None:
            raise doc.error(keypath, f"missing: expected the path of the {split.split('_')[0]} index file")
        indexes[split] = _resolve(doc, keypath, value, base, must_exist=True)
    metrics = tuple(_metric(doc, ("testenv", "metrics", i), m.name, m.url, base) for i, m in enumerate(env.metrics))
    model_metric = None
    if env.model_eval is not None:
        mm = env.model_eval.model_metric
        model_metric = _metric(doc, ("testenv", "model_eval", "model_metric"), mm.name, mm.url, base)
    extra = dict(env.model_extra or {})
    return ResolvedTestEnv(
        path, env, indexes["train_index"], indexes["test_index"], metrics, model_metric, extra, dataset
    )


def _dataset(doc: YamlDocument, env: TestEnv, base: Path) -> ResolvedDataset | None:
    """dataset_url + dataset_path (+ sha256, layout, index names); no file or network access."""
    ds = env.dataset
    keypath: KeyPath = ("testenv", "dataset")
    if not ds.dataset_url:
        for key in ("dataset_path", "sha256", "layout", "index", "tasks"):
            if getattr(ds, key) is not None:
                raise doc.error(keypath + (key,), "only meaningful with dataset_url (the archive or dataset to fetch)")
        return None
    if not ds.dataset_path:
        raise doc.error(
            keypath + ("dataset_path",), "missing: expected the folder the dataset from dataset_url goes to"
        )
    try:
        url = expand(ds.dataset_url)
    except UndefinedVariable as exc:
        raise doc.error(keypath + ("dataset_url",), str(exc)) from None
    names = {"train": TRAIN_INDEX, "test": TEST_INDEX}
    for split in names:
        value = getattr(ds.index, split) if ds.index else None
        if value is not None:
            if not value or Path(value).is_absolute() or ".." in Path(value).parts:
                raise doc.error(keypath + ("index", split), f"expected a file name inside dataset_path, got {value!r}")
            names[split] = value
    return ResolvedDataset(
        url=url,
        path=_resolve(doc, keypath + ("dataset_path",), ds.dataset_path, base),
        sha256=ds.sha256.lower() if ds.sha256 else None,
        layout=ds.layout,
        train_index_name=names["train"],
        test_index_name=names["test"],
        tasks=ds.tasks,
        drop_test_cities=ds.drop_test_cities,
        file=doc.path,
    )


def load_algorithm(path: Path, name: str) -> ResolvedAlgorithm:
    doc = load_yaml(path, what="algorithm file")
    algorithm = _validate(doc, "algorithm", Algorithm)
    base = path.parent
    modules = tuple(
        _module(doc, ("algorithm", "modules", i), module, base) for i, module in enumerate(algorithm.modules)
    )
    initial = None
    if algorithm.initial_model_url:
        initial = str(
            _resolve(doc, ("algorithm", "initial_model_url"), algorithm.initial_model_url, base, must_exist=True)
        )
    return ResolvedAlgorithm(name, path, algorithm, modules, initial)


# ---------------------------------------------------------------- helpers


def _validate(doc: YamlDocument, root: str, model: type[M]) -> M:
    if not isinstance(doc.data, dict) or root not in doc.data:
        found = ", ".join(map(str, doc.data)) if isinstance(doc.data, dict) else type(doc.data).__name__
        raise ConfigError(f"expected a mapping with the root key '{root}', found: {found or 'nothing'}", file=doc.path)
    extra_roots = [k for k in doc.data if k != root]
    for key in extra_roots:
        log.warning("%s:%s: unknown key %r ignored", doc.path, doc.position((key,))[0], key)
    body = doc.data[root]
    if not isinstance(body, dict):
        raise doc.error((root,), f"expected a mapping, got {_type_name(body)}")
    try:
        value = model.model_validate(body)
    except ValidationError as exc:
        raise _from_validation(doc, root, exc) from None
    _warn_extras(doc, (root,), value, forward=root == "testenv")
    return value


def _from_validation(doc: YamlDocument, root: str, exc: ValidationError) -> ConfigError:
    errors = exc.errors(include_url=False)
    first = errors[0]
    keypath: KeyPath = (root,) + tuple(p for p in first["loc"] if isinstance(p, (str, int)))
    message = _message(first)
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    return doc.error(keypath, message)


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "missing":
        return "missing required key"
    if kind == "value_error":
        return str(error["ctx"].get("error", error["msg"])) if "ctx" in error else error["msg"]
    got = error.get("input")
    return f"{error['msg'].lower()}, got {_type_name(got)} {_short(got)}"


def _type_name(value: Any) -> str:
    return {dict: "mapping", list: "list", str: "string", type(None): "null"}.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _warn_extras(doc: YamlDocument, keypath: KeyPath, value: Any, *, forward: bool = False) -> None:
    if isinstance(value, BaseModel):
        for key in value.model_extra or {}:
            line, _ = doc.position(keypath + (key,))
            where = f"{doc.path}:{line}" if line else str(doc.path)
            if forward:
                log.warning(
                    "%s: %s: not a known testenv key; forwarded to the paradigm as-is",
                    where,
                    format_keypath(keypath + (key,)),
                )
            else:
                log.warning("%s: %s: unknown key ignored (typo?)", where, format_keypath(keypath + (key,)))
        for name in type(value).model_fields:
            _warn_extras(doc, keypath + (name,), getattr(value, name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _warn_extras(doc, keypath + (index,), item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _warn_extras(doc, keypath + (key,), item)


def _resolve(doc: YamlDocument, keypath: KeyPath, value: str, base: Path, *, must_exist: bool = False) -> Path:
    try:
        path = resolve(value, base)
    except UndefinedVariable as exc:
        raise doc.error(keypath, str(exc)) from None
    if must_exist and not path.exists():
        raise doc.error(keypath, f"file not found: {value}")
    return path


def _metric(doc: YamlDocument, keypath: KeyPath, name: str, url: str | None, base: Path) -> MetricSpec:
    if url:
        return MetricSpec(name, _plugin_url(doc, keypath + ("url",), url, base))
    from controller.metrics.registry import builtin_names, is_builtin

    if not is_builtin(name):
        raise doc.error(
            keypath + ("name",),
            f"unknown metric {name!r}: not built in and no url given; built-in metrics are: {', '.join(builtin_names())}",
        )
    return MetricSpec(name, None)


def _module(doc: YamlDocument, keypath: KeyPath, module: ModuleConfig, base: Path) -> ResolvedModule:
    if module.url:
        url: str | None = _plugin_url(doc, keypath + ("url",), module.url, base)
    else:
        if module.name not in BUILTIN_MODULES:
            raise doc.error(
                keypath + ("name",),
                f"no url given and {module.name!r} is not a built-in module; built-ins are: {', '.join(sorted(BUILTIN_MODULES))}",
            )
        url = None
    return ResolvedModule(module.type, module.name, url, module.grid())


def _plugin_url(doc: YamlDocument, keypath: KeyPath, url: str, base: Path) -> str:
    if is_dotted_module(url):
        return url
    return str(_resolve(doc, keypath, url, base, must_exist=True))
