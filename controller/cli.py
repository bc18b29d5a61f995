"""`controller`: run, validate and report Ianvs-compatible benchmarks; manage datasets.

Exit codes: 0 success, 1 at least one test case failed, 2 bad input (nothing was run or written), 130 a signal
(Ctrl-C, SIGTERM) stopped the run (the message names the interrupted test cases and how to resume).
Heavy libraries (numpy, matplotlib, torch) are imported only by the commands that need them, so
`controller --help` and `controller validate` stay fast.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller import __version__
from controller.cliargs import positive_float
from controller.cliargs import positive_int as _positive_int
from controller.errors import EXIT_BAD_INPUT, EXIT_CASE_FAILED, EXIT_INTERRUPTED, EXIT_OK, IanvsLabError

if TYPE_CHECKING:  # the commands import what they need when they run: `controller --help` stays fast
    from controller.config.loader import JobConfig
    from controller.plan import CaseSpec
    from controller.results import CaseResult
    from controller.runtime.interrupt import Interrupted
    from controller.runtime.local import Progress

log = logging.getLogger("controller.cli")
# INFO lines of these loggers (and their children) reach the console without -v; the rest goes to case logs.
_CONSOLE_LOGGERS = ("controller.cli", "controller.progress", "controller.simulation")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="controller",
        description="Benchmark edge-cloud collaborative lifelong-learning algorithms (KubeEdge Ianvs compatible).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show every log line (plugins, rounds, epochs)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser("run", help="run a benchmarking job: every test case, then the leaderboard and report")
    _job_argument(run)
    run.add_argument(
        "--parallel",
        "-j",
        "--jobs",
        dest="parallel",
        type=_positive_int,
        default=1,
        metavar="N",
        help="run N test cases at a time, each in a process of its own (default 1: one after another)",
    )
    run.add_argument("--resume", action="store_true", help="skip test cases that already finished successfully")
    run.add_argument(
        "--case-timeout",
        type=positive_float,
        metavar="SECONDS",
        help="stop a test case after this long: a failed result (benchmarkingjob key case_timeout, also per algorithm)",
    )
    run.add_argument(
        "--case-memory",
        type=_positive_int,
        metavar="MiB",
        help="stop a test case whose processes hold more resident memory: a failed result "
        "(benchmarkingjob key case_memory, also per algorithm)",
    )
    run.add_argument("--workspace", type=Path, help="override benchmarkingjob.workspace")
    from controller.simulation.commands import add_run_options, add_simulation_commands

    add_run_options(run)

    validate = commands.add_parser(
        "validate", help="check the job, testenv and algorithm files and the data they name; run nothing"
    )
    _job_argument(validate)

    report = commands.add_parser("report", help="rebuild the leaderboard and HTML report from stored results")
    _job_argument(report)
    report.add_argument("--workspace", type=Path, help="override benchmarkingjob.workspace")

    from controller.datasets.commands import add_dataset_commands

    add_dataset_commands(commands)
    add_simulation_commands(commands)
    from controller.lab.commands import add_lab_commands

    add_lab_commands(commands)
    return parser


def _job_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("job", nargs="?", type=Path, help="benchmarkingjob.yaml")
    parser.add_argument("-f", "--benchmarking-config-file", dest="job_file", type=Path, help=argparse.SUPPRESS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # to say how to continue an interrupted run
    _configure_logging(args.verbose)
    try:
        if args.command == "dataset":
            return _dataset(args)
        if args.command == "lab":
            from controller.lab.commands import run_lab_command

            return run_lab_command(args)
        if args.command == "simulation":
            from controller.simulation.commands import run_simulation_command

            return run_simulation_command(args)
        job = args.job or args.job_file
        if job is None:
            parser.error(f"{args.command}: the benchmarkingjob.yaml path is required")
        if args.command == "validate":
            return _validate(job)
        if args.command == "report":
            return _report(job, args.workspace)
        return _run(job, args)
    except IanvsLabError as exc:
        log.error("%s", exc)
        return exc.exit_code
    except KeyboardInterrupt:
        log.error("interrupted")
        return EXIT_INTERRUPTED


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ConsoleFormatter())
    if not verbose:
        handler.addFilter(lambda r: r.levelno >= logging.WARNING or r.name.startswith(_CONSOLE_LOGGERS))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


class _ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.ERROR:
            return f"error: {message}"
        if record.levelno >= logging.WARNING:
            return f"warning: {message}"
        return message


# ---------------------------------------------------------------- commands


def _validate(job: Path) -> int:
    from controller.config.loader import load_job
    from controller.plan import build_plan
    from controller.testenv_dataset import pending_message
    from controller.validate import check_job, check_plugins

    config = load_job(job)
    pending = pending_message(config)  # never downloads: reads the dataset marker only
    if pending is not None:
        check_plugins(config)
        log.info("%s", pending)
        cases = len(build_plan(config))  # the cases `run` will run: repeated combinations once
        log.info(
            "%s: ok (%d algorithm%s, %d test case%s; data checked after download)",
            job,
            len(config.algorithms),
            "s"[: len(config.algorithms) != 1],
            cases,
            "s"[: cases != 1],
        )
        return EXIT_OK
    summary = check_job(config)
    cases = len(build_plan(config))
    log.info(
        "%s: ok (%d algorithm%s, %d test case%s, %d train / %d test samples)",
        job,
        len(config.algorithms),
        "s"[: len(config.algorithms) != 1],
        cases,
        "s"[: cases != 1],
        summary.train_samples,
        summary.test_samples,
    )
    return EXIT_OK


def _run(job: Path, args: argparse.Namespace) -> int:
    from controller.config.loader import load_job
    from controller.plan import build_plan
    from controller.runtime.interrupt import Interrupted, interrupt_on_signals
    from controller.validate import check_job

    config = load_job(job)
    from controller.testenv_dataset import provision_job_dataset

    provision_job_dataset(config)  # testenv dataset_url: download, verify, extract, index
    summary = check_job(config)
    root = args.workspace.resolve() if args.workspace else config.workspace
    from controller.bounds import CaseBounds

    specs = build_plan(config, CaseBounds(timeout_s=args.case_timeout, memory_mib=args.case_memory))
    progress = logging.getLogger("controller.progress")
    progress.info(
        "job %s: %d test case%s on %d train / %d test samples, workspace %s",
        config.job.name,
        len(specs),
        "s"[: len(specs) != 1],
        summary.train_samples,
        summary.test_samples,
        root,
    )

    ended: list[str] = []

    def on_case(done: int, total: int, result: CaseResult, reused: bool) -> None:
        ended.append(result.case_id)
        status = "reused" if reused else result.status
        headline = ", ".join(f"{k}={v:.4f}" for k, v in list(result.metrics.items())[:3] if isinstance(v, float))
        detail = result.error if not result.ok else headline
        progress.info(
            "[%d/%d] %s %s (%s): %s %s",
            done,
            total,
            result.case_id,
            result.algorithm,
            _hp_text(result.hyperparameters),
            status,
            detail,
        )

    try:
        with interrupt_on_signals():
            results = _run_cases(config, specs, root, args, on_case)
    except Interrupted as stopped:
        log.error("%s", _interrupted_message(stopped, args, len(ended), len(specs)))
        return EXIT_INTERRUPTED
    _publish(config, root)
    failed = [r for r in results if not r.ok]
    if failed:
        log.error("%d of %d test cases failed; see their case.log", len(failed), len(results))
        return EXIT_CASE_FAILED
    return EXIT_OK


def _run_cases(
    config: JobConfig, specs: Sequence[CaseSpec], root: Path, args: argparse.Namespace, on_case: Progress
) -> list[CaseResult]:
    """Run the cases on the runtime ``args`` names; the results in the order of ``specs``."""
    from controller.runtime.local import run_cases

    simulation = config.job.simulation
    runtime = args.runtime or ("simulation" if simulation else "local")
    if runtime == "simulation" and simulation and not args.kubeconfig and simulation.kubeconfig is None:
        from controller.runtime.lab import run_cases_in_lab

        return run_cases_in_lab(config, specs, root, args, on_case)
    if runtime == "simulation" and simulation and not args.kubeconfig:
        args.kubeconfig = simulation.kubeconfig  # an existing cluster named by the system config
        if args.namespace == "default":
            args.namespace = simulation.namespace
    if runtime == "simulation":
        from controller.runtime.simulation import ClusterTarget, run_cases_in_cluster

        if args.parallel > 1:
            log.warning("--parallel applies to the local runtime; in the cluster the job controller runs the cases")
        if not args.image and not args.algorithm_images and any(spec.bounds.bounded for spec in specs):
            log.warning(
                "case bounds (--case-timeout/--case-memory, case_timeout/case_memory) apply to local cases "
                "and case Pods (--image); cases in the job controller's own process run unbounded"
            )

        target = ClusterTarget(
            kubeconfig=args.kubeconfig,
            context=args.context,
            namespace=args.namespace,
            image=args.image,
            algorithm_images=args.algorithm_images,
            timeout_s=args.timeout,
            cleanup=args.cleanup,
        )
        results = run_cases_in_cluster(specs, root, target, resume=args.resume, progress=on_case)
    else:
        if (
            args.kubeconfig
            or args.context
            or args.image
            or args.algorithm_images
            or args.cleanup
            or args.namespace != "default"
        ):
            log.warning(
                "--kubeconfig/--context/--namespace/--image/--algorithm-images/--cleanup apply with "
                "--runtime simulation only"
            )
        results = run_cases(specs, root, parallel=args.parallel, resume=args.resume, progress=on_case)
    return results


def _interrupted_message(stopped: Interrupted, args: argparse.Namespace, ended: int, total: int) -> str:
    """What a stopped run says: which test cases it interrupted, how many ended, and the command that goes on."""
    cases = [r for r in stopped.cases if r.status == "interrupted"]
    if cases:
        where = (
            "during test case" + "s"[: len(cases) != 1] + " " + ", ".join(f"{r.case_id} ({r.algorithm})" for r in cases)
        )
    elif args.runtime == "simulation":
        where = f"while waiting for results; the SimulationJobs keep running in namespace {args.namespace}"
    else:
        where = "between test cases"
    again = [*args.argv, *(["--resume"] if "--resume" not in args.argv else [])]
    return (
        f"interrupted by {stopped.signal_name} {where}; {ended} of {total} test cases ended; "
        f"continue with: {shlex.join(['controller', *again])}"
    )


def _report(job: Path, workspace: Path | None) -> int:
    from controller.config.loader import load_job

    config = load_job(job)
    root = workspace.resolve() if workspace else config.workspace
    if not (root / config.job.name).is_dir():
        log.error("%s: no results yet in %s; run the job first", job, root / config.job.name)
        return EXIT_BAD_INPUT
    _publish(config, root)
    return EXIT_OK


def _publish(config: JobConfig, root: Path) -> None:
    """Leaderboard (CSV, markdown, printed table) and the HTML report for every stored result."""
    from controller.report.publish import publish

    paths = publish(root / config.job.name, config.job.rank)
    print(paths.table)
    print(f"\nleaderboard: {paths.all_rank}")
    print(f"report:      {paths.html}")


def _hp_text(hyperparameters: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in hyperparameters.items()) or "no hyper-parameters"


def _dataset(args: argparse.Namespace) -> int:
    from controller.datasets.commands import run_dataset_command

    return run_dataset_command(args)
