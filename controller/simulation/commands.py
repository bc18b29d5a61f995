"""`controller simulation ...` and the simulation options of `controller run` (argument parsing stays import-cheap).

run JOB --runtime simulation [--kubeconfig F] [--namespace NS] ...   cases become SimulationJobs in a cluster
simulation job-controller --namespace NS --workspace DIR [--once]   the in-cluster Simulation Job Controller
simulation run-case --namespace NS --job NAME --workspace DIR      what a case Pod runs (jobs with an image)
simulation manifests [--namespace NS] [--image IMG ...]             CRD, RBAC and Deployment YAML to apply
simulation status [--namespace NS] [--benchmarking-job NAME]       SimulationJobs and their phase
simulation build-image [--tag T] [--base IMG] [--extras rfnet]      the image the controller runs in
simulation build-algorithm-images JOB [--algorithm NAME]           per algorithm: that image + its plugin files
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from controller.cliargs import positive_float
from controller.errors import EXIT_OK
from controller.simulation.case_data import DEFAULT_DATA_CACHE

if TYPE_CHECKING:
    from controller.simulation.case_pods import CasePodSettings

log = logging.getLogger("controller.cli")


def add_run_options(run: argparse.ArgumentParser) -> None:
    group = run.add_argument_group("simulation runtime (--runtime simulation)")
    group.add_argument(
        "--runtime",
        choices=("local", "simulation"),
        default=None,
        help="local: run cases here; simulation: as SimulationJobs in a Kubernetes cluster (default: simulation "
        "when the job has a simulation: section, which builds its lab unless it names a kubeconfig; else local)",
    )
    group.add_argument(
        "--keep-lab",
        action="store_true",
        help="leave the lab a simulation: section built running after the run (as keep_lab: true); "
        "the next run reuses it, `controller lab down JOB.yaml` removes it",
    )
    _cluster_arguments(group)
    group.add_argument(
        "--image",
        default="",
        help="run each case in its own Pod of this image (built with `controller simulation "
        "build-image`); default: in the job controller's process",
    )
    group.add_argument(
        "--algorithm-images",
        action="store_true",
        help="build one image per algorithm (its plugin files added to --image or the default "
        "controller image) and run its cases in Pods of it",
    )
    group.add_argument(
        "--timeout",
        type=positive_float,
        default=3600.0,
        metavar="SECONDS",
        help="give up waiting for results after this long (default 3600)",
    )
    group.add_argument(
        "--cleanup", action="store_true", help="delete the SimulationJobs and result ConfigMaps after harvesting"
    )


def _cluster_arguments(group: argparse._ArgumentGroup | argparse.ArgumentParser) -> None:
    group.add_argument(
        "--kubeconfig", type=Path, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)"
    )
    group.add_argument("--context", help="kubeconfig context")
    group.add_argument(
        "--namespace", "-n", default="default", help="namespace of the SimulationJobs (default: default)"
    )


def add_simulation_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    simulation = commands.add_parser("simulation", help="the simulation runtime: job controller and its manifests")
    actions = simulation.add_subparsers(dest="simulation_command", metavar="ACTION", required=True)

    controller = actions.add_parser(
        "job-controller", help="run the Simulation Job Controller (in or out of the cluster)"
    )
    _cluster_arguments(controller)
    controller.add_argument("--workspace", type=Path, required=True, help="where cases write models, logs and results")
    controller.add_argument(
        "--case-data-cache",
        default=DEFAULT_DATA_CACHE,
        metavar="DIR",
        help="the nodes' dataset cache (hostPath) of case Pods whose job carries case data (default: %(default)s)",
    )
    controller.add_argument(
        "--once",
        action="store_true",
        help="reconcile the jobs that exist now (starting case Pods, not waiting for them), then exit",
    )
    pods = controller.add_argument_group("case Pods (SimulationJobs with an image)")
    pods.add_argument(
        "--host-path",
        action="append",
        default=[],
        metavar="PATH",
        help="host folder the cases read (datasets, plugins), mounted at the same path; repeatable",
    )
    pods.add_argument(
        "--case-service-account",
        default=None,
        metavar="NAME",
        help="service account of case Pods (default: ianvs-simulation-case-runner)",
    )
    pods.add_argument(
        "--case-kubeconfig",
        default="",
        metavar="PATH",
        help="kubeconfig file on the node for case Pods instead of their service-account config",
    )
    pods.add_argument("--case-host-network", action="store_true", help="case Pods use the node's network")
    pods.add_argument(
        "--case-node-selector",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="schedule case Pods on nodes with this label; repeatable",
    )
    pods.add_argument(
        "--case-tolerations",
        default="[]",
        metavar="JSON",
        help='tolerations of case Pods, e.g. \'[{"key": "edge", "operator": "Exists"}]\'',
    )
    pods.add_argument("--case-image-pull-policy", default="IfNotPresent", choices=("Always", "IfNotPresent", "Never"))
    pods.add_argument(
        "--case-resources",
        default="{}",
        metavar="JSON",
        help='resources of the case container, e.g. \'{"limits": {"nvidia.com/gpu": 1, "memory": "8Gi"}}\'',
    )
    pods.add_argument(
        "--case-deadline",
        type=int,
        default=0,
        metavar="SECONDS",
        help="fail a case whose Pod runs longer than this (default: no limit)",
    )

    case = actions.add_parser(
        "run-case", help="run one SimulationJob's case and write its result (a case Pod's command)"
    )
    _cluster_arguments(case)
    case.add_argument("--job", required=True, metavar="NAME", help="the SimulationJob")
    case.add_argument("--workspace", type=Path, required=True, help="where the case writes models, logs and results")
    case.add_argument(
        "--data-cache",
        type=Path,
        default=Path(DEFAULT_DATA_CACHE),
        help="the node's dataset cache, where a job's case data is fetched to (default: %(default)s)",
    )

    status = actions.add_parser("status", help="list the SimulationJobs of a namespace with their phase")
    _cluster_arguments(status)
    status.add_argument("--benchmarking-job", "--benchmark", metavar="NAME", help="only this benchmarking job's cases")

    image = actions.add_parser(
        "build-image", help="build the controller image (offline: wheelhouse + local base image)"
    )
    image.add_argument("--tag", default=None, help="image tag (default: ianvs-lab/controller:<version>)")
    image.add_argument("--base", default="ianvs-lab/base:bookworm", help="Debian-based image to start from")
    image.add_argument("--extras", default="", help="package extras to include, e.g. rfnet (adds PyTorch, ~3 GB)")

    algorithms = actions.add_parser(
        "build-algorithm-images", help="build one image per algorithm of a job: the controller image + its plugin files"
    )
    algorithms.add_argument("job", type=Path, help="benchmarkingjob.yaml")
    algorithms.add_argument(
        "--algorithm",
        action="append",
        default=[],
        metavar="NAME",
        help="only this algorithm; repeatable (default: every algorithm of the job)",
    )
    algorithms.add_argument(
        "--controller-image",
        default=None,
        help="image to build on (default: ianvs-lab/controller:<version>, see build-image)",
    )

    manifests = actions.add_parser("manifests", help="print the CRD, the job controller's RBAC and Deployment")
    manifests.add_argument("--namespace", "-n", default="default")
    manifests.add_argument("--image", default="ianvs-lab/controller:latest", help="job controller image")
    manifests.add_argument("--workspace", default="/var/lib/ianvs-lab/workspace", help="workspace path (hostPath)")
    manifests.add_argument(
        "--host-path",
        action="append",
        default=[],
        metavar="PATH",
        help="host folder the cases read (datasets, plugins), mounted at the same path; repeatable",
    )
    manifests.add_argument(
        "--host-network",
        action="store_true",
        help="run the controller in the node's network (clusters without Service routing)",
    )
    manifests.add_argument(
        "--pod-kubeconfig",
        default="",
        metavar="PATH",
        help="kubeconfig file on the node to use instead of the in-cluster service account",
    )
    manifests.add_argument(
        "--case-kubeconfig",
        default="",
        metavar="PATH",
        help="the same for case Pods (they act as the ianvs-simulation-case-runner account)",
    )


def run_simulation_command(args: argparse.Namespace) -> int:
    if args.simulation_command == "manifests":
        return _manifests(args)
    if args.simulation_command == "build-image":
        return _build_image(args)
    if args.simulation_command == "build-algorithm-images":
        return _build_algorithm_images(args)
    if args.simulation_command == "status":
        return _status(args)
    if args.simulation_command == "run-case":
        return _run_case(args)
    return _job_controller(args)


def _manifests(args: argparse.Namespace) -> int:
    import yaml

    from controller.simulation import manifests

    documents = [
        manifests.namespace(args.namespace),
        manifests.crd(),
        *manifests.job_controller_rbac(args.namespace),
        manifests.job_controller_deployment(
            args.namespace,
            args.image,
            args.workspace,
            args.host_path,
            host_network=args.host_network,
            kubeconfig=args.pod_kubeconfig,
            case_kubeconfig=args.case_kubeconfig,
        ),
    ]
    sys.stdout.write(yaml.safe_dump_all(documents, sort_keys=False))
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    from controller.report.table import plain_table
    from controller.simulation.job_admin import JobAdministrator
    from controller.simulation.kube import api_client
    from controller.simulation.simulation_job import PENDING, SimulationJob

    rows = [("NAME", "BENCHMARKING-JOB", "ALGORITHM", "PHASE", "IMAGE", "MESSAGE")]
    admin = JobAdministrator(api_client(args.kubeconfig, args.context), args.namespace)
    for job in map(SimulationJob.from_object, admin.list_jobs(args.benchmarking_job)):
        rows.append(
            (
                job.name,
                job.benchmarking_job,
                job.algorithm,
                job.status.phase or PENDING,
                job.image or "-",
                job.status.message,
            )
        )
    print(plain_table(rows))
    return EXIT_OK


def _build_image(args: argparse.Namespace) -> int:
    from controller.simulation.controller_image import DEFAULT_TAG, build_image

    extras = tuple(e.strip() for e in args.extras.split(",") if e.strip())
    built = build_image(args.tag or DEFAULT_TAG, args.base, extras)
    log.info("built %s (%s, %.0f MB)", built.tag, built.image_id[:19], built.size_bytes / 1e6)
    print(built.tag)
    return EXIT_OK


def _build_algorithm_images(args: argparse.Namespace) -> int:
    from controller.config.loader import load_job
    from controller.errors import ConfigError
    from controller.plan import build_plan
    from controller.report.table import plain_table
    from controller.simulation.algorithm_images import build_algorithm_images
    from controller.simulation.controller_image import DEFAULT_TAG

    specs = build_plan(load_job(args.job))
    if args.algorithm:
        unknown = sorted(set(args.algorithm) - {spec.algorithm for spec in specs})
        if unknown:
            names = ", ".join(sorted({spec.algorithm for spec in specs}))
            raise ConfigError(f"--algorithm {', '.join(unknown)}: not in the job (it has: {names})", file=args.job)
        specs = [spec for spec in specs if spec.algorithm in args.algorithm]
    images = build_algorithm_images(specs, args.controller_image or DEFAULT_TAG)
    rows = [("ALGORITHM", "IMAGE", "FILES", "BUILT")]
    rows += [(i.algorithm, i.tag, str(len(i.files)), "yes" if i.built else "up to date") for i in images.values()]
    print(plain_table(rows))
    return EXIT_OK


def _job_controller(args: argparse.Namespace) -> int:
    from controller.simulation.job_controller import JobController
    from controller.simulation.kube import api_client

    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (kubectl delete, Deployment rollout) ends the watch after the running case, not in its middle.
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    workspace = args.workspace.resolve()
    workspace.mkdir(parents=True, exist_ok=True)
    controller = JobController(
        api_client(args.kubeconfig, args.context),
        args.namespace,
        workspace,
        stop_event=stop,
        case_pods=_case_pod_settings(args, workspace),
    )
    if args.once:
        runs = controller.run_once()
        log.info("job controller: %d case%s run", runs, "s"[: runs != 1])
        return EXIT_OK
    controller.run_forever()
    return EXIT_OK


def _case_pod_settings(args: argparse.Namespace, workspace: Path) -> CasePodSettings:
    from controller.simulation.case_pods import (
        CasePodSettings,
        parse_node_selector,
        parse_resources,
        parse_tolerations,
    )

    optional = {"service_account": args.case_service_account} if args.case_service_account else {}
    return CasePodSettings(
        workspace=str(workspace),
        host_paths=tuple(args.host_path),
        kubeconfig=args.case_kubeconfig,
        host_network=args.case_host_network,
        node_selector=parse_node_selector(args.case_node_selector),
        tolerations=parse_tolerations(args.case_tolerations),
        image_pull_policy=args.case_image_pull_policy,
        deadline_s=args.case_deadline,
        resources=parse_resources(args.case_resources),
        data_cache=args.case_data_cache,
        **optional,
    )


def _run_case(args: argparse.Namespace) -> int:
    from controller.runtime.interrupt import interrupt_on_signals
    from controller.simulation.case_runner import run_job_case
    from controller.simulation.kube import api_client

    workspace = args.workspace.resolve()
    workspace.mkdir(parents=True, exist_ok=True)
    from controller.runtime.case import mark_case_process

    mark_case_process()  # a case Pod's process runs this one case: its memory is measured as a case process's
    with interrupt_on_signals():  # a deleted Pod's SIGTERM: the case is recorded as interrupted, not lost
        run_job_case(
            api_client(args.kubeconfig, args.context), args.namespace, args.job, workspace, data_cache=args.data_cache
        )
    return EXIT_OK
