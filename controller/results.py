"""The result record of one test case: plain JSON with a schema version.

The story manager (leaderboard, reports) only ever reads these records; it never runs anything.
A record is written to ``<workspace>/<job>/<case-id>/result.json`` by `run_case`, once, when the case ends:

- ``ok``: the case finished and produced its metrics (a record claiming ok without metrics is refused on
  reading and writing alike);
- ``failed``: the case raised, or its process died (the error says why);
- ``interrupted``: a signal (Ctrl-C, SIGTERM, SIGHUP) stopped it; the error names the signal.

A case that is still running, or whose process vanished without a word (SIGKILL, power loss), has no record:
`run_case` removes the previous one before it starts. So `--resume` reruns everything that is not ``ok``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from controller import fsio
from controller.errors import ResultError

SCHEMA_VERSION = 3
_OLDER_SCHEMAS: dict[int, dict[str, str]] = {1: {"job": "benchmarking_job"}, 2: {}}
"""What changed since: schema 1 called the benchmarking job ``job``; schema 2 had no ``efficiency`` (read as empty).
Older records are read, never written; a reader of schema 2 refuses a schema 3 record by its version."""
RESULT_FILE = "result.json"
SPEC_FILE = "spec.json"
"""The test case's spec beside its result (``CaseSpec.to_dict()``): it names the metrics the testenv asks for."""

STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_INTERRUPTED = "interrupted"
STATUSES = (STATUS_OK, STATUS_FAILED, STATUS_INTERRUPTED)
EFFICIENCY_METRICS = (
    "wall_time_s",
    "train_time_s",
    "evaluate_time_s",
    "cpu_time_s",
    "peak_rss_mib",
    "peak_gpu_mib",
    "model_bytes",
    "model_parameters",
    "latency_p50_ms",
    "latency_p95_ms",
    "throughput_sps",
    "cloud_samples",
    "cloud_bytes",
)
"""What a case cost, measured by the runtime and the paradigm the same way wherever it ran (docs/efficiency.md);
ranked and selected like metrics. A value nobody could measure is None."""
MATRIX_METRICS = frozenset({"MATRIX"})
"""Metrics whose value is the accuracy matrix itself: a result holds them in ``matrix``, not in ``metrics``."""


@dataclass
class AccuracyMatrix:
    """R for lifelong learning, in the GEM convention.

    ``values[i][j]``: metric on task j's test split after training round i+1 (rows = rounds 1..T).
    ``baseline[j]``: metric on task j before any training (b-bar in GEM), used for FWT.
    A value read back from JSON is None where the metric was NaN (written as null).
    """

    metric: str
    tasks: list[str]
    values: Sequence[Sequence[float | None]]
    baseline: Sequence[float | None]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AccuracyMatrix:
        return cls(
            metric=data["metric"],
            tasks=list(data["tasks"]),
            values=[[_num(v) for v in row] for row in data["values"]],
            baseline=[_num(v) for v in data["baseline"]],
        )


