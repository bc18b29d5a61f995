"""`run_case(spec, workspace)`: the single entry point that executes one test case.

Used by the local runtime (in this process or in a case process of its own), by the Simulation Job Controller
and by case Pods, so every runtime runs a case in exactly the same way and records how it ended
(controller/results.py):

- it finished with every metric the testenv asks for: "ok";
- it raised: "failed", a one-line error, and the traceback in the case log;
- a signal stopped it (`Interrupted`, Ctrl-C): "interrupted", naming the signal, and `Interrupted` is raised
  again, carrying that record, so the caller stops too instead of starting the next case.

The previous result is removed before the case starts, so a case whose process dies without a word (SIGKILL,
power loss) has no result at all, never a stale or half-made one.

What the case cost (``CaseResult.efficiency``) is measured here, so it is measured alike in every runtime: wall and
CPU time, the peak resident memory of this process's tree (sampled; plus the kernel's high-water mark when the
process exists for this case alone: `mark_case_process`), the saved model's bytes; the paradigm adds time per
phase, inference latency and throughput, and the parameter count (docs/efficiency.md).
"""

from __future__ import annotations

import logging
import os
import random
import resource
import sys
import time
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.plan import CaseSpec
from controller.plugins.context import Context
from controller.provenance import provenance
from controller.results import (
    EFFICIENCY_METRICS,
    SPEC_FILE,
    STATUS_FAILED,
    STATUS_INTERRUPTED,
    STATUS_OK,
    CaseResult,
    missing_metrics,
    remove_result,
    write_json_atomic,
    write_result,
)
from controller.runtime.interrupt import Interrupted, signal_name_of
from controller.runtime.usage import SAMPLE_S, PeakSampler, cpu_seconds, folder_bytes, peak_rss_bytes

if TYPE_CHECKING:  # the paradigms import numpy: `_execute` imports them when a case runs
    from controller.paradigms.base import ParadigmOutput

log = logging.getLogger(__name__)

LOG_FILE = "case.log"
METRICS_FILE = "metrics.json"
PROVENANCE_FILE = "provenance.json"

Runner = Callable[[CaseSpec, Path], CaseResult]
"""What runs a test case: `run_case`, or a stand-in with its signature (tests, benchmarks)."""


_case_process = False


def mark_case_process() -> None:
    """Say that this process exists to run one test case (a case process, a case Pod): its memory high-water mark
    is then the case's own, not also that of the cases before it in a shared process."""
    global _case_process
    _case_process = True


class _Cost:
    """The runtime's share of a case's efficiency: started with the case, finished once when it ends."""

    def __init__(self) -> None:
        self.clock = time.perf_counter()
        self.cpu = cpu_seconds()
        self.sampler = PeakSampler(os.getpid()).start()
        self.measured: dict[str, float | None] | None = None
        cuda = _cuda()
        if cuda is not None:  # a shared process: an earlier case's peak is not this one's
            for device in range(cuda.device_count()):
                cuda.reset_peak_memory_stats(device)

    def finish(self, folder: Path, paradigm: dict[str, Any]) -> dict[str, float | None]:
        if self.measured is None:
            peak = self.sampler.stop()
            if _case_process:  # this process and its ended children exist for the case alone: their marks count
                children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux
                peak = max(peak, peak_rss_bytes(os.getpid()), children)
            saved = folder_bytes(folder / "kb") + folder_bytes(folder / "output" / "model")
            self.measured = {
                "wall_time_s": round(time.perf_counter() - self.clock, 3),
                "cpu_time_s": round(cpu_seconds() - self.cpu, 3),
                "peak_rss_mib": round(peak / 2**20, 1),
                "peak_gpu_mib": _peak_gpu_mib(),
                "model_bytes": saved or None,
            }
        return {name: None for name in EFFICIENCY_METRICS} | paradigm | self.measured


def _cuda() -> Any:
    """torch.cuda when the case's code has imported torch and used CUDA, else None. Never imports torch itself: a
    case that does not use it must not pay for it."""
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    try:
        return cuda if cuda is not None and cuda.is_available() and cuda.is_initialized() else None
    except Exception:  # noqa: BLE001 - a broken CUDA set-up leaves the value empty, the case's result stands
        return None


def _peak_gpu_mib() -> float | None:
    """The most tensor memory PyTorch's allocator held on any one GPU during the case (max_memory_allocated: not
    the CUDA context, not memory of other libraries), or None without CUDA."""
    cuda = _cuda()
    if cuda is None:
        return None
    peak = max((int(cuda.max_memory_allocated(device)) for device in range(cuda.device_count())), default=0)
    return round(peak / 2**20, 1)


def case_dir(workspace: Path, spec: CaseSpec) -> Path:
    return workspace / spec.benchmarking_job / spec.case_id


