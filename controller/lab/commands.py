"""`controller lab ...`: the Simulation System Administrator's commands (argument parsing stays import-cheap).

lab up JOB.yaml / down JOB.yaml / status JOB.yaml    the lab of the job's simulation: section (kind on this host,
                                                     or the machines of its inventory: joined by kubeadm)
lab node-image [--force]                             build the kind node image offline (scripts/kind-node-image)
lab check [-i INVENTORY] [-e VAR=VALUE|@FILE ...]    host checks on every lab host; a table; exit 1 if one fails
lab up    [-i INVENTORY] [-e ...] [--limit HOSTS]    build the lab: ansible-playbook site.yml, via ansible-runner
lab deploy [-i INVENTORY] [-e ...]                   deploy the Simulation Job Controller into the lab's cluster
lab down  [-i INVENTORY] [-e ...] [--purge]          remove it again: an inventory whose machines make a kubeadm
                                                     cluster (lab_kube_cluster) leaves it (playbooks/teardown.yml),
                                                     else the job controller goes (--purge: every job and result too)
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from controller.errors import EXIT_CASE_FAILED, EXIT_OK, ConfigError

SIMULATION_CONTROLLER = "playbooks/simulation_controller.yml"
TEARDOWN = "playbooks/teardown.yml"

log = logging.getLogger("controller.cli")
progress = logging.getLogger("controller.progress")


def add_lab_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from controller.lab.runner import REPO

    lab = commands.add_parser("lab", help="the lab: check hosts and build it with this repository's Ansible playbooks")
    actions = lab.add_subparsers(dest="lab_command", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-i",
        "--inventory",
        type=Path,
        default=REPO / "inventories" / "single-host",
        help="Ansible inventory file or folder (default: inventories/single-host)",
    )
    common.add_argument(
        "-e",
        "--extra-vars",
        action="append",
        default=[],
        metavar="VAR=VALUE|@FILE",
        help="variables for the roles, as ansible-playbook takes them; repeatable",
    )
    common.add_argument("--limit", help="only these hosts or groups (Ansible pattern)")
    job = argparse.ArgumentParser(add_help=False)
    job.add_argument(
        "job",
        nargs="?",
        type=Path,
        help="a benchmarkingjob.yaml with a simulation: section: its lab (kind, or its inventory's machines)",
    )
    actions.add_parser("check", parents=[common], help="run the host checks and print a table of the results")
    up = actions.add_parser(
        "up",
        parents=[job, common],
        help="build the lab: of JOB's simulation: section (kind), else site.yml on the inventory",
    )
    up.add_argument("--skip-checks", action="store_true", help="JOB only: do not run the host checks first")
    actions.add_parser(
        "status", parents=[job], help="JOB's lab: its nodes, their roles and readiness (exit 1 when not up)"
    )
    node_image = actions.add_parser(
        "node-image",
        help="build the kind node image offline (scripts/kind-node-image): Debian packages and Go-built Kubernetes",
    )
    node_image.add_argument("--force", action="store_true", help="rebuild even when the recipe is unchanged")
    actions.add_parser(
        "deploy",
        parents=[common],
        help="deploy the Simulation Job Controller (CRD, RBAC, Deployment) into the lab's cluster",
    )
    down = actions.add_parser(
        "down",
        parents=[job, common],
        help="remove JOB's lab entirely; else the inventory's machines leave their kubeadm cluster (lab_kube_cluster), "
        "or the Simulation Job Controller leaves the inventory's cluster",
    )
    down.add_argument(
        "--purge",
        action="store_true",
        help="also delete the SimulationJob CRD (every job, every case Pod) and the result ConfigMaps",
    )


def run_lab_command(args: argparse.Namespace) -> int:
    if args.lab_command == "node-image":
        from controller.lab.kind_lab import build_node_image

        return build_node_image(force=args.force)
    if args.lab_command in ("up", "down", "status") and args.job is not None:
        return _kind_lab_command(args)
    if args.lab_command == "status":
        raise ConfigError("lab status: name the benchmarkingjob.yaml whose lab to show")
    extravars = parse_extra_vars(args.extra_vars)
    if args.lab_command == "check":
        return _check(args.inventory, extravars, args.limit)
    if args.lab_command == "deploy":
        return _play(
            SIMULATION_CONTROLLER,
            "deploying the Simulation Job Controller",
            args.inventory,
            {**extravars, "simulation_controller_state": "present"},
            args.limit,
        )
    if args.lab_command == "down" and builds_kube_cluster(args.inventory, extravars):
        # the machines leave the cluster, and the job controller with it
        return _play(TEARDOWN, "taking the machines out of the lab's cluster", args.inventory, extravars, args.limit)
    if args.lab_command == "down":
        return _play(
            SIMULATION_CONTROLLER,
            "removing the Simulation Job Controller" + (" and every job" if args.purge else ""),
            args.inventory,
            {**extravars, "simulation_controller_state": "absent", "simulation_controller_purge": args.purge},
            args.limit,
        )
    return _play("site.yml", "building the lab", args.inventory, extravars, args.limit)


def _kind_lab_command(args: argparse.Namespace) -> int:
    from controller.config.loader import load_job
    from controller.lab import kind_lab

    config = load_job(args.job)
    if config.job.simulation is None:
        raise ConfigError("no simulation: section: this job has no lab (add one, see examples/)", file=config.file)
    if config.job.simulation.inventory is not None:
        return _multi_host_lab_command(args, config.job.simulation)
    if config.job.simulation.kubeconfig is not None and args.lab_command != "status":
        raise ConfigError(
            f"simulation.kubeconfig names an existing cluster ({config.job.simulation.kubeconfig}): "
            "there is no lab to build or remove",
            file=config.file,
        )
    if args.lab_command == "down":
        kind_lab.down(kind_lab.KindLab(config.job.simulation))
        return EXIT_OK
    if args.lab_command == "status":
        table, is_up = kind_lab.status(kind_lab.KindLab(config.job.simulation))
        print(table)
        return EXIT_OK if is_up else EXIT_CASE_FAILED
    from controller.plan import build_plan
    from controller.runtime.lab import controller_image

    extravars = parse_extra_vars(args.extra_vars)
    planned = kind_lab.for_job(config, build_plan(config), config.workspace, "")
    planned.case_node_selector()  # a placement no node can satisfy is an error before anything is created
    if args.skip_checks:
        privileged = kind_lab.privileged_works(planned.host_check_vars()["host_check_privileged_probe_image"])
    else:
        privileged = kind_lab.check_host(planned, extravars)  # before anything is built or created
    image = controller_image()
    lab = replace(planned, images=(image,), controller_image=image)
    kind_lab.up(lab, privileged=privileged, extravars=extravars)
    print(lab.kubeconfig)
    return EXIT_OK


def _multi_host_lab_command(args: argparse.Namespace, simulation: Any) -> int:
    from controller.lab import kube_lab

    if args.lab_command == "status":  # reads the API server only: `lab status` takes no -e
        table, is_up = kube_lab.status(kube_lab.KubeLab(simulation))
        print(table)
        return EXIT_OK if is_up else EXIT_CASE_FAILED
    extravars = parse_extra_vars(args.extra_vars)
    if args.lab_command == "down":
        kube_lab.down(kube_lab.KubeLab(simulation), extravars)
        return EXIT_OK
    from controller.runtime.lab import controller_image

    print(kube_lab.up(kube_lab.KubeLab(simulation, controller_image=controller_image()), extravars))
    return EXIT_OK


def builds_kube_cluster(inventory: Path, extravars: dict[str, Any]) -> bool:
    """Whether the inventory's machines make a kubeadm cluster (``lab_kube_cluster``, as -e or set for a host, e.g.
    by inventories/multi-host/group_vars): then `lab down -i` takes them out of it (playbooks/teardown.yml).

    Read with ``ansible-inventory`` in its own process: importing Ansible here would patch this process's
    ``sys.intern``, which PyTorch's compiler refuses when it is imported later in the same process."""
    import json
    import subprocess

    from controller.lab.runner import tool

    if "lab_kube_cluster" in extravars:
        return bool(extravars["lab_kube_cluster"])
    if not inventory.exists():
        raise ConfigError("no such inventory file or folder", file=inventory)
    proc = subprocess.run(
        [tool("ansible-inventory"), "-i", str(inventory), "--list"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise ConfigError(f"ansible-inventory cannot read it: {proc.stderr.strip()[-300:]}", file=inventory)
    hostvars = (json.loads(proc.stdout).get("_meta") or {}).get("hostvars") or {}
    return any(variables.get("lab_kube_cluster") is True for variables in hostvars.values())


def parse_extra_vars(values: list[str]) -> dict[str, Any]:
    """``VAR=VALUE`` (VALUE parsed as YAML: numbers, booleans, lists) or ``@FILE`` (a YAML mapping)."""
    import yaml

    merged: dict[str, Any] = {}
    for value in values:
        if value.startswith("@"):
            path = Path(value[1:])
            try:
                data = yaml.safe_load(path.read_text())
            except (OSError, yaml.YAMLError) as exc:
                raise ConfigError(f"cannot read extra variables: {exc}", file=path) from None
            if not isinstance(data, dict):
                raise ConfigError("extra variables must be a mapping of names to values", file=path)
            merged.update(data)
        else:
            name, sep, text = value.partition("=")
            if not sep or not name.isidentifier():
                raise ConfigError(f"-e {value!r}: expected VAR=VALUE or @FILE")
            merged[name] = yaml.safe_load(text) if text else ""
    return merged


def _on_task(task: str) -> None:
    if task:
        progress.info("  %s", task)


def _check(inventory: Path, extravars: dict[str, Any], limit: str | None) -> int:
    from controller.lab.host_checks import run_host_checks

    progress.info("host checks on %s", inventory)
    report = run_host_checks(inventory, extravars, limit, on_task=_on_task)
    print(report.table())
    if not report.ok:
        report.log_failures()
        failed = sorted({c.host for c in report.failed} | {f.host for f in report.failures})
        log.error("host checks failed on: %s", ", ".join(failed) or "(ansible-runner reported a failure)")
        return EXIT_CASE_FAILED
    return EXIT_OK


def _play(playbook: str, what: str, inventory: Path, extravars: dict[str, Any], limit: str | None) -> int:
    from controller.lab.runner import run_playbook

    progress.info("%s from %s (%s)", what, inventory, playbook)
    run = run_playbook(playbook, inventory, extravars=extravars, limit=limit, on_task=_on_task)
    for host, stats in sorted(run.stats.items()):
        progress.info(
            "%s: ok=%d changed=%d failed=%d unreachable=%d",
            host,
            stats["ok"],
            stats["changed"],
            stats["failed"],
            stats["unreachable"],
        )
    for failure in run.failures:
        if not failure.ignored:
            log.error("%s: %s: %s", failure.host, failure.task, failure.message)
    if run.error:
        log.error("%s", run.error)
    if not run.ok:
        log.error(
            "%s %s (ansible-runner status %s, rc %d)",
            playbook,
            "failed" if run.status == "failed" else run.status,
            run.status,
            run.rc,
        )
        return EXIT_CASE_FAILED
    return EXIT_OK