@dataclass
class CaseResult:
    """Everything known about one ended test case: finished (ok), failed or interrupted.

    ``status`` has no default: whoever makes a record says how the case ended.
    """

    case_id: str
    benchmarking_job: str
    algorithm: str
    paradigm: str
    modules: dict[str, str]
    hyperparameters: dict[str, Any]
    status: str
    error: str | None = None
    metrics: dict[str, float | None] = field(default_factory=dict)
    matrix: AccuracyMatrix | None = None
    per_task: dict[str, dict[str, float | None]] = field(default_factory=dict)
    per_class: dict[str, float | None] = field(default_factory=dict)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    efficiency: dict[str, float | None] = field(default_factory=dict)
    """`EFFICIENCY_METRICS` by name: what the case cost (also for a failed case, as far as it got)"""
    started: str | None = None
    finished: str | None = None
    duration_s: float | None = None
    case_dir: str | None = None
    algorithm_url: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    def problem(self) -> str | None:
        """Why this is not a record of an ended case (None when it is one)."""
        if self.status not in STATUSES:
            return f"status {self.status!r} is not one of {', '.join(STATUSES)}"
        if self.ok and not self.metrics:
            return "claims status ok but holds no metrics (a case that did not finish?)"
        if not self.ok and not self.error:
            return f"status {self.status} without an error saying why"
        return None

    def missing_metrics(self, wanted: Iterable[str]) -> list[str]:
        """The metrics of ``wanted`` (the testenv's) that this result does not hold."""
        return missing_metrics(self.metrics, self.matrix is not None, wanted)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = _jsonable(asdict(self))
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseResult:
        """The record in ``data``; ValueError when it is not one of an ended case (see ``problem``)."""
        version = data.get("schema_version")
        if version != SCHEMA_VERSION and version not in _OLDER_SCHEMAS:
            raise ValueError(f"result schema_version {version!r} is not {SCHEMA_VERSION}")
        if "status" not in data:
            raise ValueError("no status")
        fields = {_OLDER_SCHEMAS.get(version, {}).get(key, key): value for key, value in data.items()}
        fields["schema_version"] = SCHEMA_VERSION
        if fields.get("matrix") is not None:
            fields["matrix"] = AccuracyMatrix.from_dict(fields["matrix"])
        result = cls(**fields)
        problem = result.problem()
        if problem:
            raise ValueError(problem)
        return result


def missing_metrics(metrics: Mapping[str, Any], has_matrix: bool, wanted: Iterable[str]) -> list[str]:
    """The names in ``wanted`` that ``metrics`` lacks (a matrix-valued metric is held by the result's matrix)."""
    return [name for name in wanted if name not in metrics and not (name in MATRIX_METRICS and has_matrix)]


def write_result(result: CaseResult, case_dir: Path) -> Path:
    """Atomically write `result` as ``case_dir/result.json`` (temp file + rename); refuses a record that
    ``problem`` finds fault with, so an unfinished case can never be written as ok."""
    problem = result.problem()
    if problem:
        raise ValueError(f"case {result.case_id}: refusing to write its result: {problem}")
    return write_json_atomic(case_dir / RESULT_FILE, result.to_dict())


def read_result(case_dir: Path, wanted_metrics: Iterable[str] = ()) -> CaseResult | None:
    """The result stored in `case_dir`, or None when there is none.

    ResultError, naming the file, when it cannot be read (e.g. cut short by a crash), is not a record of an
    ended case, or claims ok without one of ``wanted_metrics`` (the metrics the testenv asks for).
    """
    path = case_dir / RESULT_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ResultError(f"cannot read it: {exc.strerror}", file=path) from None
    try:
        result = CaseResult.from_dict(json.loads(text))
    except (ValueError, TypeError, KeyError) as exc:
        raise ResultError(f"not a case result: {_reason(exc)}", file=path) from None
    missing = result.missing_metrics(wanted_metrics) if result.ok else []
    if missing:
        raise ResultError(f"claims status ok but lacks {', '.join(missing)}, which the testenv asks for", file=path)
    return result


def asked_metrics(case_dir: Path) -> list[str]:
    """The metrics the case's testenv asks for, from its spec.json ([] when there is none to read)."""
    try:
        spec = json.loads((case_dir / SPEC_FILE).read_text())
        return [str(metric["name"]) for metric in spec["testenv"]["metrics"]]
    except (OSError, ValueError, TypeError, KeyError):
        return []


def remove_result(case_dir: Path) -> None:
    """Forget the case's previous result: from now until it ends again, the case has none."""
    (case_dir / RESULT_FILE).unlink(missing_ok=True)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    if isinstance(exc, TypeError):
        return f"unexpected fields ({exc})"
    if isinstance(exc, KeyError):
        return f"missing field {exc}"
    return str(exc)


def write_json_atomic(path: Path, data: Any) -> Path:
    """Strict JSON of ``data`` (numpy values and NaN converted) at ``path``, written atomically; folders created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return fsio.write_json(path, _jsonable(data))


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays and NaN into strict JSON (NaN -> null)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy array or scalar, without importing numpy
        return _jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value
