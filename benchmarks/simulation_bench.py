"""What the simulation runtime costs per case, on the test environment's real control plane (scripts/testenv).

    .venv/bin/python benchmarks/simulation_bench.py [--cases 200] [--pods 4] [--image ianvs-lab/controller:0.1.0]

Prints what it measured:

    submit       N SimulationJobs created by the Job Administrator                       jobs/s
    resubmit     the same N again (idempotent: the jobs exist with the same spec hash)    jobs/s
    round trip   N cases through the job controller's watch loop with a runner that does no work, results
                 harvested from their ConfigMaps by `collect`: cases/s, and per-case latency from the start
                 of the submission to its result (p50 / p95 / max)
    case pods    (--pods K > 0) K real cases (majority class on a tiny synthetic dataset), each in its own Pod
                 on the test node: wall time to the last result, per-case latency p50 / max

The control plane is started (and stopped at the end) when it is not up. The case-pod part needs the node
(`scripts/testenv node-up`, it changes host sysctls, so it is never started here) and a controller image in
Docker (`controller simulation build-image`); the image is imported into the node first (timed separately).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
STATE = REPO / ".cache" / "testenv"
TESTENV = REPO / "scripts" / "testenv"
EXAMPLE = REPO / "examples" / "cityscapes-lifelong"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def variants(spec: Any, count: int) -> list[Any]:
    """``count`` distinct cases: the same case with other seeds (ids re-hashed as build_plan makes them)."""
    from controller.plan import _with_id

    return [_with_id(dataclasses.replace(spec, seed=seed)) for seed in range(count)]


def trivial_runner(spec: Any, workspace: Path) -> Any:
    from controller.results import CaseResult

    return CaseResult(
        case_id=spec.case_id,
        benchmarking_job=spec.benchmarking_job,
        algorithm=spec.algorithm,
        paradigm=spec.paradigm,
        modules={},
        hyperparameters={},
        status="ok",
        metrics={"mIoU": 0.5},
    )


def namespace(core: Any, name: str) -> None:
    core.create_namespace({"metadata": {"name": name}})


def control_plane(api: Any, core: Any, specs: list[Any], workdir: Path) -> None:
    from controller.simulation.job_admin import JobAdministrator
    from controller.simulation.job_controller import JobController

    ns = f"bench-{int(time.time())}"
    namespace(core, ns)
    admin = JobAdministrator(api, ns)
    admin.install_crd()
    n = len(specs)

    start = time.perf_counter()
    admin.submit(specs)
    submit_s = time.perf_counter() - start
    start = time.perf_counter()
    admin.submit(specs)
    resubmit_s = time.perf_counter() - start
    print(f"submit      {n:5d} jobs   {submit_s:7.2f} s   {n / submit_s:7.1f} jobs/s")
    print(f"resubmit    {n:5d} jobs   {resubmit_s:7.2f} s   {n / resubmit_s:7.1f} jobs/s")

    ns2 = ns + "-rt"
    namespace(core, ns2)
    admin = JobAdministrator(api, ns2)
    stop = threading.Event()
    controller = JobController(api, ns2, workdir / "ws", runner=trivial_runner, stop_event=stop)
    thread = threading.Thread(target=controller.run_forever, daemon=True)
    thread.start()
    latencies: list[float] = []
    start = time.perf_counter()
    admin.submit(specs)
    admin.collect(specs, timeout_s=600, on_result=lambda *_: latencies.append(time.perf_counter() - start))
    total = time.perf_counter() - start
    stop.set()
    thread.join(30)
    print(
        f"round trip  {n:5d} cases  {total:7.2f} s   {n / total:7.1f} cases/s   latency p50 "
        f"{percentile(latencies, 0.5):.2f} s  p95 {percentile(latencies, 0.95):.2f} s  max {max(latencies):.2f} s"
    )
    for name in (ns, ns2):
        core.delete_namespace(name)


def case_pods(api: Any, core: Any, count: int, image: str, workdir: Path) -> None:
    from controller.config.loader import load_job
    from controller.datasets.synth import synthesize
    from controller.plan import build_plan
    from controller.simulation.case_pods import CasePodSettings
    from controller.simulation.job_admin import JobAdministrator
    from controller.simulation.job_controller import JobController
    from controller.simulation.kube import apply
    from controller.simulation.manifests import job_controller_rbac

    node_env = STATE / "node" / "env"
    if not node_env.exists():
        sys.exit("case pods: the test node is not up; run scripts/testenv node-up first (or pass --pods 0)")
    values = dict(line.split("=", 1) for line in node_env.read_text().splitlines() if "=" in line)
    taint = values["IANVS_LAB_TESTENV_NODE_TAINT_KEY"].strip("'\"")
    start = time.perf_counter()
    subprocess.run([str(TESTENV), "node-load", image], check=True, capture_output=True)
    print(f"node-load   {image}: {time.perf_counter() - start:.1f} s (setup, not per case)")

    data = workdir / "data"
    synthesize(data, train_per_city=6, test_per_city=3, size=(64, 32), seed=1)
    job_dir = workdir / "job"
    shutil.copytree(EXAMPLE, job_dir, ignore=shutil.ignore_patterns("data", "workspace"))
    (job_dir / "data").symlink_to(data, target_is_directory=True)
    (spec,) = [s for s in build_plan(load_job(job_dir / "benchmarkingjob.yaml")) if s.algorithm == "majority-class"]
    specs = variants(spec, count)

    ns = f"bench-pods-{int(time.time())}"
    namespace(core, ns)
    for document in job_controller_rbac(ns):  # the case Pods' service account
        apply(api, document)
    settings = CasePodSettings(
        workspace=str(workdir / "ws"),
        host_paths=(str(workdir), str(STATE)),
        kubeconfig=str(STATE / "kubeconfig"),
        host_network=True,
        image_pull_policy="Never",
        tolerations=({"key": taint, "operator": "Exists", "effect": "NoSchedule"},),
    )
    stop = threading.Event()
    controller = JobController(api, ns, workdir / "ws", stop_event=stop, case_pods=settings)
    thread = threading.Thread(target=controller.run_forever, daemon=True)
    thread.start()
    admin = JobAdministrator(api, ns)
    latencies: list[float] = []
    start = time.perf_counter()
    admin.submit(specs, image)
    results = admin.collect(specs, timeout_s=900, on_result=lambda *_: latencies.append(time.perf_counter() - start))
    total = time.perf_counter() - start
    stop.set()
    thread.join(30)
    failed = [r.error for r in results.values() if not r.ok]
    if failed:
        sys.exit(f"case pods: {len(failed)} case(s) failed: {failed[0]}")
    print(
        f"case pods   {count:5d} cases  {total:7.2f} s   latency p50 {statistics.median(latencies):.2f} s  "
        f"max {max(latencies):.2f} s  (each: Pod start, python import, majority-class case, result)"
    )
    core.delete_namespace(ns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--pods", type=int, default=0, help="also run this many cases in Pods on the test node")
    parser.add_argument(
        "--image", default=None, help="controller image for --pods (default ianvs-lab/controller:<version>)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from kubernetes import client, config

    from controller.config.loader import load_job
    from controller.plan import build_plan
    from controller.simulation.controller_image import DEFAULT_TAG

    started_here = not (STATE / "env").exists()
    subprocess.run([str(TESTENV), "up"], check=True, capture_output=True)
    try:
        api = config.new_client_from_config(config_file=str(STATE / "kubeconfig"))
        core = client.CoreV1Api(api)
        print(f"control plane: {api.configuration.host}  (scripts/testenv, 127.0.0.1)")
        spec = build_plan(load_job(EXAMPLE / "benchmarkingjob.yaml"))[0]
        with tempfile.TemporaryDirectory(prefix="ianvs-lab-simbench-") as tmp:
            control_plane(api, core, variants(spec, args.cases), Path(tmp))
            if args.pods > 0:
                case_pods(api, core, args.pods, args.image or DEFAULT_TAG, Path(tmp))
    finally:
        if started_here:
            subprocess.run([str(TESTENV), "down"], check=False, capture_output=True)


if __name__ == "__main__":
    main()