def run_case(spec: CaseSpec, workspace: Path) -> CaseResult:
    folder = case_dir(workspace, spec)
    folder.mkdir(parents=True, exist_ok=True)
    remove_result(folder)
    write_json_atomic(folder / SPEC_FILE, spec.to_dict())
    handler = _attach_log(folder / LOG_FILE)
    started = datetime.now().astimezone()
    clock = time.perf_counter()
    cost = _Cost()
    paradigm_cost: dict[str, Any] = {}
    ended: dict[str, Any] = {}
    try:
        log.info("case %s: %s (%s) %s", spec.case_id, spec.algorithm, spec.paradigm, spec.hyperparameters)
        ended["provenance"] = {
            **provenance(spec),
            "measurement": {
                "process": "case process" if _case_process else "shared with the run and earlier cases",
                "memory_sample_s": SAMPLE_S,
            },
        }
        write_json_atomic(folder / PROVENANCE_FILE, ended["provenance"])
        output = _execute(spec, folder)
        paradigm_cost = output.efficiency
        write_json_atomic(folder / METRICS_FILE, {"metrics": output.metrics, "per_task": output.per_task})
        ended.update(
            metrics=output.metrics,
            matrix=output.matrix,
            per_task=output.per_task,
            per_class=output.per_class,
            rounds=output.rounds,
        )
        incomplete = _incomplete(spec, output.metrics, output.matrix is not None)
        if incomplete:
            ended.update(status=STATUS_FAILED, error=incomplete)
            log.error("case %s failed: %s", spec.case_id, incomplete)
        else:
            ended["status"] = STATUS_OK
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a failing case is recorded, the others still run
        ended.update(status=STATUS_FAILED, error=_one_line(exc))
        log.error("case %s failed: %s\n%s", spec.case_id, ended["error"], traceback.format_exc())
    except KeyboardInterrupt as exc:
        name = signal_name_of(exc)
        ended.update(status=STATUS_INTERRUPTED, error=f"interrupted by {name}")
        log.warning("case %s interrupted by %s", spec.case_id, name)
        ended["efficiency"] = cost.finish(folder, paradigm_cost)
        raise Interrupted(name, [_record(spec, folder, started, clock, ended)]) from None
    finally:
        cost.finish(folder, paradigm_cost)  # the sampler thread stops whatever ended the case
        logging.getLogger().removeHandler(handler)
        handler.close()
    ended["efficiency"] = cost.finish(folder, paradigm_cost)
    return _record(spec, folder, started, clock, ended)


def record_end(
    spec: CaseSpec, workspace: Path, status: str, error: str, efficiency: dict[str, float | None] | None = None
) -> CaseResult:
    """Write the result of a case whose own process ended without one (killed, or stopped before it could), with
    what its runtime saw of its cost (``efficiency``), if anything."""
    folder = case_dir(workspace, spec)
    ended: dict[str, Any] = {"status": status, "error": error}
    if efficiency:
        ended["efficiency"] = {name: None for name in EFFICIENCY_METRICS} | efficiency
    return _record(spec, folder, None, None, ended)


def last_log_line(spec: CaseSpec, workspace: Path) -> str:
    """The case log's last non-empty line ('' when there is none): what a killed case was doing."""
    try:
        with open(case_dir(workspace, spec) / LOG_FILE, "rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - 4096))
            lines = [line for line in handle.read().decode("utf-8", "replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""


def _record(
    spec: CaseSpec, folder: Path, started: datetime | None, clock: float | None, ended: dict[str, Any]
) -> CaseResult:
    """Write the case's result: how it ended (``ended``: status, error, metrics, ...) and when."""
    result = case_result(
        spec,
        started=started.isoformat(timespec="seconds") if started else None,
        finished=datetime.now().astimezone().isoformat(timespec="seconds"),
        duration_s=round(time.perf_counter() - clock, 3) if clock is not None else None,
        case_dir=str(folder),
        **ended,
    )
    write_result(result, folder)
    return result


def case_result(spec: CaseSpec, **ended: Any) -> CaseResult:
    """The record of ``spec``'s case with how it ended (``status``, ``error``, ``metrics``, ...)."""
    return CaseResult(
        case_id=spec.case_id,
        benchmarking_job=spec.benchmarking_job,
        algorithm=spec.algorithm,
        paradigm=spec.paradigm,
        modules={m.type: m.name for m in spec.modules},
        hyperparameters=spec.hyperparameters,
        algorithm_url=spec.algorithm_url,
        **ended,
    )


def _incomplete(spec: CaseSpec, metrics: dict[str, Any], has_matrix: bool) -> str | None:
    """Why a case that returned is still not a success: a metric the testenv asks for is missing."""
    missing = missing_metrics(metrics, has_matrix, [metric.name for metric in spec.testenv.metrics])
    if missing:
        return f"finished without the metrics {', '.join(missing)}"
    if not metrics:
        return "finished without any metric (the testenv names none)"
    return None


def _execute(spec: CaseSpec, folder: Path) -> ParadigmOutput:
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
