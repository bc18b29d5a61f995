"""`controller lab ...`: the Simulation System Administrator's commands (argument parsing stays import-cheap).

lab check [-i INVENTORY] [-e VAR=VALUE|@FILE ...]    host checks on every lab host; a table; exit 1 if one fails
lab up    [-i INVENTORY] [-e ...] [--limit HOSTS]    build the lab: ansible-playbook site.yml, via ansible-runner
lab deploy [-i INVENTORY] [-e ...]                   deploy the Simulation Job Controller into the lab's cluster
lab down  [-i INVENTORY] [-e ...] [--purge]          remove it again (--purge: also every SimulationJob and result)
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from controller.errors import EXIT_CASE_FAILED, EXIT_OK, ConfigError

SIMULATION_CONTROLLER = "playbooks/simulation_controller.yml"

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
    actions.add_parser("check", parents=[common], help="run the host checks and print a table of the results")
    actions.add_parser("up", parents=[common], help="build the lab: site.yml (host checks, Docker, ...)")
    actions.add_parser(
        "deploy",
        parents=[common],
        help="deploy the Simulation Job Controller (CRD, RBAC, Deployment) into the lab's cluster",
    )
    down = actions.add_parser(
        "down", parents=[common], help="remove the Simulation Job Controller from the lab's cluster"
    )
    down.add_argument(
        "--purge",
        action="store_true",
        help="also delete the SimulationJob CRD (every job, every case Pod) and the result ConfigMaps",
    )


def run_lab_command(args: argparse.Namespace) -> int:
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
    if args.lab_command == "down":
        return _play(
            SIMULATION_CONTROLLER,
            "removing the Simulation Job Controller" + (" and every job" if args.purge else ""),
            args.inventory,
            {**extravars, "simulation_controller_state": "absent", "simulation_controller_purge": args.purge},
            args.limit,
        )
    return _play("site.yml", "building the lab", args.inventory, extravars, args.limit)


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
    from controller.lab.runner import run_playbook

    with tempfile.TemporaryDirectory(prefix="ianvs-lab-host-check-") as reports:
        # Every host reports every check (no early stop), then the table says what failed.
        variables = {**extravars, "host_check_report_path": reports, "host_check_ignore_errors": True}
        progress.info("host checks on %s", inventory)
        run = run_playbook("playbooks/host_check.yml", inventory, extravars=variables, limit=limit, on_task=_on_task)
        checks = {path.stem: json.loads(path.read_text())["checks"] for path in sorted(Path(reports).glob("*.json"))}
    print(_check_table(checks))
    failed_hosts: set[str] = set()
    for host, results in checks.items():
        for check in results:
            if not check["ok"]:
                log.error("%s: %s is %s, needs %s", host, check["name"], check["value"], check["required"])
                failed_hosts.add(host)
    for failure in run.failures:
        if not failure.ignored:  # the ignored ones are the checks reported above
            log.error("%s: %s: %s", failure.host, failure.task, failure.message)
            failed_hosts.add(failure.host)
    if failed_hosts or not run.ok:
        log.error(
            "host checks failed on: %s", ", ".join(sorted(failed_hosts)) or f"(ansible-runner status {run.status})"
        )
        return EXIT_CASE_FAILED
    return EXIT_OK


def _check_table(checks: dict[str, list[dict[str, Any]]]) -> str:
    from controller.report.table import plain_table

    rows = [("host", "check", "value", "required", "ok")]
    for host, results in checks.items():
        rows += [(host, c["name"], str(c["value"]), str(c["required"]), "yes" if c["ok"] else "NO") for c in results]
    return plain_table(rows)


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
