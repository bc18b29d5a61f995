"""The host checks of the lab (roles/host_check): run them on every host, read back one table of results.

Every host reports every check (no early stop); the table then says what failed and how to fix it.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.lab.runner import OnTask, TaskFailure, run_playbook

HOST_CHECK = "playbooks/host_check.yml"

log = logging.getLogger("controller.cli")


@dataclass(frozen=True)
class Check:
    host: str
    name: str
    value: str
    required: str
    ok: bool
    fix: str = ""


@dataclass(frozen=True)
class HostReport:
    checks: list[Check]
    failures: list[TaskFailure] = field(default_factory=list)
    """failed tasks other than the checks themselves (e.g. an unreachable host)"""
    runner_ok: bool = True

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    @property
    def ok(self) -> bool:
        return self.runner_ok and not self.failed and not self.failures

    def value(self, name: str) -> str | None:
        return next((check.value for check in self.checks if check.name == name), None)

    def table(self) -> str:
        from controller.report.table import plain_table

        rows = [("host", "check", "value", "required", "ok")]
        rows += [(c.host, c.name, c.value, c.required, "yes" if c.ok else "NO") for c in self.checks]
        return plain_table(rows)

    def log_failures(self) -> None:
        for check in self.failed:
            fix = f"; fix: {check.fix}" if check.fix else ""
            log.error("%s: %s is %s, needs %s%s", check.host, check.name, check.value, check.required, fix)
        for failure in self.failures:
            log.error("%s: %s: %s", failure.host, failure.task, failure.message)


def run_host_checks(
    inventory: Path, extravars: dict[str, Any], limit: str | None = None, on_task: OnTask | None = None
) -> HostReport:
    with tempfile.TemporaryDirectory(prefix="ianvs-lab-host-check-") as reports:
        variables = {**extravars, "host_check_report_path": reports, "host_check_ignore_errors": True}
        run = run_playbook(HOST_CHECK, inventory, extravars=variables, limit=limit, on_task=on_task)
        checks = [
            Check(
                host=path.stem,
                name=str(item["name"]),
                value=str(item["value"]),
                required=str(item["required"]),
                ok=_truthy(item["ok"]),
                fix=str(item.get("fix", "")),
            )
            for path in sorted(Path(reports).glob("*.json"))
            for item in json.loads(path.read_text())["checks"]
        ]
    # the ignored failures are the checks reported in the table
    failures = [failure for failure in run.failures if not failure.ignored]
    return HostReport(checks, failures, run.ok)


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "yes", "1")
