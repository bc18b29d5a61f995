"""The result record of one test case: plain JSON with a schema version.

The story manager (leaderboard, reports) only ever reads these records; it never runs anything.
A record is written to ``<workspace>/<job>/<case-id>/result.json`` by `run_case`.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from controller import fsio

SCHEMA_VERSION = 1
RESULT_FILE = "result.json"


@dataclass
class AccuracyMatrix:
    """R for lifelong learning, in the GEM convention.

    ``values[i][j]``: metric on task j's test split after training round i+1 (rows = rounds 1..T).
    ``baseline[j]``: metric on task j before any training (b-bar in GEM), used for FWT.
    """

    metric: str
    tasks: list[str]
    values: list[list[float]]
    baseline: list[float]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AccuracyMatrix":
        return cls(
            metric=data["metric"],
            tasks=list(data["tasks"]),
            values=[[_num(v) for v in row] for row in data["values"]],
            baseline=[_num(v) for v in data["baseline"]],
        )


@dataclass
class CaseResult:
    """Everything known about one finished (or failed) test case."""

    case_id: str
    job: str
    algorithm: str
    paradigm: str
    modules: dict[str, str]
    hyperparameters: dict[str, Any]
    status: str = "ok"  # "ok" | "failed"
    error: str | None = None
    metrics: dict[str, float | None] = field(default_factory=dict)
    matrix: AccuracyMatrix | None = None
    per_task: dict[str, dict[str, float | None]] = field(default_factory=dict)
    per_class: dict[str, float | None] = field(default_factory=dict)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    started: str | None = None
    finished: str | None = None
    duration_s: float | None = None
    case_dir: str | None = None
    algorithm_url: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CaseResult":
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(f"result schema_version {version!r} is not {SCHEMA_VERSION}")
        fields = dict(data)
        if fields.get("matrix") is not None:
            fields["matrix"] = AccuracyMatrix.from_dict(fields["matrix"])
        return cls(**fields)


def write_result(result: CaseResult, case_dir: Path) -> Path:
    """Atomically write `result` as ``case_dir/result.json`` (temp file + rename)."""
    return write_json_atomic(case_dir / RESULT_FILE, result.to_dict())


def read_result(case_dir: Path) -> CaseResult | None:
    """The result stored in `case_dir`, or None when there is none (or it is unreadable)."""
    path = case_dir / RESULT_FILE
    try:
        return CaseResult.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError, KeyError):
        return None


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
