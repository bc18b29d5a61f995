"""Run one of this repository's playbooks with ansible-runner and turn its events into a typed result.

Every run gets a fresh private data directory that is deleted afterwards: ansible-runner persists inventory and
extra variables there (possibly secrets), and runs sharing one clobber each other's inputs.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.errors import ConfigError

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
STAT_KEYS = {
    "ok": "ok",
    "changed": "changed",
    "failures": "failed",
    "dark": "unreachable",
    "skipped": "skipped",
    "ignored": "ignored",
    "rescued": "rescued",
}


@dataclass(frozen=True)
class TaskFailure:
    host: str
    task: str
    message: str
    unreachable: bool = False
    ignored: bool = False


@dataclass
class PlaybookRun:
    playbook: str
    status: str  # ansible-runner's: successful | failed | timeout | canceled
    rc: int
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    failures: list[TaskFailure] = field(default_factory=list)
    error: str = ""
    """ansible-playbook's own last error line when it stopped before any task failed (a YAML error, a bad
    variable); empty otherwise"""

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0

    def changed(self, host: str) -> int:
        return self.stats.get(host, {}).get("changed", 0)


OnTask = Callable[[str], None]


def run_playbook(
    playbook: str,
    inventory: Path,
    *,
    extravars: dict[str, Any] | None = None,
    limit: str | None = None,
    on_task: OnTask | None = None,
    timeout_s: int | None = None,
) -> PlaybookRun:
    """Run ``playbook`` (relative to the repository root) against ``inventory`` and wait for it."""
    import ansible_runner

    inventory = inventory.resolve()
    if not inventory.exists():
        raise ConfigError("no such inventory file or folder", file=inventory)
    if not (REPO / playbook).is_file():
        raise ConfigError("no such playbook in this checkout", file=REPO / playbook)
    failures: list[TaskFailure] = []

    def on_event(event: dict[str, Any]) -> bool:
        _collect(event, failures, on_task)
        return True  # False would keep the event off disk, and the final stats would be missing

    private = Path(tempfile.mkdtemp(prefix="ianvs-lab-ansible-"))
    try:
        runner = ansible_runner.run(
            private_data_dir=str(private),
            project_dir=str(REPO),
            playbook=playbook,
            inventory=str(inventory),
            extravars=extravars or {},
            limit=limit,
            envvars={"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", "PATH": _path()},
            settings={"suppress_ansible_output": True, **({"job_timeout": timeout_s} if timeout_s else {})},
            quiet=True,
            suppress_env_files=True,
            event_handler=on_event,
        )
        error = "" if failures or runner.status == "successful" else _last_error(private)
        return PlaybookRun(playbook, str(runner.status), int(runner.rc), _per_host(runner.stats), failures, error)
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _last_error(private: Path) -> str:
    """The first ``ERROR``/``fatal`` line of the run's stdout (ansible-runner keeps it under artifacts/)."""
    for stdout in private.glob("artifacts/*/stdout"):
        lines = stdout.read_text(errors="replace").splitlines()
        for number, line in enumerate(lines):
            if "ERROR" in line or line.startswith("fatal"):
                detail = " ".join(part.strip() for part in lines[number : number + 3] if part.strip())
                return detail[:500]
    return ""


def tool(name: str) -> str:
    """An Ansible command (``ansible-inventory``, ...) of this Python's environment, else the one on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else name


def _path() -> str:
    """PATH with this Python's bin/ first: ansible-runner calls `ansible-playbook`, and a venv is often not on PATH
    (``binary=`` would drop the playbook argument)."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "/usr/bin:/bin")])


def _collect(event: dict[str, Any], failures: list[TaskFailure], on_task: OnTask | None) -> None:
    kind = event.get("event", "")
    data = event.get("event_data") or {}
    if kind == "playbook_on_task_start" and on_task is not None:
        on_task(str(data.get("task", "")))
    elif kind in ("runner_on_failed", "runner_on_unreachable"):
        result = data.get("res") or {}
        failures.append(
            TaskFailure(
                host=str(data.get("host", "")),
                task=str(data.get("task", "")),
                message=_message(result),
                unreachable=kind == "runner_on_unreachable",
                ignored=bool(data.get("ignore_errors")),
            )
        )


def _message(result: dict[str, Any]) -> str:
    """The one line a person needs: the module's msg, else stderr, else the first failed loop item's msg."""
    for key in ("msg", "stderr", "reason"):
        if result.get(key):
            return " ".join(str(result[key]).split())
    for item in result.get("results") or []:
        if isinstance(item, dict) and item.get("failed") and item.get("msg"):
            return " ".join(str(item["msg"]).split())
    return "failed (no message)"


def _per_host(stats: dict[str, dict[str, int]] | None) -> dict[str, dict[str, int]]:
    """ansible-runner's {counter: {host: n}} as {host: {counter: n}}, with the PLAY RECAP's counter names."""
    hosts: dict[str, dict[str, int]] = {}
    for key, name in STAT_KEYS.items():
        for host, count in ((stats or {}).get(key) or {}).items():
            hosts.setdefault(host, dict.fromkeys(STAT_KEYS.values(), 0))[name] = int(count)
    return hosts
