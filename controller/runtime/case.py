"""`run_case(spec, workspace)`: the single entry point that executes one test case.

Used by the local runtime and (later) by the in-cluster job controller, so both run a case in
exactly the same way. A failure never escapes: it becomes a result with status "failed", a
one-line error, and the traceback in the case log.
"""
from __future__ import annotations

import logging
import random
import time
import traceback
from datetime import datetime
from pathlib import Path

from controller.plan import CaseSpec
from controller.plugins.context import Context
from controller.provenance import provenance
from controller.results import CaseResult, write_json_atomic, write_result

log = logging.getLogger(__name__)

SPEC_FILE = "spec.json"
LOG_FILE = "case.log"
METRICS_FILE = "metrics.json"
PROVENANCE_FILE = "provenance.json"


def case_dir(workspace: Path, spec: CaseSpec) -> Path:
    return workspace / spec.job / spec.case_id


def run_case(spec: CaseSpec, workspace: Path) -> CaseResult:
    folder = case_dir(workspace, spec)
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / SPEC_FILE, spec.to_dict())
    handler = _attach_log(folder / LOG_FILE)
    started = datetime.now().astimezone()
    clock = time.perf_counter()
    result = CaseResult(
        case_id=spec.case_id,
        job=spec.job,
        algorithm=spec.algorithm,
        paradigm=spec.paradigm,
        modules={m.type: m.name for m in spec.modules},
        hyperparameters=spec.hyperparameters,
        started=started.isoformat(timespec="seconds"),
        case_dir=str(folder),
        algorithm_url=spec.algorithm_url,
    )
    try:
        log.info("case %s: %s (%s) %s", spec.case_id, spec.algorithm, spec.paradigm, spec.hyperparameters)
        result.provenance = provenance(spec)
        write_json_atomic(folder / PROVENANCE_FILE, result.provenance)
        output = _execute(spec, folder)
        result.metrics = output.metrics
        result.matrix = output.matrix
        result.per_task = output.per_task
        result.per_class = output.per_class
        result.rounds = output.rounds
        write_json_atomic(folder / METRICS_FILE, {"metrics": output.metrics, "per_task": output.per_task})
    except Exception as exc:  # noqa: BLE001 - a failing case is recorded, the others still run
        result.status = "failed"
        result.error = _one_line(exc)
        log.error("case %s failed: %s\n%s", spec.case_id, result.error, traceback.format_exc())
    finally:
        finished = datetime.now().astimezone()
        result.finished = finished.isoformat(timespec="seconds")
        result.duration_s = round(time.perf_counter() - clock, 3)
        write_result(result, folder)
        logging.getLogger().removeHandler(handler)
        handler.close()
    return result


def _execute(spec: CaseSpec, folder: Path):  # type: ignore[no-untyped-def]
    import numpy as np

    from controller.paradigms import paradigm_class
    from controller.runtime.packages import import_third_party

    random.seed(spec.seed)
    np.random.seed(spec.seed % 2**32)
    import_third_party(spec.third_party_packages)
    env = spec.testenv
    context = Context(
        workspace=folder,
        seed=spec.seed,
        device=_device(env.use_gpu),
        num_classes=env.num_classes,
        ignore_index=env.ignore_index,
        class_names=tuple(env.class_names or _default_class_names(env.num_classes)),
        extra=dict(env.extra),
        logger=logging.getLogger(f"controller.plugin.{spec.algorithm}"),
    )
    return paradigm_class(spec.paradigm)(spec, context).run()


def _default_class_names(num_classes: int) -> tuple[str, ...]:
    from controller.datasets.cityscapes import TRAIN_CLASSES

    if num_classes == len(TRAIN_CLASSES):
        return tuple(TRAIN_CLASSES)
    return tuple(str(i) for i in range(num_classes))


def _device(use_gpu: bool) -> str:
    if not use_gpu:
        return "cpu"
    try:
        import torch

        if torch.cuda.is_available():
            return "cuda"
    except ImportError:
        pass
    log.warning("use_gpu is set but no CUDA device is available; running on the CPU")
    return "cpu"


def _attach_log(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    return handler


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, (ValueError,)) else text
